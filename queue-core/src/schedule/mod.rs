//! Recurring jobs: schedules stored per queue ([`Schedule`]), fired by workers exactly once per
//! tick through the storage's [`Schedules`](crate::Schedules) capability, and administered
//! through [`Queue`](crate::Queue).

mod api;
mod fire;
pub(crate) mod cron_rule;
mod spec;
mod ticks;

pub use spec::{CronSpec, Fired, Missed, Schedule, ScheduleInfo, MAX_SCHEDULE_NAME};
pub(crate) use fire::fire_due;
#[cfg(feature = "testing")]
pub(crate) use fire::tick_jobs;
pub use ticks::SCHEDULE_GRACE;
