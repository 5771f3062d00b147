//! The code `#[job]` emits: the function as written, a module of dispatch helpers named after
//! it, and a `const _` block with the type checks, the type-erased handler and its
//! registration.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Ident, Path, PathSegment, Type, Visibility};

use crate::check::{Backoff, Job};
use crate::cron_rule::MissedRule;
use crate::duration::BackoffSpec;
use crate::rate_key::RateKey;

/// The expansion of a valid handler; `original` is the function's tokens as written.
pub(crate) fn expand(job: Job, original: TokenStream) -> TokenStream {
    let func = &job.func;
    let ident = &func.sig.ident;
    let fn_name = ident.unraw().to_string();
    let krate = &job.krate;
    let private = quote!(#krate::__private);
    // Paths used inside the generated module are resolved one level deeper.
    let inner_private = {
        let krate = reroot_path(krate.clone());
        quote!(#krate::__private)
    };
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();

    let payload: Type = job.payload.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let inner_payload = reroot_type(payload.clone());

    let module = {
        let vis = &func.vis;
        let inner_vis = lift(vis);
        let doc = format!(
            "Dispatch helpers of the `{}` job, whose handler is [`{fn_name}`](fn@{ident}).",
            job.name
        );
        let name = &job.name;
        let definition = definition(&job, &inner_private);
        let encode =
            quote_spanned!(payload.span()=> #inner_private::new_job(&DEFINITION, &payload));
        let dispatch =
            quote_spanned!(payload.span()=> #inner_private::dispatch(queue, &DEFINITION, &payload));
        let rate_key = job
            .rate_key
            .as_ref()
            .map(|key| key_fn(key, &inner_private, &inner_payload));
        quote! {
            #(#cfgs)*
            #[doc = #doc]
            #vis mod #ident {
                #[allow(unused_imports)]
                use super::*;

                /// The job's name and options.
                #inner_vis static DEFINITION: #inner_private::JobDefinition = #definition;

                #rate_key

                /// The job name.
                #inner_vis const NAME: &str = #name;

                /// The payload type.
                #inner_vis type Payload = #inner_payload;

                /// A job of this kind, to adjust and dispatch, or to dispatch in bulk.
                #inner_vis fn job(payload: #inner_payload) -> #inner_private::NewJob {
                    #encode
                }

                /// Dispatches a job of this kind; await the result.
                #inner_vis fn dispatch<'queue>(
                    queue: &'queue #inner_private::Queue,
                    payload: #inner_payload,
                ) -> #inner_private::Dispatch<'queue> {
                    #dispatch
                }
            }
        }
    };

    let checks = {
        let payload_check = quote_spanned! {payload.span()=>
            const _: () = #private::assert_payload::<#payload>();
        };
        let argument_checks = job.extras.iter().map(|ty| {
            quote_spanned! {ty.span()=>
                const _: () = #private::assert_argument::<#ty>();
            }
        });
        let output = &job.output;
        let result_check = quote_spanned! {output.span()=>
            const _: () = #private::assert_result::<#output>();
        };
        quote! {
            #payload_check
            #(#argument_checks)*
            #result_check
        }
    };

    let handler = handler(&job, &private, &payload);

    let requirements = {
        let body = if job.extras.is_empty() {
            quote!(::std::vec::Vec::new())
        } else {
            let each = job
                .extras
                .iter()
                .map(|ty| quote_spanned!(ty.span()=> #private::requirement::<#ty>(&mut out);));
            quote! {
                let mut out = ::std::vec::Vec::new();
                #(#each)*
                out
            }
        };
        quote! {
            fn __requirements() -> ::std::vec::Vec<#private::Requirement> {
                #body
            }
        }
    };

    let check_payload = quote_spanned!(payload.span()=> #private::check_payload::<#payload>);

    // The checks come before the module so that their errors, which explain what a payload,
    // argument or result must be, are reported before the errors of the uses of the types.
    quote! {
        #original

        #(#cfgs)*
        const _: () = {
            #checks

            #handler

            #requirements

            #private::inventory::submit! {
                #private::Registration {
                    definition: &#ident::DEFINITION,
                    handler: __handle,
                    requirements: __requirements,
                    check_payload: #check_payload,
                }
            }
        };

        #module
    }
}

/// `JobDefinition::new(name, handler)` followed by a setter for each option given.
fn definition(job: &Job, private: &TokenStream) -> TokenStream {
    let name = &job.name;
    // Evaluated inside the module named after the function, whose path is the function's.
    let mut out = quote! {
        #private::JobDefinition::new(#name, ::core::module_path!())
    };
    let millis = |ms: u64| {
        let ms = Literal::u64_unsuffixed(ms);
        quote!(#private::Duration::from_millis(#ms))
    };
    if let Some(queue) = &job.queue {
        out.extend(quote!(.queue(#queue)));
    }
    if let Some(concurrency) = job.concurrency {
        let concurrency = Literal::u64_unsuffixed(concurrency);
        out.extend(quote!(.concurrency(#concurrency)));
    }
    if let Some(attempts) = job.attempts {
        let attempts = Literal::u64_unsuffixed(attempts);
        out.extend(quote!(.attempts(#attempts)));
    }
    if let Some(backoff) = &job.backoff {
        let backoff = match backoff {
            Backoff::Spec(BackoffSpec::Fixed(delay)) => {
                let delay = millis(*delay);
                quote!(#private::Backoff::Fixed(#delay))
            }
            Backoff::Spec(BackoffSpec::Exponential { base, max, jitter }) => {
                let base = millis(*base);
                let max = millis(*max);
                quote!(#private::Backoff::Exponential { base: #base, max: #max, jitter: #jitter })
            }
            Backoff::Custom(path) => {
                let path = reroot_path(path.clone());
                quote_spanned!(path.span()=> #private::Backoff::Custom(#path))
            }
        };
        out.extend(quote!(.backoff(#backoff)));
    }
    if let Some(timeout) = job.timeout {
        let timeout = millis(timeout);
        out.extend(quote!(.timeout(#timeout)));
    }
    if let Some(count) = job.keep_completed {
        let count = Literal::u64_unsuffixed(count);
        out.extend(quote!(.keep_completed(#count)));
    }
    if let Some(age) = job.keep_completed_for {
        let age = millis(age);
        out.extend(quote!(.keep_completed_for(#age)));
    }
    if let Some(ttl) = job.keep_result {
        let ttl = millis(ttl);
        out.extend(quote!(.keep_result(#ttl)));
    }
    if let Some(ttl) = job.unique_for {
        let ttl = millis(ttl);
        out.extend(quote!(.unique_for(#ttl)));
    }
    if let Some(mode) = job.unique_mode {
        let mode = proc_macro2::Ident::new(mode, proc_macro2::Span::call_site());
        out.extend(quote!(.unique_mode(#private::UniqueMode::#mode)));
    }
    if let Some((count, window)) = job.rate {
        let count = Literal::u64_unsuffixed(count);
        let window = millis(window);
        out.extend(quote!(.rate(#count, #window)));
    }
    if let Some(max) = job.global_concurrency {
        let max = Literal::u64_unsuffixed(max);
        out.extend(quote!(.global_concurrency(#max)));
    }
    if job.rate_key.is_some() {
        out.extend(quote!(.rate_key(#private::RateKey::Function(__rate_key))));
    }
    if let Some(priority) = job.priority {
        let magnitude = Literal::u64_unsuffixed(priority.unsigned_abs());
        let sign = (priority < 0).then(|| quote!(-));
        out.extend(quote!(.priority(#sign #magnitude)));
    }
    if let Some(cron) = &job.cron {
        let (expr, tz) = (&cron.expr, &cron.tz);
        let missed = match cron.missed {
            MissedRule::Skip => quote!(#private::Missed::Skip),
            MissedRule::Once => quote!(#private::Missed::Once),
            MissedRule::Each(max) => {
                let max = Literal::u32_unsuffixed(max);
                quote!(#private::Missed::Each { max: #max })
            }
        };
        out.extend(quote!(.cron(#expr, #tz, #missed)));
    }
    if let Some(count) = job.shards {
        let count = Literal::u64_unsuffixed(count);
        out.extend(quote!(.shards(#count)));
    }
    out
}

/// The type-erased handler: decodes the payload, builds the other arguments, calls the
/// function and converts its error.
fn handler(job: &Job, private: &TokenStream, payload: &Type) -> TokenStream {
    let ident = &job.func.sig.ident;
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);

    let mut arguments = Vec::new();
    let payload_binding = if job.payload.is_some() {
        arguments.push(format_ident!("__arg0"));
        quote!(__arg0)
    } else {
        quote!(_)
    };
    let decode = quote_spanned! {payload.span()=>
        let #payload_binding: #payload = match #private::decode::<#payload>(&#ident::DEFINITION, payload) {
            #ok(value) => value,
            #err(error) => return #private::fail_now(error),
        };
    };
    let extras = job.extras.iter().enumerate().map(|(i, ty)| {
        let arg = format_ident!("__arg{}", i + 1);
        arguments.push(arg.clone());
        quote_spanned! {ty.span()=>
            let #arg = match <#ty as #private::FromContext>::from_context(&ctx, state) {
                #ok(value) => value,
                #err(error) => return #private::fail_now(error),
            };
        }
    });
    let extras: Vec<_> = extras.collect();
    let state = if job.extras.is_empty() {
        quote!(_state)
    } else {
        quote!(state)
    };
    let ctx = if job.extras.is_empty() && job.keep_result.is_some() {
        quote!(_ctx)
    } else {
        quote!(ctx)
    };
    // Whether the run is a workflow step, whose value is stored for its dependents even when
    // the handler keeps no results.
    let step_flag = if job.keep_result.is_some() {
        quote!()
    } else {
        quote!(let __step = #private::wants_result(&ctx);)
    };

    // The patterns carry the return type's span, so a return type that is not a `Result` is
    // reported there; the call carries the function name's span, so a future that is not
    // `Send` is reported on the handler's name.
    let output = job.output.span();
    // A handler that keeps its results has its `Ok` value encoded as JSON; others drop it.
    let (ok_pattern, ok_value) = if job.keep_result.is_some() {
        (
            quote_spanned!(output=> ::core::result::Result::Ok(value)),
            quote_spanned!(output=> #private::encode_result(&value)),
        )
    } else {
        (
            quote_spanned!(output=> ::core::result::Result::Ok(value)),
            quote! {
                if __step {
                    #[allow(unused_imports)]
                    use #private::{ViaAny as _, ViaSerialize as _};
                    (&#private::StepValue(&value)).encode_step()
                } else {
                    ::core::result::Result::Ok(::core::option::Option::None)
                }
            },
        )
    };
    let err_pattern = quote_spanned!(output=> ::core::result::Result::Err(error));
    let convert = quote_spanned!(output=> (&&&#private::Tag::new(error)).into_job_error());
    let call = quote_spanned!(ident.span()=> #ident(#(#arguments),*).await);
    let body = quote! {
        #[allow(unused_imports)]
        use #private::{ViaBoxError as _, ViaDisplay as _, ViaJobError as _};
        match #call {
            // Lints see the user's span on the pattern, not the macro's.
            #[allow(clippy::ignored_unit_patterns)]
            #ok_pattern => #ok_value,
            #err_pattern => ::core::result::Result::Err(#convert),
        }
    };
    let run = quote_spanned!(ident.span()=> ::std::boxed::Box::pin(async move { #body }));

    quote! {
        fn __handle(
            payload: &[u8],
            #ctx: #private::JobContext,
            #state: &#private::State,
        ) -> #private::HandlerFuture<'static, ::core::result::Result<::core::option::Option<#private::Bytes>, #private::JobError>> {
            #decode
            #step_flag
            #(#extras)*
            #run
        }
    }
}

/// The visibility of the function, seen from inside the module named after it: the module's
/// items are visible exactly where the function is.
fn lift(vis: &Visibility) -> TokenStream {
    match vis {
        Visibility::Public(_) => vis.to_token_stream(),
        Visibility::Inherited => quote!(pub(super)),
        Visibility::Restricted(restricted) => {
            let pub_token = &restricted.pub_token;
            let path = &*restricted.path;
            let first = path.segments.first().map(|s| s.ident.to_string());
            if path.leading_colon.is_some() || first.as_deref() == Some("crate") {
                return vis.to_token_stream();
            }
            let path = reroot_path(path.clone());
            if path.is_ident("super") {
                quote!(#pub_token(super))
            } else {
                quote!(#pub_token(in #path))
            }
        }
    }
}

/// `fn __rate_key(payload: &[u8]) -> Result<String, String>` for the generated module: decodes
/// the payload as the handler's type and reads the key from it, spanned on the option's value
/// so that a field the payload lacks, or a function of the wrong type, is reported there.
fn key_fn(key: &RateKey, private: &TokenStream, payload: &syn::Type) -> TokenStream {
    let read = match key {
        RateKey::Field(lit) => {
            let field = Ident::new(&lit.value(), lit.span());
            quote_spanned!(lit.span()=> ::std::string::ToString::to_string(&payload.#field))
        }
        RateKey::Function(path) => {
            let path = reroot_path(path.clone());
            quote_spanned!(path.span()=> {
                let key: ::std::string::String = #path(&payload);
                key
            })
        }
    };
    quote! {
        fn __rate_key(
            payload: &[u8],
        ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
            let payload: #payload = #private::decode_for_key(payload)?;
            ::std::result::Result::Ok(#read)
        }
    }
}

/// Rewrites a type so it means the same inside the generated module: see [`Reroot`].
fn reroot_type(mut ty: Type) -> Type {
    Reroot.visit_type_mut(&mut ty);
    ty
}

fn reroot_path(mut path: Path) -> Path {
    Reroot.visit_path_mut(&mut path);
    path
}

/// Names the generated module defines, which would shadow the parent's items of the same name
/// that `use super::*` brings in.
const MODULE_ITEMS: [&str; 5] = ["DEFINITION", "NAME", "Payload", "job", "dispatch"];

/// Makes paths written for the function's module resolve the same one module deeper:
/// `self::x` becomes `super::x`, `super::x` becomes `super::super::x`, and a path starting with
/// one of the module's own item names is taken from the parent (`Payload` becomes
/// `super::Payload`). Everything else resolves through `use super::*` unchanged.
struct Reroot;

impl VisitMut for Reroot {
    fn visit_path_mut(&mut self, path: &mut Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first_mut() {
                let name = first.ident.to_string();
                let span = first.ident.span();
                if name == "self" {
                    first.ident = Ident::new("super", span);
                } else if name == "super" || MODULE_ITEMS.contains(&name.as_str()) {
                    path.segments
                        .insert(0, PathSegment::from(Ident::new("super", span)));
                }
            }
        }
        visit_mut::visit_path_mut(self, path);
    }

    // In `<A as T>::X`, the path holds `T::X` and the position counts `T`'s segments.
    fn visit_type_path_mut(&mut self, ty: &mut syn::TypePath) {
        reroot_qualified(self, &mut ty.qself, &mut ty.path);
    }

    fn visit_expr_path_mut(&mut self, expr: &mut syn::ExprPath) {
        reroot_qualified(self, &mut expr.qself, &mut expr.path);
    }

    // Macros in type position expand inside the module; their paths cannot be rewritten.
    fn visit_macro_mut(&mut self, _: &mut syn::Macro) {}
}

fn reroot_qualified(reroot: &mut Reroot, qself: &mut Option<syn::QSelf>, path: &mut Path) {
    let before = path.segments.len();
    if let Some(qself) = qself {
        reroot.visit_type_mut(&mut qself.ty);
    }
    reroot.visit_path_mut(path);
    if let Some(qself) = qself {
        if qself.position > 0 {
            qself.position += path.segments.len() - before;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifted(vis: &str) -> String {
        let vis: Visibility = syn::parse_str(vis).unwrap();
        lift(&vis).to_string()
    }

    #[test]
    fn visibility_is_lifted_one_level() {
        assert_eq!(lifted(""), "pub (super)");
        assert_eq!(lifted("pub"), "pub");
        assert_eq!(lifted("pub(crate)"), "pub (crate)");
        assert_eq!(lifted("pub(self)"), "pub (super)");
        assert_eq!(lifted("pub(super)"), "pub (in super :: super)");
        assert_eq!(lifted("pub(in self)"), "pub (super)");
        assert_eq!(lifted("pub(in super)"), "pub (in super :: super)");
        assert_eq!(lifted("pub(in crate::x)"), "pub (in crate :: x)");
        assert_eq!(lifted("pub(in super::x)"), "pub (in super :: super :: x)");
        assert_eq!(lifted("pub(in self::x)"), "pub (in super :: x)");
    }

    fn rerooted(ty: &str) -> String {
        reroot_type(syn::parse_str(ty).unwrap())
            .to_token_stream()
            .to_string()
    }

    #[test]
    fn types_are_rerooted() {
        assert_eq!(rerooted("Welcome"), "Welcome");
        assert_eq!(rerooted("crate::a::B"), "crate :: a :: B");
        assert_eq!(
            rerooted("::std::string::String"),
            ":: std :: string :: String"
        );
        assert_eq!(rerooted("self::Welcome"), "super :: Welcome");
        assert_eq!(rerooted("super::Welcome"), "super :: super :: Welcome");
        assert_eq!(rerooted("Payload"), "super :: Payload");
        assert_eq!(rerooted("job::Payload"), "super :: job :: Payload");
        assert_eq!(
            rerooted("Vec<(self::A, [Payload; NAME])>"),
            "Vec < (super :: A , [super :: Payload ; super :: NAME]) >"
        );
        assert_eq!(
            rerooted("<self::A as super::T>::Out"),
            "< super :: A as super :: super :: T > :: Out"
        );
        assert_eq!(rerooted("<self::A>::Out"), "< super :: A > :: Out");
        assert_eq!(
            rerooted("[u8; <Payload as self::T>::N]"),
            "[u8 ; < super :: Payload as super :: T > :: N]"
        );
        assert_eq!(rerooted("my_type!(self::A)"), "my_type ! (self :: A)");
    }
}
