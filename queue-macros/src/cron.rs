//! The schedule options `cron`, `tz` and `missed`: checked here with the same rule as the
//! run-time API (`queue-core`'s `schedule/cron_rule.rs`), each error spanned on its string.

use syn::LitStr;

use crate::cron_rule::{parse_cron, parse_missed, parse_tz, MissedRule};
use crate::errors::Errors;
use crate::literal::string;
use crate::parse::Args;

/// A handler's schedule: a valid cron expression, time zone and missed-tick policy.
pub(crate) struct Cron {
    pub(crate) expr: String,
    pub(crate) tz: String,
    pub(crate) missed: MissedRule,
}

/// Checks `cron`, `tz` and `missed`; `None` when `cron` is absent or anything is wrong (with
/// the errors in `errors`). `tz` and `missed` without `cron` are errors on their keys.
pub(crate) fn check(args: &Args, errors: &mut Errors) -> Option<Cron> {
    let mut checked = |arg: &Option<crate::parse::Arg>,
                       rule: &dyn Fn(&str) -> Result<(), String>|
     -> Option<Option<LitStr>> {
        let Some(arg) = arg else {
            return Some(None);
        };
        let lit = string(arg, errors)?;
        match rule(&lit.value()) {
            Ok(()) => Some(Some(lit)),
            Err(message) => {
                errors.push(syn::Error::new_spanned(&lit, message));
                None
            }
        }
    };
    let expr = checked(&args.cron, &|s| parse_cron(s).map(drop));
    let tz = checked(&args.tz, &|s| parse_tz(s).map(drop));
    let missed = checked(&args.missed, &|s| parse_missed(s).map(drop));
    if args.cron.is_none() {
        for arg in [&args.tz, &args.missed].into_iter().flatten() {
            errors.push(syn::Error::new_spanned(
                &arg.key,
                format!(
                    "`{}` applies to a schedule: add `cron = \"...\"` (e.g. `cron = \"0 */5 * * * *\"`)",
                    arg.key
                ),
            ));
        }
        return None;
    }
    let expr = expr??.value();
    let tz = tz?.map_or_else(|| "UTC".to_string(), |lit| lit.value());
    let missed = match missed? {
        Some(lit) => parse_missed(&lit.value()).ok()?,
        None => MissedRule::Skip,
    };
    Some(Cron { expr, tz, missed })
}
