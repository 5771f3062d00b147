//! Validates the handler and the option values, collecting every mistake, each spanned on the
//! tokens that cause it.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{Expr, FnArg, GenericParam, ItemFn, Lit, Path, ReturnType, Type, UnOp};

use crate::duration::{parse_backoff, parse_duration, BackoffSpec};
use crate::errors::Errors;
use crate::literal::{string, unwrap_group};
use crate::name_rule::name_problem;
use crate::parse::{Arg, Args};

/// A retry policy as written in the attribute.
pub(crate) enum Backoff {
    /// A policy string, parsed.
    Spec(BackoffSpec),
    /// A path to a `fn(u32) -> Duration`.
    Custom(Path),
}

/// A handler that passed every check: what the expansion needs.
pub(crate) struct Job {
    /// The handler function, as written.
    pub(crate) func: ItemFn,
    /// The path of `queue_core`.
    pub(crate) krate: Path,
    /// The job name.
    pub(crate) name: String,
    /// Options that were given.
    pub(crate) queue: Option<String>,
    pub(crate) concurrency: Option<u64>,
    pub(crate) attempts: Option<u64>,
    pub(crate) backoff: Option<Backoff>,
    /// Milliseconds.
    pub(crate) timeout: Option<u64>,
    pub(crate) priority: Option<i64>,
    pub(crate) keep_completed: Option<u64>,
    /// Milliseconds.
    pub(crate) keep_completed_for: Option<u64>,
    /// Milliseconds.
    pub(crate) keep_result: Option<u64>,
    /// Milliseconds.
    pub(crate) unique_for: Option<u64>,
    /// The variant name of `UniqueMode`.
    pub(crate) unique_mode: Option<&'static str>,
    /// Starts allowed per window, and the window in milliseconds.
    pub(crate) rate: Option<(u64, u64)>,
    pub(crate) global_concurrency: Option<u64>,
    /// Where its jobs take their rate key from.
    pub(crate) rate_key: Option<crate::rate_key::RateKey>,
    /// The handler's schedule, from `cron`, `tz` and `missed`.
    pub(crate) cron: Option<crate::cron::Cron>,
    /// How many shards its lane is split into (2 to 256; `None` for 1).
    pub(crate) shards: Option<u64>,
    /// The first argument's type; `None` for a handler without arguments.
    pub(crate) payload: Option<Type>,
    /// The types of the arguments after the payload.
    pub(crate) extras: Vec<Type>,
    /// The return type.
    pub(crate) output: Type,
}

/// Checks everything; `None` when `errors` received at least one error.
pub(crate) fn check(args: Args, func: ItemFn, errors: &mut Errors) -> Option<Job> {
    let name = match &args.name {
        Some(arg) => string(arg, errors).and_then(|lit| {
            let name = lit.value();
            match name_error("job name", &name, "") {
                Some(message) => {
                    errors.push(syn::Error::new_spanned(&lit, message));
                    None
                }
                None => Some(name),
            }
        }),
        None => {
            let name = func.sig.ident.unraw().to_string();
            match name_error("job name", &name, "; choose another with `name = \"...\"`") {
                Some(message) => {
                    errors.push(syn::Error::new_spanned(&func.sig.ident, message));
                    None
                }
                None => Some(name),
            }
        }
    };
    let queue = args.queue.as_ref().and_then(|arg| {
        let lit = string(arg, errors)?;
        let queue = lit.value();
        match name_error("queue name", &queue, "") {
            Some(message) => {
                errors.push(syn::Error::new_spanned(&lit, message));
                None
            }
            None => Some(queue),
        }
    });
    let concurrency = args
        .concurrency
        .as_ref()
        .and_then(|arg| positive(arg, errors));
    let attempts = args.attempts.as_ref().and_then(|arg| positive(arg, errors));
    let backoff = args
        .backoff
        .as_ref()
        .and_then(|arg| match unwrap_group(&arg.value) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(lit), ..
            }) => match parse_backoff(&lit.value()) {
                Ok(spec) => Some(Backoff::Spec(spec)),
                Err(message) => {
                    errors.push(syn::Error::new_spanned(lit, message));
                    None
                }
            },
            Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
                Some(Backoff::Custom(path.path.clone()))
            }
            other => {
                errors.push(syn::Error::new_spanned(
                other,
                "expected a backoff string such as `backoff = \"exponential(1s, max = 10m)\"`, \
                 or the path of a `fn(u32) -> Duration`",
            ));
                None
            }
        });
    let mut duration = |arg: &Option<Arg>, what: &str| {
        let arg = arg.as_ref()?;
        let lit = string(arg, errors)?;
        match parse_duration(&lit.value()) {
            Ok(0) => {
                errors.push(syn::Error::new_spanned(
                    &lit,
                    format!("{what} must be longer than zero"),
                ));
                None
            }
            Ok(ms) => Some(ms),
            Err(message) => {
                errors.push(syn::Error::new_spanned(&lit, message));
                None
            }
        }
    };
    let timeout = duration(&args.timeout, "the timeout");
    let keep_completed_for = duration(&args.keep_completed_for, "`keep_completed_for`");
    let keep_result = duration(&args.keep_result, "`keep_result`");
    let unique_for = duration(&args.unique_for, "`unique_for`");
    let unique_mode = args.unique_mode.as_ref().and_then(|arg| {
        let lit = string(arg, errors)?;
        let mode = match lit.value().as_str() {
            "until_started" => "UntilStarted",
            "until_finished" => "UntilFinished",
            "debounce" => "Debounce",
            other => {
                errors.push(syn::Error::new_spanned(
                    &lit,
                    format!(
                        "unknown `unique_mode` `{other}`; expected `until_started`, \
                         `until_finished` or `debounce`"
                    ),
                ));
                return None;
            }
        };
        Some(mode)
    });
    let keep_completed = args
        .keep_completed
        .as_ref()
        .and_then(|arg| positive(arg, errors));
    let rate = args.rate.as_ref().and_then(|arg| {
        let lit = string(arg, errors)?;
        match parse_rate(&lit.value()) {
            Ok(rate) => Some(rate),
            Err(message) => {
                errors.push(syn::Error::new_spanned(&lit, message));
                None
            }
        }
    });
    let global_concurrency = args
        .global_concurrency
        .as_ref()
        .and_then(|arg| positive(arg, errors));
    let priority = args.priority.as_ref().and_then(|arg| {
        let value = integer(arg, errors)?;
        match i8::try_from(value) {
            Ok(_) => Some(value as i64),
            Err(_) => {
                errors.push(syn::Error::new_spanned(
                    &arg.value,
                    "`priority` must be between -128 and 127",
                ));
                None
            }
        }
    });
    let krate = match &args.krate {
        Some(arg) => string(arg, errors).and_then(|lit| match lit.parse::<Path>() {
            Ok(path) => Some(path),
            Err(_) => {
                errors.push(syn::Error::new_spanned(
                    &lit,
                    format!(
                        "invalid `crate` path `{}`: expected the path of `queue_core`, e.g. \
                         `crate = \"::queue_core\"`",
                        lit.value()
                    ),
                ));
                None
            }
        }),
        None => Some(syn::parse_quote!(::queue_core)),
    };

    let cron = crate::cron::check(&args, errors);
    let shards = args.shards.as_ref().and_then(|arg| {
        let value = integer(arg, errors)?;
        if !(1..=256).contains(&value) {
            errors.push(syn::Error::new_spanned(
                &arg.value,
                "`shards` must be between 1 and 256",
            ));
            return None;
        }
        if value > 1 {
            // Kept per lane, so they would apply to each shard on its own.
            let per_lane = [
                ("cron", &args.cron),
                ("rate", &args.rate),
                ("global_concurrency", &args.global_concurrency),
            ];
            if let Some((name, _)) = per_lane.iter().find(|(_, given)| given.is_some()) {
                errors.push(syn::Error::new_spanned(
                    &arg.key,
                    format!(
                        "`shards` cannot be combined with `{name}`, which is kept per lane: \
                         each shard would apply it on its own"
                    ),
                ));
                return None;
            }
        }
        (value > 1).then_some(value as u64)
    });
    let (payload, extras, output) = check_signature(&func, errors)?;
    let rate_key = crate::rate_key::check(&args, payload.is_some(), errors);
    if !errors.is_empty() {
        return None;
    }
    Some(Job {
        func,
        krate: krate?,
        name: name?,
        queue,
        concurrency,
        attempts,
        backoff,
        timeout,
        priority,
        keep_completed,
        keep_completed_for,
        keep_result,
        rate,
        global_concurrency,
        rate_key,
        cron,
        shards,
        unique_for,
        unique_mode,
        payload,
        extras,
        output,
    })
}

/// The payload type, the extra argument types and the return type of a valid signature.
type Signature = (Option<Type>, Vec<Type>, Type);

fn check_signature(func: &ItemFn, errors: &mut Errors) -> Option<Signature> {
    let sig = &func.sig;
    let mut fail = |tokens: &dyn quote::ToTokens, message: &str| {
        errors.push(syn::Error::new_spanned(tokens, message));
    };
    if let Some(token) = &sig.constness {
        fail(token, "a `#[job]` handler cannot be a `const fn`");
    }
    if let Some(token) = &sig.unsafety {
        fail(token, "a `#[job]` handler cannot be an `unsafe fn`");
    }
    if let Some(abi) = &sig.abi {
        fail(abi, "a `#[job]` handler cannot have an `extern` ABI");
    }
    if sig.asyncness.is_none() {
        fail(&sig.fn_token, "a `#[job]` handler must be an `async fn`");
    }
    for param in &sig.generics.params {
        let message = match param {
            GenericParam::Lifetime(_) => {
                "a `#[job]` handler cannot have lifetime parameters: its arguments must not borrow"
            }
            GenericParam::Type(_) => "a `#[job]` handler cannot have type parameters",
            GenericParam::Const(_) => "a `#[job]` handler cannot have const parameters",
        };
        fail(param, message);
    }
    if let Some(clause) = &sig.generics.where_clause {
        fail(clause, "a `#[job]` handler cannot have a `where` clause");
    }
    if let Some(variadic) = &sig.variadic {
        fail(variadic, "a `#[job]` handler cannot be variadic");
    }

    let mut types = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "a `#[job]` handler cannot take `self`: it must be a free function",
            )),
            FnArg::Typed(arg) => {
                // `&'static T` is never a payload nor an argument; elided and `'_` lifetimes
                // are found by the visitor.
                if let Type::Reference(reference) = ungroup(&arg.ty) {
                    if reference.lifetime.as_ref().is_some_and(|l| l.ident != "_") {
                        errors.push(syn::Error::new(reference.and_token.span, BORROW));
                    }
                }
                TypeProblems {
                    errors: &mut *errors,
                    arguments: true,
                }
                .visit_type(&arg.ty);
                types.push((*arg.ty).clone());
            }
        }
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => {
            TypeProblems {
                errors: &mut *errors,
                arguments: false,
            }
            .visit_type(ty);
            Some((**ty).clone())
        }
        ReturnType::Default => {
            errors.push(syn::Error::new_spanned(
                &sig.ident,
                "a job handler must return `Result<T, E>`; add e.g. `-> Result<(), JobError>`",
            ));
            None
        }
    };
    let mut types = types.into_iter();
    Some((types.next(), types.collect(), output?))
}

const BORROW: &str = "a `#[job]` handler's arguments cannot borrow: take an owned type, e.g. \
                      `String` instead of `&str`";

/// Looks through parentheses and invisible groups around a type.
fn ungroup(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

/// Finds `impl Trait` in argument and return types, and borrows in argument types.
struct TypeProblems<'e> {
    errors: &'e mut Errors,
    /// Checking an argument (else the return type).
    arguments: bool,
}

impl TypeProblems<'_> {
    fn borrow(&mut self, span: Span) {
        if self.arguments {
            self.errors.push(syn::Error::new(span, BORROW));
        }
    }
}

impl<'ast> Visit<'ast> for TypeProblems<'_> {
    fn visit_type_impl_trait(&mut self, ty: &'ast syn::TypeImplTrait) {
        let message = if self.arguments {
            "a `#[job]` handler cannot take `impl Trait` arguments: they make it generic; name \
             a concrete type"
        } else {
            "a `#[job]` handler cannot return `impl Trait`: name a concrete type"
        };
        self.errors.push(syn::Error::new_spanned(ty, message));
    }

    fn visit_type_reference(&mut self, ty: &'ast syn::TypeReference) {
        if ty.lifetime.is_none() {
            self.borrow(ty.and_token.span);
        }
        visit::visit_type_reference(self, ty);
    }

    fn visit_lifetime(&mut self, lifetime: &'ast syn::Lifetime) {
        if lifetime.ident == "_" {
            self.borrow(lifetime.span());
        }
    }

    // Elided lifetimes in `fn(&str)` and `Fn(&str)` are higher-ranked, not borrows.
    fn visit_type_bare_fn(&mut self, _: &'ast syn::TypeBareFn) {}

    fn visit_parenthesized_generic_arguments(
        &mut self,
        _: &'ast syn::ParenthesizedGenericArguments,
    ) {
    }
}

/// Why `value` is not a valid queue or job name: the rule of `queue_core::validate_name`,
/// from the same source file.
fn name_error(what: &str, value: &str, advice: &str) -> Option<String> {
    let reason = name_problem(value)?;
    Some(format!("invalid {what} `{value}`: {reason}{advice}"))
}

/// The value of an option that takes an integer, possibly negative.
fn integer(arg: &Arg, errors: &mut Errors) -> Option<i128> {
    let (negative, lit) = match unwrap_group(&arg.value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(lit), ..
        }) => (false, lit),
        Expr::Unary(syn::ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match unwrap_group(expr) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Int(lit), ..
            }) => (true, lit),
            _ => return not_an_integer(arg, errors),
        },
        _ => return not_an_integer(arg, errors),
    };
    // Too large for `i128`: out of range for every option anyway.
    let magnitude = lit.base10_parse::<i128>().unwrap_or(i128::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

fn not_an_integer<T>(arg: &Arg, errors: &mut Errors) -> Option<T> {
    errors.push(syn::Error::new_spanned(
        &arg.value,
        format!("expected an integer, e.g. `{} = 5`", arg.key),
    ));
    None
}

/// The value of `concurrency` or `attempts`: at least 1, at most `u32::MAX`.
/// `"<count>/<window>"`, e.g. `"100/1s"`: the count (1 to `u32::MAX`) and the window in
/// milliseconds (at least 1).
fn parse_rate(text: &str) -> Result<(u64, u64), String> {
    let Some((count, window)) = text.split_once('/') else {
        return Err(format!(
            "invalid rate `{text}`: expected `<count>/<window>`, e.g. `rate = \"100/1s\"`"
        ));
    };
    let count: u64 = count.trim().parse().map_err(|_| {
        format!("invalid rate `{text}`: the count must be a whole number, e.g. `100/1s`")
    })?;
    if count == 0 {
        return Err(format!(
            "invalid rate `{text}`: the count must be at least 1"
        ));
    }
    if count > u64::from(u32::MAX) {
        return Err(format!(
            "invalid rate `{text}`: the count must be at most {}",
            u32::MAX
        ));
    }
    let window = window.trim();
    // A bare unit is one of it: `10/s`.
    let window = if window.starts_with(|c: char| c.is_ascii_digit()) {
        window.to_string()
    } else {
        format!("1{window}")
    };
    match parse_duration(&window) {
        Ok(0) => Err(format!(
            "invalid rate `{text}`: the window must be longer than zero"
        )),
        Ok(ms) => Ok((count, ms)),
        Err(message) => Err(format!("invalid rate `{text}`: {message}")),
    }
}

fn positive(arg: &Arg, errors: &mut Errors) -> Option<u64> {
    let value = integer(arg, errors)?;
    let message = if value < 1 {
        format!("`{}` must be at least 1", arg.key)
    } else if value > i128::from(u32::MAX) {
        format!("`{}` must be at most {}", arg.key, u32::MAX)
    } else {
        return Some(value as u64);
    };
    errors.push(syn::Error::new_spanned(&arg.value, message));
    None
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
