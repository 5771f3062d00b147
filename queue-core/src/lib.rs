#![doc = include_str!("../README.md")]

mod backoff;
mod cancel;
mod context;
mod driver;
mod error;
mod event_log;
pub mod flow;
pub mod hash;
mod inspect;
mod job;
mod json;
mod keyed_limits;
pub mod observe;
mod presence;
mod queue;
mod registry;
mod results;
mod run;
mod schedule;
mod schedules;
mod sharding;
mod stats;
mod worker;

#[cfg(feature = "testing")]
pub mod testing;

pub use backoff::Backoff;
pub use context::{Data, FromContext, JobContext, Requirement, State};
pub use driver::{
    Admin, Cancel, CancelOutcome, Capabilities, Driver, EventLog, Limits, Presence, Retention,
    Schedules, Stats, UniqueJobs, CANCELLED_ERROR, DEFAULT_MAX_LOST_LEASES,
};
pub use error::{BoxError, Error, JobError, Result};
pub use flow::{Batch, Dep, FlowId, FlowInfo, OnFailure, Workflow, Workflows};
pub use job::{
    from_unix_ms, unix_ms, validate_name, Completion, Counts, Cursor, Dispatched, Failure, JobId,
    JobInfo, JobPage, JobQuery, JobSpec, JobState, Keep, Lane, LanePosition, Lease, LimitSpec,
    NewJob, Order, Rate, RateKey, Reservation, ReservedJob, DEFAULT_PAGE, MAX_DELAY, MAX_NAME_LEN,
    MAX_PAGE, MAX_RATE_KEY_LEN,
};
pub use job::{parse_shard_queue, shard_queue, MAX_SHARDS};
pub use job::{
    strip_trace_context, MalformedPayload, StoredPayload, CONTEXT_MARK, MAX_CONTEXT_LEN,
};
pub use job::{unix_minute, MinuteCounts, QueueStats, RunCounts, STATS_MINUTES};
pub use job::{AttemptError, MAX_ERRORS_KEPT};
pub use job::{Unique, UniqueDefault, UniqueMode, DEFAULT_UNIQUE_FOR, MAX_UNIQUE_KEY_LEN};
pub use keyed_limits::KeyedLimits;
pub use observe::events::{Event, EventKind, Events, DEFAULT_EVENT_BUFFER};
pub use observe::follow::EventStream;
pub use observe::log::{EventLogStats, DEFAULT_EVENT_LOG_LEN};
pub use observe::record::EventRecord;
pub use presence::{LaneLoad, Unserved, WorkerPresence, HEARTBEAT_EVERY, HEARTBEAT_TTL};
pub use queue::{
    redact_url, ConnectFn, Dispatch, DriverFactory, Queue, DEFAULT_MAX_PAYLOAD, URL_ENV,
};
pub use registry::{
    definitions, JobDefinition, DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, DEFAULT_KEPT_COMPLETED,
    DEFAULT_QUEUE,
};
pub use schedule::{
    CronSpec, Fired, Missed, Schedule, ScheduleInfo, MAX_SCHEDULE_NAME, SCHEDULE_GRACE,
};
pub use worker::{
    shutdown_signal, Worker, WorkerBuilder, WorkerStats, DEFAULT_GRACE, DEFAULT_LEASE,
    DEFAULT_SCHEDULE_REFRESH,
};

/// Turns an `async fn` into a job handler; see the crate documentation.
pub use queue_macros::job;

/// The few items most programs need: `job`, `Queue`, `JobContext`, `JobError`, `Data`.
pub mod prelude {
    pub use crate::{job, Data, JobContext, JobError, Queue};
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
