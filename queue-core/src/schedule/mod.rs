//! Recurring jobs as data: a schedule's definition ([`Schedule`]), its state as storage reports
//! it, and its times (cron expression and time zone, due ticks under the missed-tick policy).
//! Storage keeps and fires them through [`Schedules`](crate::Schedules); the worker's
//! scheduler fires them; `Queue`'s schedule methods (`schedules.rs`) administer them.

pub(crate) mod cron_rule;
mod missed;
mod spec;
mod ticks;

pub use missed::Missed;
pub use spec::{CronSpec, Fired, Schedule, ScheduleInfo, MAX_SCHEDULE_NAME};
pub use ticks::SCHEDULE_GRACE;
