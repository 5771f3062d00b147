//! What storage keeps of jobs that succeeded: completed records by count and age, and
//! handlers' results for a while.

use std::time::Duration;

use bytes::Bytes;

use super::lease::Lease;

/// What storage keeps of a handler's successful jobs (`#[job(keep_completed = 1000,
/// keep_completed_for = "1d", keep_result = "1h")]`). The default keeps nothing: a successful
/// job is removed at once, and costs no more than that.
///
/// Completed jobs are kept per queue, newest first; the count and age given with each
/// completion trim the queue's completed jobs, so handlers sharing a queue should agree on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// Most completed jobs kept in the job's queue (0: none).
    pub completed: usize,
    /// How long completed jobs are kept (`None`: until pushed out by the count).
    pub completed_for: Option<Duration>,
    /// How long the handler's `Ok` value is kept, readable with `Queue::result` (`None`: not
    /// kept). Independent of the completed record: a result can outlive it.
    pub result_for: Option<Duration>,
}

impl Keep {
    /// Whether nothing is kept: successes are plain acks.
    pub const fn is_nothing(&self) -> bool {
        self.completed == 0 && self.result_for.is_none()
    }
}

/// A run that succeeded, for storage to complete: its lease and the handler's value (JSON) when
/// its handler keeps results.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The run's lease.
    pub lease: Lease,
    /// The handler's `Ok` value as JSON, when kept.
    pub result: Option<Bytes>,
}
