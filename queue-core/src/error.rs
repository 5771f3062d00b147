//! The crate's error type and the error type handlers return.

use std::fmt;
use std::time::Duration;

use crate::job::{Dispatched, NewJob};

/// A boxed error, as handlers and drivers hand them over.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while dispatching, storing or running jobs.
///
/// Messages name the thing at fault, e.g. "no handler registered for job `send_email`".
/// [`Error::is_retryable`] tells whether the same call may succeed later (a storage outage) or
/// will fail again as it is (a bad name, an oversized payload).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `#[job]` handler with this name is linked into the program.
    #[error("no handler registered for job `{name}`")]
    UnknownJob {
        /// The job name that was asked for.
        name: String,
    },
    /// Two handlers were registered under one job name.
    #[error("job `{name}` is registered twice: by `{first}` and by `{second}`")]
    DuplicateJob {
        /// The job name both handlers claim.
        name: String,
        /// Where the first handler is defined (`module::function`).
        first: String,
        /// Where the second handler is defined (`module::function`).
        second: String,
    },
    /// A handler takes `Data<T>` but no value of type `T` was registered on the worker.
    #[error("handler for job `{job}` needs state of type `{type_name}`; register it with `WorkerBuilder::state`")]
    MissingState {
        /// The job whose handler needs the state.
        job: String,
        /// The Rust type that is missing.
        type_name: &'static str,
    },
    /// A payload could not be turned into JSON.
    #[error("payload of job `{job}` could not be serialized: {source}")]
    Serialize {
        /// The job being dispatched.
        job: String,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A payload dispatched by name does not decode as its handler's payload type.
    #[error("payload of job `{job}` does not match handler `{handler}`: {source}")]
    InvalidPayload {
        /// The job being dispatched.
        job: String,
        /// The handler it was checked against.
        handler: &'static str,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
    /// A payload is larger than the queue accepts.
    #[error("payload of job `{job}` is {size} bytes, over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The job being dispatched.
        job: String,
        /// The payload's size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A queue name, job name or job id is not acceptable.
    #[error("invalid {what} `{value}`: {reason}")]
    InvalidName {
        /// "queue name", "job name" or "job id".
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A connection URL could not be used.
    #[error("invalid queue url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The storage could not be reached or answered with an error.
    #[error("storage unavailable at `{url}`: {source}")]
    Unavailable {
        /// The URL with any password replaced by `***`.
        url: String,
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// The storage answered something the driver cannot make sense of.
    #[error("storage error: {source}")]
    Storage {
        /// The underlying failure.
        #[source]
        source: BoxError,
    },
    /// A dispatch of several jobs failed after some of them were stored: nothing is stored
    /// silently. `stored` says which were (by position in the dispatch), `not_stored` hands
    /// back the others to dispatch again. A job of `not_stored` whose call timed out may have
    /// been stored anyway; jobs dispatched with a chosen id ([`NewJob::id`]) are never stored
    /// twice, so dispatching them again is safe.
    #[error("{} of {} jobs were stored before the dispatch failed: {source}", stored.len(), stored.len() + not_stored.len())]
    PartlyStored {
        /// The jobs that were stored, each with its position in the dispatch.
        stored: Vec<(usize, Dispatched)>,
        /// The jobs not stored (or not known to be), each with its position in the dispatch.
        not_stored: Vec<(usize, NewJob)>,
        /// Why the rest was not stored.
        #[source]
        source: Box<Error>,
    },
    /// A durable dispatch (a driver option) stored its jobs on the primary, but fewer replicas
    /// than asked confirmed them in time. The jobs exist and will run unless the primary fails
    /// before they reach a replica; a dispatch again with the same chosen ids cannot store them
    /// twice.
    #[error(
        "{} jobs were stored on the primary but only {confirmed} of {wanted} replicas confirmed \
         them within {waited:?}: they are lost if the primary fails before replicating them",
        stored.len()
    )]
    NotReplicated {
        /// What became of each job, as a successful dispatch would have reported it.
        stored: Vec<Dispatched>,
        /// Replicas that confirmed the writes.
        confirmed: u32,
        /// Replicas asked for.
        wanted: u32,
        /// How long the dispatch waited for them.
        waited: Duration,
    },
    /// A job with this id does not exist in that queue.
    #[error("job `{id}` not found in queue `{queue}`")]
    JobNotFound {
        /// The queue searched.
        queue: String,
        /// The id looked for.
        id: String,
    },
    /// The storage driver does not offer what was asked (inspection, administration, ...).
    #[error("{capability} is not supported by this driver ({driver})")]
    Unsupported {
        /// What was asked for, e.g. "inspection and administration".
        capability: &'static str,
        /// The driver, as its `Debug` output names it.
        driver: String,
    },
    /// A job listing was asked for with a page size out of range or a cursor it did not make.
    #[error("invalid job query: {reason}")]
    InvalidQuery {
        /// What is wrong, naming the bound or the cursor.
        reason: String,
    },
    /// A rate or concurrency limit that cannot be kept (a zero count, a malformed rate).
    #[error("invalid limit `{spec}`: {reason}")]
    InvalidLimit {
        /// The limit as given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A keyed handler's job whose rate key cannot be computed or is not allowed.
    #[error("invalid rate key for job `{job}`: {reason}")]
    InvalidRateKey {
        /// The job name.
        job: String,
        /// What is wrong.
        reason: String,
    },
    /// A worker was configured in a way it cannot run.
    #[error("invalid worker configuration: {reason}")]
    InvalidConfig {
        /// What is wrong, naming the handler or option.
        reason: String,
    },
    /// A schedule's cron expression, time zone, policy or payload is not valid.
    #[error("invalid schedule `{name}`: {reason}")]
    InvalidSchedule {
        /// The schedule's name.
        name: String,
        /// What is wrong, naming the expression, zone or policy.
        reason: String,
    },
    /// A schedule was added under a name its queue already has.
    #[error("schedule `{name}` already exists in queue `{queue}`; replace it to change it")]
    ScheduleExists {
        /// The queue.
        queue: String,
        /// The schedule's name.
        name: String,
    },
    /// No schedule of this name exists in that queue.
    #[error("schedule `{name}` not found in queue `{queue}`")]
    ScheduleNotFound {
        /// The queue.
        queue: String,
        /// The schedule's name.
        name: String,
    },
    /// A job whose result was awaited went to the failed list instead.
    #[error("job `{id}` in queue `{queue}` failed: {error}")]
    JobFailed {
        /// The queue.
        queue: String,
        /// The job's id.
        id: String,
        /// Its last error.
        error: String,
    },
    /// A job whose result was awaited ended without one: it completed without a kept result, or
    /// no longer exists.
    #[error("job `{id}` in queue `{queue}` has no result: {reason}")]
    NoResult {
        /// The queue.
        queue: String,
        /// The job's id.
        id: String,
        /// Why none will come.
        reason: String,
    },
    /// A job's result was awaited longer than allowed.
    #[error("no result for job `{id}` in queue `{queue}` within {waited:?} (its state: {state})")]
    ResultTimeout {
        /// The queue.
        queue: String,
        /// The job's id.
        id: String,
        /// How long it was awaited.
        waited: Duration,
        /// Its state when the wait ended, or "gone" when it no longer exists.
        state: String,
    },
    /// A workflow or batch that cannot be stored or changed as asked: a cycle, an unknown
    /// prerequisite, a step name used twice, an id in use, a step that has ended.
    #[error("invalid workflow `{flow}`: {reason}")]
    InvalidWorkflow {
        /// The workflow's id.
        flow: String,
        /// What is wrong, naming the step.
        reason: String,
    },
}

impl Error {
    /// True when the same call may succeed later without any change (the storage was unreachable).
    ///
    /// For [`Error::PartlyStored`], whether dispatching its `not_stored` jobs again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::PartlyStored { source, .. } => source.is_retryable(),
            _ => false,
        }
    }

    /// Wraps a driver failure that is not a connectivity problem.
    pub fn storage(source: impl Into<BoxError>) -> Self {
        Error::Storage {
            source: source.into(),
        }
    }
}

/// How a handler failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Retry with the handler's backoff while attempts remain.
    Retry,
    /// Retry after this delay, ignoring the handler's backoff.
    RetryAfter(Duration),
    /// Never retry: move the job to the failed list now.
    Fatal,
    /// Rate limited: put the job back for this long without spending the attempt, and pause
    /// the lane's limited reserves as long.
    RateLimited(Duration),
}

/// The error a job handler returns.
///
/// Handlers may return any error type that implements `Display`; it becomes a `JobError` that
/// retries with the handler's backoff. Return a `JobError` built with [`JobError::fatal`] to skip the
/// remaining attempts, or with [`JobError::retry_after`] to choose the next attempt's delay.
pub struct JobError {
    disposition: Disposition,
    source: BoxError,
}

impl JobError {
    /// A failure retried with the handler's backoff while attempts remain.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Retry,
            source: error.into(),
        }
    }

    /// A failure that moves the job to the failed list at once, whatever attempts remain.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Fatal,
            source: error.into(),
        }
    }

    /// A failure retried after `delay` (if attempts remain) instead of the handler's backoff.
    pub fn retry_after(error: impl Into<BoxError>, delay: Duration) -> Self {
        Self {
            disposition: Disposition::RetryAfter(delay),
            source: error.into(),
        }
    }

    /// "Rate limited, retry after `delay`" (e.g. on an HTTP 429): the job goes back, to run
    /// again after `delay`, *without spending an attempt*, and when the handler declares a
    /// limit (`rate` or `global_concurrency`) its lane pauses for `delay` on every worker. On a
    /// driver without limits the job is retried after `delay` as a failed attempt.
    pub fn rate_limited(delay: Duration) -> Self {
        Self {
            disposition: Disposition::RateLimited(delay),
            source: Message(format!("rate limited; retry after {delay:?}")).into(),
        }
    }

    /// The pause asked with [`JobError::rate_limited`], if any.
    pub fn rate_limit(&self) -> Option<Duration> {
        match self.disposition {
            Disposition::RateLimited(delay) => Some(delay),
            _ => None,
        }
    }

    /// True for errors made with [`JobError::fatal`].
    pub fn is_fatal(&self) -> bool {
        self.disposition == Disposition::Fatal
    }

    /// The delay chosen with [`JobError::retry_after`], if any.
    pub fn retry_delay(&self) -> Option<Duration> {
        match self.disposition {
            Disposition::RetryAfter(delay) => Some(delay),
            _ => None,
        }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobError")
            .field("disposition", &self.disposition)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// An error that only carries a message, for failures described by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message(pub(crate) String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl JobError {
    /// A retryable failure described by a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::retry(Message(message.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_error_kinds() {
        let e = JobError::fatal(Message("bad input".into()));
        assert!(e.is_fatal());
        assert_eq!(e.to_string(), "bad input");
        let e = JobError::retry_after(Message("busy".into()), Duration::from_secs(3));
        assert!(!e.is_fatal());
        assert_eq!(e.retry_delay(), Some(Duration::from_secs(3)));
        assert_eq!(JobError::msg("x").retry_delay(), None);
    }

    #[test]
    fn messages_name_the_thing() {
        let e = Error::UnknownJob {
            name: "send_email".into(),
        };
        assert_eq!(e.to_string(), "no handler registered for job `send_email`");
        assert!(!e.is_retryable());
    }
}
