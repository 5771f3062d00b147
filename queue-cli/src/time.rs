//! Timestamps as RFC 3339 text in UTC (`2025-03-01T12:00:00.250Z`), without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as RFC 3339 in UTC with milliseconds; times before 1970 are shown as the epoch.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let secs = (ms / 1000) as i64;
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01. Works in 400-year eras (146,097
/// days each) counted from 0000-03-01, so the leap day falls at the end of a counted year.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> String {
        rfc3339(UNIX_EPOCH + Duration::from_millis(ms))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(1_709_164_800_250), "2024-02-29T00:00:00.250Z");
        assert_eq!(at(1_735_689_599_000), "2024-12-31T23:59:59.000Z");
        assert_eq!(at(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_follows_the_one_before() {
        // Walks 1970..2101 a day at a time: dates never repeat or skip.
        let mut last = civil_date(0);
        assert_eq!(last, (1970, 1, 1));
        for days in 1..48_000 {
            let next = civil_date(days);
            let expected_next_day = (last.0, last.1, last.2 + 1);
            let expected_next_month = (last.0, last.1 + 1, 1);
            let expected_next_year = (last.0 + 1, 1, 1);
            assert!(
                next == expected_next_day
                    || next == expected_next_month
                    || next == expected_next_year,
                "{last:?} -> {next:?}"
            );
            if next.1 != last.1 {
                let leap = last.0 % 4 == 0 && (last.0 % 100 != 0 || last.0 % 400 == 0);
                let length = match last.1 {
                    2 if leap => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                assert_eq!(last.2, length, "{last:?} ends its month");
            }
            last = next;
        }
    }
}
