#![doc = include_str!("../README.md")]

mod check;
mod config;
mod event;
mod record;
mod task;

pub use check::{check, pair_runs, Ending, Expectations, Kind, Problem, Report, Run};
pub use config::{
    WorkerConfig, CONCURRENCY_ENV, DEFAULT_CONCURRENCY, GRACE_ENV, HISTORY_ENV,
    KILL_AFTER_SUCCESS_ENV, LEASE_ENV, URL_ENV,
};
pub use event::{now_us, parse_history, Event, Outcome};
pub use record::{Recorder, RunRecord};
pub use task::{fault_task, Action, Bench, Task, QUEUE};
