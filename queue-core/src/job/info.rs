//! What inspection reports about a job and a queue.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::envelope::{strip_trace_context, MalformedPayload, StoredPayload};
use super::id::JobId;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for its due time (delayed, or backing off before a retry).
    Scheduled,
    /// Waiting for a worker.
    Ready,
    /// Leased to a worker.
    Active,
    /// Out of attempts, or failed fatally; kept until retried, deleted or trimmed.
    Failed,
    /// Succeeded, and kept because its handler keeps completed jobs ([`Keep`](crate::Keep)).
    Completed,
    /// Cancelled while it ran ([`Cancel`](crate::Cancel)): kept in the failed list, listed with
    /// the failed jobs, never retried unless retried from there.
    Cancelled,
}

/// Everything stored about one job, for inspection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// The queue holding it.
    pub queue: String,
    /// The job name.
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// The payload as stored: its JSON, behind the trace context of its dispatch when it
    /// carries one (see [`StoredPayload`]; [`JobInfo::payload_json`] and
    /// [`strip_trace_context`](crate::strip_trace_context) give the JSON alone).
    pub payload: Bytes,
    /// Handler runs started so far (a run whose lease was lost is not counted).
    pub attempts: u32,
    /// Runs allowed.
    pub max_attempts: u32,
    /// Its priority.
    pub priority: i8,
    /// When it was dispatched.
    pub created_at: SystemTime,
    /// When it failed for good, for failed jobs.
    pub failed_at: Option<SystemTime>,
    /// The last error a run reported.
    pub last_error: Option<String>,
    /// The errors of its failed runs and lost leases, oldest first: the last
    /// [`MAX_ERRORS_KEPT`]. A retry from the failed list keeps them.
    pub errors: Vec<AttemptError>,
    /// The last progress its handler reported.
    pub progress: Option<serde_json::Value>,
    /// How many times a worker lost the job's lease (it stopped or lost its connection while
    /// running the job). These runs are not attempts; a job that loses its lease too often is
    /// failed as poison (see [`Driver`](crate::Driver)). Reset by a retry from the failed list.
    pub lost_leases: u32,
    /// When it succeeded, for completed jobs.
    pub finished_at: Option<SystemTime>,
    /// When its first run started, once a run started and the storage recorded it: while the
    /// first run goes on, once a run ended without success (failed, retried, lost its lease
    /// or handed back at shutdown), or once it completed and is kept as completed.
    pub first_started_at: Option<SystemTime>,
    /// When its latest run started: the running one's, while active; else that of the latest
    /// run recorded as for [`first_started_at`](JobInfo::first_started_at) (for a completed job,
    /// the run that completed).
    pub started_at: Option<SystemTime>,
    /// The fencing token of its lease, while active.
    pub token: Option<u64>,
    /// The worker running it (its id, `host:pid:n`), while active and listed by the driver's
    /// records of live workers; filled by [`Queue::job`](crate::Queue::job).
    pub held_by: Option<String>,
    /// The handler's `Ok` value as JSON, while kept ([`Keep::result_for`](crate::Keep)).
    pub result: Option<Bytes>,
}

impl JobInfo {
    /// A job record as a driver reports it; the optional fields start empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: JobId,
        queue: String,
        name: String,
        state: JobState,
        payload: Bytes,
        attempts: u32,
        max_attempts: u32,
        priority: i8,
        created_at: SystemTime,
    ) -> Self {
        Self {
            id,
            queue,
            name,
            state,
            payload,
            attempts,
            max_attempts,
            priority,
            created_at,
            failed_at: None,
            last_error: None,
            errors: Vec::new(),
            progress: None,
            lost_leases: 0,
            finished_at: None,
            first_started_at: None,
            started_at: None,
            token: None,
            held_by: None,
            result: None,
        }
    }

    /// The payload parsed as JSON, without the trace context it may carry (`Null` if it is
    /// not JSON).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(strip_trace_context(&self.payload))
            .unwrap_or(serde_json::Value::Null)
    }

    /// The stored payload read apart: its JSON and the trace context of its dispatch, if any.
    pub fn stored_payload(&self) -> Result<StoredPayload<'_>, MalformedPayload> {
        StoredPayload::parse(&self.payload)
    }
}

/// Most errors a job's history keeps ([`JobInfo::errors`]); older ones are dropped.
pub const MAX_ERRORS_KEPT: usize = 10;

/// The error of one failed run of a job, or of a run whose lease was lost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttemptError {
    /// The run's attempt number, from 1 (a lost lease counts under the attempt it was running).
    pub attempt: u32,
    /// When storage recorded the error.
    pub at: SystemTime,
    /// The error message.
    pub error: String,
    /// When the run started, when the storage knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<SystemTime>,
}

impl AttemptError {
    /// The error `error` of attempt `attempt`, recorded at `at`.
    pub fn new(attempt: u32, at: SystemTime, error: impl Into<String>) -> Self {
        Self {
            attempt,
            at,
            error: error.into(),
            started_at: None,
        }
    }

    /// Sets when the run started.
    pub fn started(mut self, at: SystemTime) -> Self {
        self.started_at = Some(at);
        self
    }
}

/// How many jobs of a queue are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Kept after success ([`Keep`](crate::Keep)).
    pub completed: u64,
    /// Waiting for their due time.
    pub scheduled: u64,
    /// Waiting for a worker.
    pub ready: u64,
    /// Leased to workers.
    pub active: u64,
    /// In the failed list.
    pub failed: u64,
    /// Whether the queue is paused.
    pub paused: bool,
}

impl Counts {
    /// Jobs not yet finished: scheduled, ready and active.
    pub fn pending(&self) -> u64 {
        self.scheduled + self.ready + self.active
    }
}

/// Milliseconds since the Unix epoch, the time unit drivers store.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `SystemTime` of a Unix-epoch millisecond timestamp.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}
