//! The arguments of `#[job(...)]`: comma-separated `key = value` pairs.
//!
//! Only the shape is checked here (known keys, each at most once); what the values mean is
//! checked in [`crate::check`].

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Ident, Token};

use crate::errors::Errors;

/// The option keys, in the order the docs list them.
const KEYS: [&str; 20] = [
    "name",
    "queue",
    "concurrency",
    "attempts",
    "backoff",
    "timeout",
    "priority",
    "keep_completed",
    "keep_completed_for",
    "keep_result",
    "rate",
    "global_concurrency",
    "rate_key",
    "cron",
    "tz",
    "missed",
    "unique_for",
    "unique_mode",
    "shards",
    "crate",
];

/// One `key = value` pair.
pub(crate) struct Arg {
    /// The key, for spans.
    pub(crate) key: Ident,
    /// The value as written.
    pub(crate) value: Expr,
}

/// The options given to `#[job(...)]`, unchecked.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Arg>,
    pub(crate) queue: Option<Arg>,
    pub(crate) concurrency: Option<Arg>,
    pub(crate) attempts: Option<Arg>,
    pub(crate) backoff: Option<Arg>,
    pub(crate) timeout: Option<Arg>,
    pub(crate) priority: Option<Arg>,
    pub(crate) keep_completed: Option<Arg>,
    pub(crate) keep_completed_for: Option<Arg>,
    pub(crate) keep_result: Option<Arg>,
    pub(crate) rate: Option<Arg>,
    pub(crate) global_concurrency: Option<Arg>,
    pub(crate) rate_key: Option<Arg>,
    pub(crate) cron: Option<Arg>,
    pub(crate) tz: Option<Arg>,
    pub(crate) missed: Option<Arg>,
    pub(crate) unique_for: Option<Arg>,
    pub(crate) unique_mode: Option<Arg>,
    pub(crate) shards: Option<Arg>,
    pub(crate) krate: Option<Arg>,
}

impl Args {
    fn slot(&mut self, key: &str) -> Option<&mut Option<Arg>> {
        Some(match key {
            "name" => &mut self.name,
            "queue" => &mut self.queue,
            "concurrency" => &mut self.concurrency,
            "attempts" => &mut self.attempts,
            "backoff" => &mut self.backoff,
            "timeout" => &mut self.timeout,
            "priority" => &mut self.priority,
            "keep_completed" => &mut self.keep_completed,
            "keep_completed_for" => &mut self.keep_completed_for,
            "keep_result" => &mut self.keep_result,
            "rate" => &mut self.rate,
            "global_concurrency" => &mut self.global_concurrency,
            "rate_key" => &mut self.rate_key,
            "cron" => &mut self.cron,
            "tz" => &mut self.tz,
            "missed" => &mut self.missed,
            "unique_for" => &mut self.unique_for,
            "unique_mode" => &mut self.unique_mode,
            "shards" => &mut self.shards,
            "crate" => &mut self.krate,
            _ => return None,
        })
    }
}

/// Parses the attribute's arguments. A syntax error ends parsing; unknown and repeated keys are
/// added to `errors` and parsing goes on, so they are reported together with other mistakes.
pub(crate) fn parse_args(tokens: TokenStream, errors: &mut Errors) -> syn::Result<Args> {
    let parser = |input: ParseStream<'_>| {
        let mut args = Args::default();
        while !input.is_empty() {
            if !input.peek(Ident::peek_any) {
                return Err(input.error(
                    "expected `key = value` options, e.g. `#[job(queue = \"mail\", attempts = 5)]`",
                ));
            }
            let key = input.call(Ident::parse_any)?;
            if !input.peek(Token![=]) {
                return Err(syn::Error::new_spanned(
                    &key,
                    format!("expected `{key} = ...`: `#[job]` options are `key = value` pairs"),
                ));
            }
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            let name = key.unraw().to_string();
            match args.slot(&name) {
                None => errors.push(syn::Error::new_spanned(
                    &key,
                    format!(
                        "unknown `#[job]` option `{name}`; expected one of {}",
                        KEYS.map(|k| format!("`{k}`")).join(", ")
                    ),
                )),
                Some(Some(_)) => errors.push(syn::Error::new_spanned(
                    &key,
                    format!("`{name}` set multiple times"),
                )),
                Some(slot) => *slot = Some(Arg { key, value }),
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    };
    parser.parse2(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> (syn::Result<Args>, Vec<String>) {
        let mut errors = Errors::default();
        let args = parse_args(tokens, &mut errors);
        let messages = match errors.finish() {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (args, messages)
    }

    #[test]
    fn every_key() {
        let (args, errors) = parse(quote!(
            name = "n",
            queue = "q",
            concurrency = 2,
            attempts = 3,
            backoff = "fixed(1s)",
            timeout = "1s",
            priority = -3,
            crate = "::queue_core",
        ));
        assert!(errors.is_empty());
        let args = args.unwrap();
        for slot in [
            &args.name,
            &args.queue,
            &args.concurrency,
            &args.attempts,
            &args.backoff,
            &args.timeout,
            &args.priority,
            &args.krate,
        ] {
            assert!(slot.is_some());
        }
        assert_eq!(args.krate.unwrap().key, "crate");
    }

    #[test]
    fn empty() {
        let (args, errors) = parse(quote!());
        assert!(errors.is_empty());
        assert!(args.unwrap().name.is_none());
    }

    #[test]
    fn unknown_and_duplicate_keys_are_all_reported() {
        let (args, errors) = parse(quote!(queue = "a", foo = 1, queue = "b", bar = "x"));
        assert!(args.is_ok());
        assert_eq!(
            errors,
            [
                "unknown `#[job]` option `foo`; expected one of `name`, `queue`, `concurrency`, \
                 `attempts`, `backoff`, `timeout`, `priority`, `keep_completed`, `keep_completed_for`, \
                 `keep_result`, `rate`, `global_concurrency`, `rate_key`, `cron`, `tz`, `missed`, `unique_for`, `unique_mode`, `shards`, `crate`",
                "`queue` set multiple times",
                "unknown `#[job]` option `bar`; expected one of `name`, `queue`, `concurrency`, \
                 `attempts`, `backoff`, `timeout`, `priority`, `keep_completed`, `keep_completed_for`, \
                 `keep_result`, `rate`, `global_concurrency`, `rate_key`, `cron`, `tz`, `missed`, `unique_for`, `unique_mode`, `shards`, `crate`",
            ]
        );
    }

    #[test]
    fn syntax_errors() {
        let message = |tokens| parse(tokens).0.err().unwrap().to_string();
        assert_eq!(
            message(quote!(queue)),
            "expected `queue = ...`: `#[job]` options are `key = value` pairs"
        );
        assert_eq!(message(quote!(queue = "a" attempts = 3)), "expected `,`");
        assert_eq!(
            message(quote!("mail")),
            "expected `key = value` options, e.g. `#[job(queue = \"mail\", attempts = 5)]`"
        );
    }
}
