//! The data that moves between dispatchers, drivers and workers, one file per kind: ids,
//! lanes, jobs being dispatched and what their dispatch reported, leases and reservations, and
//! what inspection reports and how it pages through jobs. Nothing here depends on the storage, the registry or the worker.

mod dispatched;
mod envelope;
mod id;
mod info;
mod keep;
mod lane;
mod lease;
mod limit;
mod name_rule;
pub(crate) use name_rule::name_problem;
mod new_job;
mod page;
mod rate_key;
mod shard;
mod stats;
mod unique;

pub use dispatched::Dispatched;
#[cfg(feature = "otel")]
pub(crate) use envelope::with_context;
pub use envelope::{
    strip_trace_context, MalformedPayload, StoredPayload, CONTEXT_MARK, MAX_CONTEXT_LEN,
};
pub use id::JobId;
pub use info::{from_unix_ms, unix_ms, AttemptError, Counts, JobInfo, JobState, MAX_ERRORS_KEPT};
pub use keep::{Completion, Keep};
pub use lane::{validate_name, Lane, MAX_NAME_LEN};
pub use lease::{Failure, Lease, Reservation, ReservedJob};
pub use limit::{LimitSpec, Rate};
pub(crate) use new_job::Name;
pub use new_job::{JobSpec, NewJob, MAX_DELAY};
pub use page::{Cursor, JobPage, JobQuery, LanePosition, Order, DEFAULT_PAGE, MAX_PAGE};
pub(crate) use rate_key::check_key;
pub use rate_key::{RateKey, MAX_RATE_KEY_LEN};
pub use shard::{parse_shard_queue, shard_queue, MAX_SHARDS};
pub(crate) use shard::{shard_for_key, shard_job_id, shard_of_id};
pub use stats::{unix_minute, MinuteCounts, QueueStats, RunCounts, STATS_MINUTES};
pub(crate) use unique::default_key;
pub use unique::{Unique, UniqueDefault, UniqueMode, DEFAULT_UNIQUE_FOR, MAX_UNIQUE_KEY_LEN};
