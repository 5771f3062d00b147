//! What a schedule is: its definition ([`Schedule`]), its missed-tick policy ([`Missed`]), what
//! storage reports of it ([`ScheduleInfo`]) and what firing a tick did ([`Fired`]).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::cron_rule::{parse_cron, parse_tz, MAX_CATCH_UP};
use super::missed::Missed;
use super::ticks::Clock;
use crate::error::{Error, Result};
use crate::job::{from_unix_ms, unix_ms, validate_name, JobId};

/// Longest schedule name: a tick's job id is `<name>@<tick ms>`, which must stay within the
/// 200 bytes of an id.
pub const MAX_SCHEDULE_NAME: usize = 176;

/// A recurring job: at each time its cron expression names in its time zone, a job `job` with
/// `payload` goes to `queue`, fired exactly once however many workers serve the queue.
///
/// ```
/// # use queue_core::{Missed, Schedule};
/// let schedule = Schedule::new("nightly-report", "send_report", "0 30 2 * * *")
///     .queue("reports")
///     .tz("Europe/Berlin")
///     .payload(serde_json::json!({"kind": "daily"}))
///     .missed(Missed::Once);
/// assert!(schedule.check().is_ok());
/// ```
///
/// The expression has 5 fields (minute, hour, day of month, month, day of week), or 6 with a
/// leading seconds field, or an alias such as `@hourly`. Times follow the zone's rules:
/// a fixed time that falls into a daylight-saving gap runs at the first valid time after it on
/// that day, a fixed time in a repeated hour runs once (at its first occurrence), and
/// wildcard or step fields run at every matching wall-clock time, skipping the gap and running
/// in both passes of a repeated hour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schedule {
    /// The schedule's name, unique within its queue. Its ticks' jobs have the ids
    /// `<name>@<tick in ms since the epoch>`.
    pub name: String,
    /// The queue its jobs go to, and where the schedule is stored (empty until set or chosen
    /// when the schedule is stored).
    pub queue: String,
    /// The job name its ticks dispatch.
    pub job: String,
    /// The cron expression.
    pub cron: String,
    /// The IANA time zone the expression is read in (default `UTC`).
    pub tz: String,
    /// The payload of each tick's job (default `null`, which a handler without a payload, or
    /// with an `Option` or `()` payload, accepts).
    #[serde(default)]
    pub payload: serde_json::Value,
    /// What happens to ticks missed while no worker ran.
    #[serde(default)]
    pub missed: Missed,
    /// Stored by a worker for a handler's `#[job(cron = ...)]` (not by the API): a worker that
    /// serves the handler in that queue but whose handler no longer declares a schedule removes
    /// it when it starts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_handler: bool,
}

impl Schedule {
    /// A schedule named `name` dispatching `job` at the times of `cron`, in UTC, with a `null`
    /// payload and missed ticks skipped. Its queue, unless set with [`queue`](Self::queue), is
    /// the queue of `job`'s handler when one is linked into the program that stores it (the
    /// default queue otherwise).
    pub fn new(name: &str, job: &str, cron: &str) -> Self {
        Self {
            name: name.to_string(),
            queue: String::new(),
            job: job.to_string(),
            cron: cron.to_string(),
            tz: "UTC".to_string(),
            payload: serde_json::Value::Null,
            missed: Missed::Skip,
            from_handler: false,
        }
    }

    /// Sends its jobs to `queue` (where the schedule is stored too).
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.to_string();
        self
    }

    /// Reads the expression in the IANA time zone `tz`, e.g. `Europe/Berlin`.
    pub fn tz(mut self, tz: &str) -> Self {
        self.tz = tz.to_string();
        self
    }

    /// Gives each tick's job this payload.
    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    /// Sets what happens to missed ticks.
    pub fn missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// Checks the names (the queue must be set), the cron expression, the time zone and the
    /// policy, with an [`Error::InvalidSchedule`] or [`Error::InvalidName`] saying what is wrong.
    pub fn check(&self) -> Result<()> {
        self.clock().map(drop)
    }

    /// The schedule's times, once checked.
    pub(crate) fn clock(&self) -> Result<Clock> {
        let invalid = |reason: String| Error::InvalidSchedule {
            name: self.name.clone(),
            reason,
        };
        validate_name("schedule name", &self.name)?;
        if self.name.len() > MAX_SCHEDULE_NAME {
            return Err(invalid(format!(
                "the name is longer than {MAX_SCHEDULE_NAME} bytes"
            )));
        }
        validate_name("queue name", &self.queue)?;
        validate_name("job name", &self.job)?;
        if let Missed::Each { max } = self.missed {
            if !(1..=MAX_CATCH_UP).contains(&max) {
                return Err(invalid(format!(
                    "missed ticks to run must be from 1 to {MAX_CATCH_UP}, not {max}"
                )));
            }
        }
        let cron = parse_cron(&self.cron).map_err(invalid)?;
        let tz = parse_tz(&self.tz).map_err(invalid)?;
        Ok(Clock::new(cron, tz))
    }

    /// The id of the job of the tick due at `tick_ms` (ms since the epoch): `<name>@<tick_ms>`.
    pub fn job_id(&self, tick_ms: u64) -> JobId {
        JobId::from(format!("{}@{tick_ms}", self.name))
    }

    /// The definition as storage keeps it (JSON): two schedules are the same definition when
    /// their texts are equal.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a schedule serializes")
    }

    /// A definition read back from storage.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text)
            .map_err(|e| Error::storage(format!("unreadable schedule definition: {e}")))
    }
}

/// A handler's schedule as `#[job(cron = "...", tz = "...", missed = "...")]` declares it; a
/// worker serving the handler stores it (see [`WorkerBuilder`](crate::WorkerBuilder)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CronSpec {
    /// The cron expression.
    pub expr: &'static str,
    /// The IANA time zone.
    pub tz: &'static str,
    /// What happens to missed ticks.
    pub missed: Missed,
}

impl CronSpec {
    /// A schedule of `expr` in `tz` with the `missed` policy.
    pub const fn new(expr: &'static str, tz: &'static str, missed: Missed) -> Self {
        Self { expr, tz, missed }
    }
}

/// A stored schedule and its state, as [`Queue::schedules`](crate::Queue::schedules) lists it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ScheduleInfo {
    /// The definition.
    pub schedule: Schedule,
    /// Whether it is paused (its ticks are not fired).
    pub paused: bool,
    /// When it was first stored; ticks before it are never fired.
    pub created_at: SystemTime,
    /// The due time of the last tick fired, if any.
    pub last_tick: Option<SystemTime>,
    /// When that tick was fired (storage's clock).
    pub last_fired_at: Option<SystemTime>,
    /// The due time of its next tick after now (none for an expression that has no more, or
    /// one that no longer parses).
    pub next_tick: Option<SystemTime>,
}

impl ScheduleInfo {
    /// A schedule as storage holds it, times in ms since the epoch; its next tick is computed
    /// from now.
    pub fn new(
        schedule: Schedule,
        paused: bool,
        created_ms: u64,
        last_tick_ms: Option<u64>,
        last_fired_ms: Option<u64>,
    ) -> Self {
        let after = unix_ms(SystemTime::now())
            .max(created_ms)
            .max(last_tick_ms.unwrap_or(0));
        let next_tick = schedule
            .clock()
            .ok()
            .and_then(|clock| clock.next_after(after))
            .map(from_unix_ms);
        Self {
            schedule,
            paused,
            created_at: from_unix_ms(created_ms),
            last_tick: last_tick_ms.map(from_unix_ms),
            last_fired_at: last_fired_ms.map(from_unix_ms),
            next_tick,
        }
    }

    /// The time after which ticks may fire: the last fired tick, or the creation time.
    pub(crate) fn anchor_ms(&self) -> u64 {
        unix_ms(self.last_tick.unwrap_or(self.created_at))
    }
}

/// What [`Schedules::fire`](crate::Schedules::fire) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fired {
    /// The definition matched and the schedule is not paused: `fired` are the ticks (ms since
    /// the epoch) this call fired, in order (none when others fired them first); `last` is the
    /// schedule's last fired tick now.
    Ticks {
        /// The ticks this call fired.
        fired: Vec<u64>,
        /// The last fired tick after the call.
        last: Option<u64>,
    },
    /// The schedule is paused; nothing was fired.
    Paused,
    /// The schedule was removed or its definition replaced; nothing was fired.
    Changed,
}
