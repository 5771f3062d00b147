//! A schedule's times: the next tick after a moment, and which ticks are due now under its
//! missed-tick policy. Ticks are instants in ms since the Unix epoch; the cron expression is
//! read in the schedule's time zone, so daylight-saving changes follow the zone's rules.

use chrono::{DateTime, TimeZone};
use chrono_tz::Tz;

use super::missed::Missed;

/// How late a tick may be fired and still count as on time; a tick later than this is missed
/// and its schedule's [`Missed`] policy decides whether it runs.
pub const SCHEDULE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Most on-time ticks one call reports (a grace of one second holds two at most).
const MAX_ON_TIME: usize = 16;

/// A parsed cron expression and its time zone.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    cron: croner::Cron,
    tz: Tz,
}

impl Clock {
    pub(crate) fn new(cron: croner::Cron, tz: Tz) -> Self {
        Self { cron, tz }
    }

    fn at(&self, ms: u64) -> Option<DateTime<Tz>> {
        let ms = i64::try_from(ms).ok()?;
        self.tz.timestamp_millis_opt(ms).single()
    }

    /// The first tick strictly after `ms`.
    pub(crate) fn next_after(&self, ms: u64) -> Option<u64> {
        let next = self.cron.find_next_occurrence(&self.at(ms)?, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The last tick at or before `ms` (`inclusive`) or strictly before it.
    fn previous(&self, ms: u64, inclusive: bool) -> Option<u64> {
        let prev = self
            .cron
            .find_previous_occurrence(&self.at(ms)?, inclusive)
            .ok()?;
        u64::try_from(prev.timestamp_millis()).ok()
    }

    /// The ticks to fire at `now`, oldest first, for a schedule whose ticks up to `anchor` were
    /// fired (or came before it existed): every tick after `anchor` that is at most `grace_ms`
    /// late, and of the older ones (missed) as many of the latest as `missed` allows.
    pub(crate) fn due(&self, anchor: u64, now: u64, grace_ms: u64, missed: Missed) -> Vec<u64> {
        let catch_up = missed.catch_up();
        let late = now.saturating_sub(grace_ms);
        let (mut on_time, mut late_ticks) = (0usize, 0usize);
        let mut due = Vec::new();
        let mut at = self.previous(now, true);
        while let Some(tick) = at {
            if tick <= anchor {
                break;
            }
            if tick >= late {
                if on_time == MAX_ON_TIME {
                    break;
                }
                on_time += 1;
            } else {
                if late_ticks == catch_up {
                    break;
                }
                late_ticks += 1;
            }
            due.push(tick);
            at = self.previous(tick, false);
        }
        due.reverse();
        due
    }
}

#[cfg(test)]
mod tests {
    use super::super::cron_rule::{parse_cron, parse_tz};
    use super::*;

    fn clock(cron: &str, tz: &str) -> Clock {
        Clock::new(parse_cron(cron).unwrap(), parse_tz(tz).unwrap())
    }

    /// Ms of a wall-clock time in `tz` (the earlier one of a repeated hour).
    fn local(tz: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> u64 {
        let tz = parse_tz(tz).unwrap();
        tz.with_ymd_and_hms(y, mo, d, h, mi, s)
            .earliest()
            .unwrap()
            .timestamp_millis() as u64
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> u64 {
        local("UTC", y, mo, d, h, mi, s)
    }

    #[test]
    fn seconds_field_is_optional() {
        let five = clock("*/5 * * * *", "UTC");
        let at = utc(2026, 1, 1, 10, 2, 30);
        assert_eq!(five.next_after(at), Some(utc(2026, 1, 1, 10, 5, 0)));
        let every_second = clock("* * * * * *", "UTC");
        assert_eq!(every_second.next_after(at + 200), Some(at + 1000));
    }

    #[test]
    fn due_ticks_follow_the_policy() {
        let c = clock("* * * * *", "UTC"); // every minute
        let anchor = utc(2026, 1, 1, 10, 0, 0);
        let now = utc(2026, 1, 1, 10, 10, 0) + 300; // ten ticks after the anchor, the last on time
        let on_time = utc(2026, 1, 1, 10, 10, 0);
        assert_eq!(c.due(anchor, now, 1000, Missed::Skip), vec![on_time]);
        assert_eq!(
            c.due(anchor, now, 1000, Missed::Once),
            vec![utc(2026, 1, 1, 10, 9, 0), on_time]
        );
        let each = c.due(anchor, now, 1000, Missed::Each { max: 3 });
        assert_eq!(
            each,
            vec![
                utc(2026, 1, 1, 10, 7, 0),
                utc(2026, 1, 1, 10, 8, 0),
                utc(2026, 1, 1, 10, 9, 0),
                on_time
            ]
        );
        let all = c.due(anchor, now, 1000, Missed::Each { max: 100 });
        assert_eq!(all.len(), 10);
        assert_eq!(all[0], utc(2026, 1, 1, 10, 1, 0));
        // Nothing after the anchor: nothing due.
        assert!(c
            .due(on_time, now, 1000, Missed::Each { max: 5 })
            .is_empty());
        // Late by more than the grace: missed, so skipped.
        assert!(c.due(anchor, on_time + 5000, 1000, Missed::Skip).is_empty());
    }

    #[test]
    fn berlin_spring_forward() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let daily = clock("30 2 * * *", "Europe/Berlin");
        let before = local("Europe/Berlin", 2026, 3, 28, 12, 0, 0);
        let first = daily.next_after(before).unwrap();
        // The fixed time in the gap runs at the first valid time after it, 03:00 CEST.
        assert_eq!(first, utc(2026, 3, 29, 1, 0, 0));
        // The next day, at 02:30 CEST again.
        assert_eq!(daily.next_after(first), Some(utc(2026, 3, 30, 0, 30, 0)));

        let hourly = clock("0 * * * *", "Europe/Berlin");
        let from = local("Europe/Berlin", 2026, 3, 29, 0, 30, 0);
        let mut ticks = vec![];
        let mut at = from;
        for _ in 0..4 {
            at = hourly.next_after(at).unwrap();
            ticks.push(at);
        }
        // 01:00 CET, then 03:00 and 04:00 CEST, 05:00 CEST: no 02:00, an hour apart each.
        assert_eq!(
            ticks,
            vec![
                utc(2026, 3, 29, 0, 0, 0),
                utc(2026, 3, 29, 1, 0, 0),
                utc(2026, 3, 29, 2, 0, 0),
                utc(2026, 3, 29, 3, 0, 0)
            ]
        );
    }

    #[test]
    fn berlin_fall_back() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let daily = clock("30 2 * * *", "Europe/Berlin");
        let before = local("Europe/Berlin", 2026, 10, 24, 12, 0, 0);
        let first = daily.next_after(before).unwrap();
        // Once, at the first 02:30 (CEST, 00:30 UTC).
        assert_eq!(first, utc(2026, 10, 25, 0, 30, 0));
        assert_eq!(daily.next_after(first), Some(utc(2026, 10, 26, 1, 30, 0)));

        let hourly = clock("0 * * * *", "Europe/Berlin");
        let from = local("Europe/Berlin", 2026, 10, 25, 0, 30, 0);
        let mut ticks = vec![];
        let mut at = from;
        for _ in 0..4 {
            at = hourly.next_after(at).unwrap();
            ticks.push(at);
        }
        // 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET: real hours apart, 02:00 twice.
        assert_eq!(
            ticks,
            vec![
                utc(2026, 10, 24, 23, 0, 0),
                utc(2026, 10, 25, 0, 0, 0),
                utc(2026, 10, 25, 1, 0, 0),
                utc(2026, 10, 25, 2, 0, 0)
            ]
        );
        // Firing is by real time: the due ticks across the change are each hour once.
        let anchor = utc(2026, 10, 24, 22, 30, 0);
        let due = hourly.due(
            anchor,
            utc(2026, 10, 25, 2, 0, 0),
            1000,
            Missed::Each { max: 10 },
        );
        assert_eq!(due, ticks);
    }
}
