//! The option `rate_key`: a top-level field of the payload (`rate_key = "tenant"`) or the path
//! of a `fn(&Payload) -> String` (`rate_key = my::tenant_of`), whose value splits the
//! handler's `rate` and `global_concurrency` per key. Checked here; the expansion is a function
//! of the payload's JSON inside the generated module (`expand.rs`).

use syn::{Expr, Ident, Lit, LitStr, Path};

use crate::errors::Errors;
use crate::literal::unwrap_group;
use crate::parse::Args;

/// Where a handler's jobs take their key from.
pub(crate) enum RateKey {
    /// A field of the payload, named by this string.
    Field(LitStr),
    /// A function of the payload.
    Function(Path),
}

/// Checks `rate_key`: a field name or a path, on a handler with a payload and a `rate` or a
/// `global_concurrency` to split. `None` when absent or wrong (with the errors in `errors`).
pub(crate) fn check(args: &Args, has_payload: bool, errors: &mut Errors) -> Option<RateKey> {
    let arg = args.rate_key.as_ref()?;
    let key = match unwrap_group(&arg.value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let name = lit.value();
            if name.is_empty() {
                errors.push(syn::Error::new_spanned(
                    lit,
                    "`rate_key` is empty: name a field of the payload, e.g. `rate_key = \"tenant\"`",
                ));
                return None;
            }
            if syn::parse_str::<Ident>(&name).is_err() {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`rate_key = \"{name}\"` is not a field name: name a field of the payload, \
                         e.g. `rate_key = \"tenant\"`, or give the path of a `fn(&Payload) -> String`"
                    ),
                ));
                return None;
            }
            RateKey::Field(lit.clone())
        }
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            RateKey::Function(path.path.clone())
        }
        other => {
            errors.push(syn::Error::new_spanned(
                other,
                "expected a payload field name such as `rate_key = \"tenant\"`, or the path of a \
                 `fn(&Payload) -> String`",
            ));
            return None;
        }
    };
    if args.rate.is_none() && args.global_concurrency.is_none() {
        errors.push(syn::Error::new_spanned(
            &arg.key,
            "`rate_key` splits the handler's limits per key: add `rate = \"...\"` or \
             `global_concurrency = N` (e.g. `rate = \"10/1s\"`)",
        ));
        return None;
    }
    if let Some(unique) = args.unique_for.as_ref().or(args.unique_mode.as_ref()) {
        errors.push(syn::Error::new_spanned(
            &unique.key,
            format!(
                "`{}` cannot be combined with `rate_key`: a keyed job cannot be unique (not \
                 supported yet)",
                unique.key
            ),
        ));
        return None;
    }
    if !has_payload {
        errors.push(syn::Error::new_spanned(
            &arg.key,
            "`rate_key` reads the payload, and this handler takes none",
        ));
        return None;
    }
    Some(key)
}
