//! The duration and backoff strings of `#[job(timeout = "...", backoff = "...")]`.
//!
//! Errors are plain messages; the caller spans them on the string literal.

/// The units a duration may use, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// The default `max` of an exponential backoff: one hour.
const DEFAULT_MAX_MS: u64 = 3_600_000;

/// A backoff policy written as a string, with its delays in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BackoffSpec {
    /// `fixed(<delay>)`.
    Fixed(u64),
    /// `exponential(<base>, max = <max>, jitter = <bool>)`.
    Exponential { base: u64, max: u64, jitter: bool },
}

/// Parses `"250ms"`, `"30s"`, `"1h30m"`...: one or more groups of an integer and a unit
/// (`ms`, `s`, `m`, `h`, `d`). Returns milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "invalid duration `{text}`: expected a number followed by `ms`, `s`, `m`, `h` or `d`"
        )
    };
    let too_long = || format!("duration `{text}` is too long");
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(invalid)?;
        let number: u64 = number.parse().map_err(|_| too_long())?;
        total = number
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(too_long)?;
        rest = after;
    }
    Ok(total)
}

/// Formats milliseconds the way they were most likely written, for messages.
fn show(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    UNITS
        .iter()
        .rev()
        .find(|(_, scale)| ms % scale == 0)
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, scale)| format!("{}{unit}", ms / scale),
        )
}

/// Parses `"fixed(5s)"`, `"exponential(1s)"`, `"exponential(1s, max = 10m)"`,
/// `"exponential(500ms, max = 1h, jitter = false)"` (`max` and `jitter` in any order; `max`
/// defaults to 1 hour, `jitter` to true).
pub(crate) fn parse_backoff(text: &str) -> Result<BackoffSpec, String> {
    parse_backoff_inner(text).map_err(|reason| format!("invalid backoff `{text}`: {reason}"))
}

fn parse_backoff_inner(text: &str) -> Result<BackoffSpec, String> {
    const EXPECTED: &str = "expected `fixed(<delay>)` or `exponential(<delay>)`, the latter \
                            optionally with `max = <duration>` and `jitter = <bool>`, e.g. \
                            `exponential(1s, max = 10m)`";
    let text = text.trim();
    let (kind, inner) = text
        .strip_suffix(')')
        .and_then(|t| t.split_once('('))
        .ok_or(EXPECTED)?;
    let kind = kind.trim();
    if kind != "fixed" && kind != "exponential" {
        return Err(EXPECTED.into());
    }
    let mut parts = inner.split(',').map(str::trim);
    let delay = parse_duration(parts.next().unwrap_or_default())?;
    match kind {
        "fixed" => {
            if parts.next().is_some() {
                return Err("`fixed` takes only a delay, e.g. `fixed(5s)`".into());
            }
            if delay == 0 {
                return Err("the delay must be longer than zero".into());
            }
            Ok(BackoffSpec::Fixed(delay))
        }
        "exponential" => {
            if delay == 0 {
                return Err("the base delay must be longer than zero".into());
            }
            let mut max = None;
            let mut jitter = None;
            for part in parts {
                let (key, value) = part
                    .split_once('=')
                    .map(|(k, v)| (k.trim(), v.trim()))
                    .ok_or_else(|| {
                        format!("expected `max = <duration>` or `jitter = <bool>`, found `{part}`")
                    })?;
                match key {
                    "max" if max.is_some() => return Err("`max` is set twice".into()),
                    "max" => max = Some(parse_duration(value)?),
                    "jitter" if jitter.is_some() => return Err("`jitter` is set twice".into()),
                    "jitter" => {
                        jitter = Some(match value {
                            "true" => true,
                            "false" => false,
                            _ => {
                                return Err(format!(
                                    "`jitter` must be `true` or `false`, found `{value}`"
                                ))
                            }
                        })
                    }
                    _ => {
                        return Err(format!(
                            "unknown option `{key}`; `exponential` takes `max` and `jitter`"
                        ))
                    }
                }
            }
            let max = max.unwrap_or(DEFAULT_MAX_MS);
            if max < delay {
                return Err(format!(
                    "`max` ({}) is shorter than the base delay ({})",
                    show(max),
                    show(delay)
                ));
            }
            Ok(BackoffSpec::Exponential {
                base: delay,
                max,
                jitter: jitter.unwrap_or(true),
            })
        }
        _ => Err(EXPECTED.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("1m1s1ms"), Ok(61_001));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("007s"), Ok(7_000));
    }

    #[test]
    fn bad_durations() {
        let expected = |text: &str| {
            format!(
                "invalid duration `{text}`: expected a number followed by `ms`, `s`, `m`, `h` \
                 or `d`"
            )
        };
        for text in [
            "", "30", "30x", "s", "1.5s", "-1s", " 1s", "1s ", "1 s", "1hm", "1sec", "1S", "m5",
        ] {
            assert_eq!(parse_duration(text), Err(expected(text)), "{text:?}");
        }
        assert_eq!(
            parse_duration("99999999999999999999ms"),
            Err("duration `99999999999999999999ms` is too long".into())
        );
        assert_eq!(
            parse_duration("999999999999999999d"),
            Err("duration `999999999999999999d` is too long".into())
        );
        assert!(parse_duration("18446744073709551615ms1ms").is_err());
    }

    #[test]
    fn backoffs() {
        assert_eq!(parse_backoff("fixed(5s)"), Ok(BackoffSpec::Fixed(5_000)));
        assert_eq!(
            parse_backoff("exponential(1s)"),
            Ok(BackoffSpec::Exponential {
                base: 1_000,
                max: 3_600_000,
                jitter: true
            })
        );
        assert_eq!(
            parse_backoff("exponential(1s, max = 10m)"),
            Ok(BackoffSpec::Exponential {
                base: 1_000,
                max: 600_000,
                jitter: true
            })
        );
        let no_jitter = BackoffSpec::Exponential {
            base: 500,
            max: 3_600_000,
            jitter: false,
        };
        assert_eq!(
            parse_backoff("exponential(500ms, max = 1h, jitter = false)"),
            Ok(no_jitter)
        );
        assert_eq!(
            parse_backoff("exponential(500ms,jitter=false,max=1h)"),
            Ok(no_jitter)
        );
        assert_eq!(
            parse_backoff(" exponential( 500ms , jitter = false ) "),
            Ok(no_jitter)
        );
        assert_eq!(
            parse_backoff("exponential(1s, jitter = true, max = 1s)"),
            Ok(BackoffSpec::Exponential {
                base: 1_000,
                max: 1_000,
                jitter: true
            })
        );
    }

    #[test]
    fn bad_backoffs() {
        let reason = |text: &str| parse_backoff(text).unwrap_err();
        assert!(reason("linear(1x)").ends_with("e.g. `exponential(1s, max = 10m)`"));
        assert!(reason("fixed").starts_with("invalid backoff `fixed`: expected `fixed(<delay>)`"));
        assert!(reason("fixed(5s").contains("expected `fixed(<delay>)`"));
        assert!(reason("").contains("expected `fixed(<delay>)`"));
        assert_eq!(
            reason("fixed(5x)"),
            "invalid backoff `fixed(5x)`: invalid duration `5x`: expected a number followed by \
             `ms`, `s`, `m`, `h` or `d`"
        );
        assert_eq!(
            reason("fixed()"),
            "invalid backoff `fixed()`: invalid duration ``: expected a number followed by \
             `ms`, `s`, `m`, `h` or `d`"
        );
        assert_eq!(
            reason("fixed(0s)"),
            "invalid backoff `fixed(0s)`: the delay must be longer than zero"
        );
        assert_eq!(
            reason("fixed(5s, jitter = false)"),
            "invalid backoff `fixed(5s, jitter = false)`: `fixed` takes only a delay, e.g. \
             `fixed(5s)`"
        );
        assert_eq!(
            reason("exponential(0ms)"),
            "invalid backoff `exponential(0ms)`: the base delay must be longer than zero"
        );
        assert_eq!(
            reason("exponential(1s, max = 1m, max = 2m)"),
            "invalid backoff `exponential(1s, max = 1m, max = 2m)`: `max` is set twice"
        );
        assert_eq!(
            reason("exponential(1s, jitter = no)"),
            "invalid backoff `exponential(1s, jitter = no)`: `jitter` must be `true` or `false`, \
             found `no`"
        );
        assert_eq!(
            reason("exponential(1s, factor = 3)"),
            "invalid backoff `exponential(1s, factor = 3)`: unknown option `factor`; \
             `exponential` takes `max` and `jitter`"
        );
        assert_eq!(
            reason("exponential(1s, 10m)"),
            "invalid backoff `exponential(1s, 10m)`: expected `max = <duration>` or \
             `jitter = <bool>`, found `10m`"
        );
        assert_eq!(
            reason("exponential(10s, max = 1500ms)"),
            "invalid backoff `exponential(10s, max = 1500ms)`: `max` (1500ms) is shorter than \
             the base delay (10s)"
        );
        assert_eq!(
            reason("exponential(2h, max = 90m)"),
            "invalid backoff `exponential(2h, max = 90m)`: `max` (90m) is shorter than the base \
             delay (2h)"
        );
    }
}
