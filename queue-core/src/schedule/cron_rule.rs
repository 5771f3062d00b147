//! The rule for a schedule's cron expression, time zone and missed-tick policy, in one place:
//! `queue-macros` includes this file too, so `#[job(cron = ..., tz = ..., missed = ...)]`
//! refuses at compile time exactly what the run-time API refuses. It depends on nothing but
//! `std`, `croner` and `chrono-tz`.

use std::str::FromStr;

/// Most missed ticks a `each(N)` policy may ask to run.
pub(crate) const MAX_CATCH_UP: u32 = 1000;

/// Parses a cron expression: 5 fields (minute granularity), 6 (a leading seconds field) or 7
/// (a trailing year), or an alias such as `@hourly`. The error says what is wrong.
pub(crate) fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    if expr.trim().is_empty() {
        return Err("the cron expression is empty".to_string());
    }
    croner::parser::CronParser::new()
        .parse(expr)
        .map_err(|e| format!("invalid cron expression `{expr}`: {e}"))
}

/// Parses an IANA time zone name such as `Europe/Berlin` or `UTC`.
pub(crate) fn parse_tz(tz: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(tz).map_err(|_| {
        format!("unknown time zone `{tz}`: expected an IANA name such as `UTC` or `Europe/Berlin`")
    })
}

/// A missed-tick policy as written: `skip`, `once` or `each(N)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissedRule {
    /// `skip`
    Skip,
    /// `once`
    Once,
    /// `each(N)`
    Each(u32),
}

/// Parses a missed-tick policy: `skip`, `once` or `each(N)` with 1 <= N <= [`MAX_CATCH_UP`].
pub(crate) fn parse_missed(text: &str) -> Result<MissedRule, String> {
    let text = text.trim();
    match text {
        "skip" => return Ok(MissedRule::Skip),
        "once" => return Ok(MissedRule::Once),
        _ => {}
    }
    let expected = "expected `skip`, `once` or `each(N)` (N missed ticks at most)";
    let Some(n) = text
        .strip_prefix("each(")
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return Err(format!("unknown missed-tick policy `{text}`: {expected}"));
    };
    match n.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_CATCH_UP).contains(&n) => Ok(MissedRule::Each(n)),
        _ => Err(format!(
            "invalid missed-tick policy `{text}`: N must be a whole number from 1 to {MAX_CATCH_UP}"
        )),
    }
}
