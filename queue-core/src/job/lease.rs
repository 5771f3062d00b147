//! Reservations, their leases and how a run ends.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::id::JobId;
use super::new_job::MAX_DELAY;

/// A reservation's proof of ownership: the job id and the fencing token the driver issued.
///
/// Drivers refuse to ack, fail, renew or requeue with a token that is no longer current, so a
/// worker that lost its lease can never settle a job a second time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job's id.
    pub id: JobId,
    /// The token of this reservation.
    pub token: u64,
}

/// A job handed to a worker by [`Driver::reserve`](crate::Driver::reserve).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReservedJob {
    /// The job's id.
    pub id: JobId,
    /// The fencing token of this reservation.
    pub token: u64,
    /// The JSON payload as dispatched.
    pub payload: Bytes,
    /// This run's number, from 1; the reservation already counted it.
    pub attempt: u32,
    /// The number of runs the job may have.
    pub max_attempts: u32,
    /// How long the job had been ready (since its dispatch, the end of its delay or retry
    /// delay, or its return to the lane) when this reservation took it, when the driver knows.
    /// Measured on the driver's clock, or between the clocks of the process that made it ready
    /// and the worker (the Redis driver, for jobs dispatched without a delay).
    pub waited: Option<Duration>,
    /// When the storage started this run: the time its reserve leased the job, by the
    /// driver's clock (the Redis server's, carried in the lease's token), in whole
    /// milliseconds. It is the start [`JobInfo::started_at`](crate::JobInfo::started_at)
    /// reports while the run goes on and the time a rate limit counts the start at, so starts
    /// read from it keep to the limit in every window, whatever delayed the reply on its way
    /// to the worker. The jobs of one reservation share it; a later run of the job has a later
    /// one. `None` when the driver does not report it (the drivers of this workspace do).
    pub started_at: Option<SystemTime>,
}

impl ReservedJob {
    /// A reserved job as a driver hands it out.
    pub fn new(id: JobId, token: u64, payload: Bytes, attempt: u32, max_attempts: u32) -> Self {
        Self {
            id,
            token,
            payload,
            attempt,
            max_attempts,
            waited: None,
            started_at: None,
        }
    }

    /// Sets how long the job had been ready when it was reserved.
    pub fn waited(mut self, waited: Duration) -> Self {
        self.waited = Some(waited);
        self
    }

    /// Sets when the storage started this run ([`ReservedJob::started_at`]).
    pub fn started_at(mut self, at: SystemTime) -> Self {
        self.started_at = Some(at);
        self
    }

    /// This reservation's lease.
    pub fn lease(&self) -> Lease {
        Lease {
            id: self.id.clone(),
            token: self.token,
        }
    }
}

/// The answer of [`Driver::reserve`](crate::Driver::reserve).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Reservation {
    /// The jobs now leased to the caller, in the order they should start.
    pub jobs: Vec<ReservedJob>,
    /// When fewer jobs than asked were available: how long until a scheduled job of the lane
    /// comes due or an active lease expires, if any. Workers sleep at most this long.
    pub next_due: Option<Duration>,
    /// Jobs of the lane that this call, reaping expired leases, moved to the failed list as
    /// poison (they lost their lease too often), each with the attempt it failed at. Rare:
    /// usually empty, and then it costs nothing.
    pub poisoned: Vec<(JobId, u32)>,
}

/// How a failed run ends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The error message to record with the job.
    pub error: String,
    /// `Some(delay)`: run again after `delay` (drivers take a longer one as [`MAX_DELAY`]).
    /// `None`: move the job to the failed list.
    pub retry_in: Option<Duration>,
}

impl Failure {
    /// Schedules the job to run again after `delay` (at most [`MAX_DELAY`]).
    pub fn retry(error: impl Into<String>, delay: Duration) -> Self {
        Self {
            error: error.into(),
            retry_in: Some(delay.min(MAX_DELAY)),
        }
    }

    /// Moves the job to the failed list.
    pub fn fail(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            retry_in: None,
        }
    }
}
