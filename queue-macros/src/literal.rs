//! Reading option values that are literals, with an error spanned on anything else.

use syn::{Expr, Lit, LitStr};

use crate::errors::Errors;
use crate::parse::Arg;

/// Looks through the invisible groups `macro_rules!` wraps around fragments.
pub(crate) fn unwrap_group(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// The value of an option that takes a string.
pub(crate) fn string(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    match unwrap_group(&arg.value) {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        other => {
            let example = match arg.key.to_string().as_str() {
                "name" => "name = \"send_welcome\"",
                "queue" => "queue = \"mail\"",
                "timeout" => "timeout = \"30s\"",
                "keep_completed_for" => "keep_completed_for = \"1d\"",
                "keep_result" => "keep_result = \"1h\"",
                "rate" => "rate = \"100/1s\"",
                "cron" => "cron = \"0 */5 * * * *\"",
                "tz" => "tz = \"Europe/Berlin\"",
                "missed" => "missed = \"each(10)\"",
                "unique_for" => "unique_for = \"10m\"",
                "unique_mode" => "unique_mode = \"until_finished\"",
                _ => "crate = \"::queue_core\"",
            };
            errors.push(syn::Error::new_spanned(
                other,
                format!("expected a string, e.g. `{example}`"),
            ));
            None
        }
    }
}
