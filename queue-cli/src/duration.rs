//! Durations as people type them: `250ms`, `10s`, `5m`, `1h`, `2d`, and sums such as `1m30s`.

use std::time::Duration;

/// Parses a duration: one or more `<whole number><unit>` parts with units `ms`, `s`, `m`, `h`
/// and `d`, e.g. `90s`, `1h30m`. A bare number is refused (the unit would be a guess).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. `10s`, `5m`, `1h` or `250ms`".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number at `{rest}`; write e.g. `10s`, `5m`, `1h` or `250ms`"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: `{number}` is too large"))?;
        let part = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3_600).map(Duration::from_secs),
            "d" => number.checked_mul(86_400).map(Duration::from_secs),
            "" => {
                return Err(match after.chars().next() {
                    None => format!(
                        "`{text}` is not a duration: `{number}` has no unit (ms, s, m, h or d)"
                    ),
                    Some(other) => format!(
                        "`{text}` is not a duration: unexpected `{other}`; write whole numbers \
                         with units, e.g. `1m30s` or `1500ms`"
                    ),
                })
            }
            other => {
                return Err(format!(
                    "`{text}` is not a duration: unknown unit `{other}` (use ms, s, m, h or d)"
                ))
            }
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        rest = after;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit_and_sums() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration(" 1s500ms "),
            Ok(Duration::from_millis(1_500))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_problem() {
        let err = parse_duration("10").unwrap_err();
        assert!(err.contains("has no unit"), "{err}");
        let err = parse_duration("10x").unwrap_err();
        assert!(err.contains("unknown unit `x`"), "{err}");
        let err = parse_duration("s").unwrap_err();
        assert!(err.contains("expected a number at `s`"), "{err}");
        let err = parse_duration("1.5s").unwrap_err();
        assert!(err.contains("unexpected `.`"), "{err}");
        let err = parse_duration("").unwrap_err();
        assert!(err.contains("empty duration"), "{err}");
        let err = parse_duration("-5s").unwrap_err();
        assert!(err.contains("expected a number"), "{err}");
        let err = parse_duration("99999999999999999999s").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        let err = parse_duration("999999999999999999d").unwrap_err();
        assert!(err.contains("too long"), "{err}");
    }
}
