//! The targets of issue 3 and how a measured value is judged against them.
//!
//! Each target is a bound and a unit; its text ("≥ 200k jobs/s") is written from the number, and
//! whether it is met is computed from the measurement, so neither can drift from the other.

use serde::Serialize;

/// The unit a limit is written in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// Jobs per second.
    JobsPerSec,
    /// Microseconds (written as ms from 500 µs up).
    Micros,
    /// Bytes.
    Bytes,
    /// Redis commands per second.
    CommandsPerSec,
    /// Percent.
    Percent,
}

impl Unit {
    /// `value` written in this unit, compactly: `200k jobs/s`, `0.5 ms`, `250 bytes`.
    fn write(self, value: f64) -> String {
        match self {
            Unit::JobsPerSec if value >= 1e6 => format!("{}M jobs/s", trim(value / 1e6)),
            Unit::JobsPerSec if value >= 1e3 => format!("{}k jobs/s", trim(value / 1e3)),
            Unit::JobsPerSec => format!("{} jobs/s", trim(value)),
            Unit::Micros if value >= 500.0 => format!("{} ms", trim(value / 1e3)),
            Unit::Micros => format!("{} µs", trim(value)),
            Unit::Bytes => format!("{} bytes", trim(value)),
            Unit::CommandsPerSec => format!("{} commands/s", trim(value)),
            Unit::Percent => format!("{}%", trim(value)),
        }
    }
}

/// A number without trailing zeros: `0.5`, `200`, `1.25`.
fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A bound on one measured value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    /// What the bound is on, when a row has several values (`p99`).
    what: Option<&'static str>,
    /// `true` for "at most", `false` for "at least".
    at_most: bool,
    /// The bound.
    limit: f64,
    /// Its unit.
    unit: Unit,
}

impl Limit {
    /// The value must be at least `limit`.
    const fn at_least(limit: f64, unit: Unit) -> Self {
        Self {
            what: None,
            at_most: false,
            limit,
            unit,
        }
    }

    /// The value must be at most `limit`.
    const fn at_most(limit: f64, unit: Unit) -> Self {
        Self {
            what: None,
            at_most: true,
            limit,
            unit,
        }
    }

    /// Names the value the bound is on.
    const fn on(mut self, what: &'static str) -> Self {
        self.what = Some(what);
        self
    }

    /// Whether `value` is within the bound.
    fn holds(&self, value: f64) -> bool {
        if self.at_most {
            value <= self.limit
        } else {
            value >= self.limit
        }
    }

    /// `p99 ≤ 2 ms`.
    fn text(&self) -> String {
        let bound = format!(
            "{} {}",
            if self.at_most { "≤" } else { "≥" },
            self.unit.write(self.limit)
        );
        match self.what {
            Some(what) => format!("{what} {bound}"),
            None => bound,
        }
    }

    /// Judges `value` against this bound alone.
    pub(crate) fn check(self, value: f64) -> Verdict {
        Verdict::of(&[(self, value)])
    }
}

/// Redis: bulk enqueue.
pub(crate) const REDIS_BULK_ENQUEUE: Limit = Limit::at_least(200_000.0, Unit::JobsPerSec);
/// Redis: drain.
pub(crate) const REDIS_DRAIN: Limit = Limit::at_least(100_000.0, Unit::JobsPerSec);
/// Redis: end to end.
pub(crate) const REDIS_END_TO_END: Limit = Limit::at_least(60_000.0, Unit::JobsPerSec);
/// Redis: server CPU per job over its whole life (enqueue + reserve + ack).
pub(crate) const REDIS_CPU_WHOLE_LIFE: Limit = Limit::at_most(8.0, Unit::Micros);
/// Redis: idle latency, median.
pub(crate) const REDIS_IDLE_P50: Limit = Limit::at_most(500.0, Unit::Micros).on("p50");
/// Redis: idle latency, 99th percentile.
pub(crate) const REDIS_IDLE_P99: Limit = Limit::at_most(2_000.0, Unit::Micros).on("p99");
/// Redis: lateness of delayed jobs with an idle worker, 99th percentile.
pub(crate) const REDIS_DELAYED_P99: Limit = Limit::at_most(5_000.0, Unit::Micros).on("p99");
/// Redis: commands per second sent by an idle worker process.
pub(crate) const REDIS_IDLE_COMMANDS: Limit = Limit::at_most(5.0, Unit::CommandsPerSec);
/// Redis: memory per queued small job beyond its payload.
pub(crate) const REDIS_MEMORY_PER_JOB: Limit = Limit::at_most(250.0, Unit::Bytes);
/// At 1 ms round trip, drain and end to end keep this share of the same run's 0 ms figure
/// through the proxy (issue 16).
pub(crate) const NETWORK_KEPT_AT_1MS: Limit = Limit::at_least(80.0, Unit::Percent);
/// With 200 handlers in one worker, a trickle of jobs each for the next handler is picked up
/// as quickly as the same trickle for one handler ("pickup latency unchanged", issue 16): the
/// p50s' ratio, with room for the spread between two p50s of one run.
pub(crate) const MANY_PICKUP_OF_ONE: Limit = Limit::at_most(110.0, Unit::Percent);
/// At 100 KB payloads, a job's dispatch and drain keep this share of the same run's raw SET
/// and GET of a value of that size (issue 16).
pub(crate) const BIG_PAYLOAD_OF_RAW: Limit = Limit::at_least(70.0, Unit::Percent);
/// Both drivers: the most starts of a rate-limited handler in any window, as a share of its
/// limit.
pub(crate) const LIMIT_KEPT: Limit = Limit::at_most(100.0, Unit::Percent);
/// Both drivers: a rate-limited handler's throughput against an exact limiter's with the same
/// workers (`limited::against_exact`).
pub(crate) const LIMIT_THROUGHPUT: Limit = Limit::at_least(95.0, Unit::Percent);
/// Memory driver: end to end.
pub(crate) const MEMORY_END_TO_END: Limit = Limit::at_least(1_000_000.0, Unit::JobsPerSec);
/// Memory driver: idle latency, median.
pub(crate) const MEMORY_IDLE_P50: Limit = Limit::at_most(50.0, Unit::Micros).on("p50");
/// Both drivers: per-job CPU with observation on (events, metrics, logs, 1,000 completed jobs
/// kept), as a share of the same run's bare figure: the worker's, and for Redis the server's
/// reserve + ack (issue 11).
pub(crate) const OBSERVED_COST: Limit = Limit::at_most(125.0, Unit::Percent);
/// Both drivers: per-job cost at any backlog, as a change from the 10k backlog.
pub(crate) const COST_SPREAD: Limit = Limit::at_most(20.0, Unit::Percent);

/// A target and whether a measurement met it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verdict {
    /// The target, e.g. `p50 ≤ 0.5 ms, p99 ≤ 2 ms`.
    pub(crate) target: String,
    /// Whether every bound of it held.
    pub(crate) met: bool,
}

impl Verdict {
    /// Judges each value against its bound; met only if all hold.
    pub(crate) fn of(checks: &[(Limit, f64)]) -> Self {
        Self {
            target: checks
                .iter()
                .map(|(limit, _)| limit.text())
                .collect::<Vec<_>>()
                .join(", "),
            met: checks.iter().all(|(limit, value)| limit.holds(*value)),
        }
    }

    /// For the markdown table: `≥ 200k jobs/s: met` or `≥ 200k jobs/s: **not met**`.
    pub(crate) fn markdown(&self) -> String {
        let verdict = if self.met { "met" } else { "**not met**" };
        format!("{}: {verdict}", self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_come_from_the_numbers() {
        assert_eq!(REDIS_BULK_ENQUEUE.text(), "≥ 200k jobs/s");
        assert_eq!(MEMORY_END_TO_END.text(), "≥ 1M jobs/s");
        assert_eq!(REDIS_IDLE_P50.text(), "p50 ≤ 0.5 ms");
        assert_eq!(MEMORY_IDLE_P50.text(), "p50 ≤ 50 µs");
        assert_eq!(REDIS_CPU_WHOLE_LIFE.text(), "≤ 8 µs");
        assert_eq!(REDIS_MEMORY_PER_JOB.text(), "≤ 250 bytes");
        assert_eq!(COST_SPREAD.text(), "≤ 20%");
        assert_eq!(OBSERVED_COST.text(), "≤ 125%");
    }

    #[test]
    fn verdicts() {
        assert!(REDIS_DRAIN.check(100_000.0).met);
        assert!(!REDIS_DRAIN.check(99_999.0).met);
        let latency = Verdict::of(&[(REDIS_IDLE_P50, 300.0), (REDIS_IDLE_P99, 2_500.0)]);
        assert_eq!(latency.target, "p50 ≤ 0.5 ms, p99 ≤ 2 ms");
        assert!(!latency.met);
        assert_eq!(latency.markdown(), "p50 ≤ 0.5 ms, p99 ≤ 2 ms: **not met**");
        assert_eq!(
            REDIS_IDLE_COMMANDS.check(0.0).markdown(),
            "≤ 5 commands/s: met"
        );
    }
}
