//! Metrics through the `metrics` facade, recorded when [`Queue::with_metrics`] turned them on:
//! whatever recorder the program installed (Prometheus, StatsD, ...) receives them. Names follow
//! Prometheus conventions; every series is labelled with `queue` and `job`.
//!
//! [`Queue::with_metrics`]: crate::Queue::with_metrics

use std::sync::Mutex;
use std::time::Duration;

use metrics::{Counter, Histogram};

use crate::job::Lane;
use crate::observe::Ending;

/// Jobs stored by dispatch (counter).
pub const DISPATCHED: &str = "queue_jobs_dispatched_total";
/// Runs that succeeded (counter).
pub const COMPLETED: &str = "queue_jobs_completed_total";
/// Runs that failed and ended in the failed list (counter).
pub const FAILED: &str = "queue_jobs_failed_total";
/// Runs that failed and will be retried (counter).
pub const RETRIED: &str = "queue_jobs_retried_total";
/// Runs stopped because their lease was lost (counter).
pub const LEASE_LOST: &str = "queue_jobs_lease_lost_total";
/// Jobs failed as poison after losing their lease too often (counter).
pub const POISONED: &str = "queue_jobs_poisoned_total";
/// Counter: runs stopped because their job was cancelled.
pub const CANCELLED: &str = "queue_jobs_cancelled_total";
/// Settlements (acks, failures, requeues) the storage refused because the lease had ended
/// (counter).
pub const ACKS_REFUSED: &str = "queue_acks_refused_total";
/// How long runs took, in seconds, whatever their outcome (histogram).
pub const RUN_SECONDS: &str = "queue_job_run_seconds";
/// How long jobs waited, in seconds, from becoming ready (dispatched, due after a delay or
/// retry delay, or returned to their lane) until a worker took them (histogram).
pub const WAIT_SECONDS: &str = "queue_job_wait_seconds";
/// Upper bounds, in seconds, that suit the `_seconds` histograms ([`RUN_SECONDS`],
/// [`WAIT_SECONDS`]): from a millisecond to half a minute. A recorder given buckets renders
/// those series as histograms, which Prometheus can aggregate across workers; e.g.
/// `PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()),
/// &SECONDS_BUCKETS)`.
pub const SECONDS_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];
/// Jobs in each state (gauge; label `state`), sampled by workers every few seconds.
pub const JOBS: &str = "queue_jobs";
/// Live workers seen by the storage (gauge), sampled by workers.
pub const WORKERS: &str = "queue_workers_live";
/// Seconds since the oldest job at the head of a queue's lanes was created, 0 when none is
/// ready (gauge; label `queue`), sampled by workers when the storage keeps statistics.
pub const OLDEST_READY_AGE: &str = "queue_oldest_ready_age_seconds";

/// One lane's metric handles, registered once with the installed recorder.
#[derive(Debug)]
pub(crate) struct LaneMetrics {
    completed: Counter,
    failed: Counter,
    retried: Counter,
    lease_lost: Counter,
    cancelled: Counter,
    acks_refused: Counter,
    poisoned: Counter,
    run_seconds: Histogram,
    wait_seconds: Histogram,
}

impl LaneMetrics {
    pub(crate) fn new(lane: &Lane) -> Self {
        let labels = labels(lane);
        Self {
            completed: metrics::counter!(COMPLETED, &labels),
            failed: metrics::counter!(FAILED, &labels),
            retried: metrics::counter!(RETRIED, &labels),
            lease_lost: metrics::counter!(LEASE_LOST, &labels),
            cancelled: metrics::counter!(CANCELLED, &labels),
            acks_refused: metrics::counter!(ACKS_REFUSED, &labels),
            poisoned: metrics::counter!(POISONED, &labels),
            run_seconds: metrics::histogram!(RUN_SECONDS, &labels),
            wait_seconds: metrics::histogram!(WAIT_SECONDS, &labels),
        }
    }

    pub(crate) fn run_ended(&self, took: Duration, ending: &Ending<'_>) {
        let counter = match ending {
            Ending::Completed => &self.completed,
            Ending::Retrying { .. } => &self.retried,
            Ending::Failed { .. } => &self.failed,
            Ending::LeaseLost => &self.lease_lost,
            Ending::Cancelled => &self.cancelled,
            Ending::Requeued => return,
        };
        counter.increment(1);
        self.run_seconds.record(took.as_secs_f64());
    }

    /// Records the time of a run that completed, counted apart with [`LaneMetrics::completed`]
    /// (together with the runs that ended with it).
    pub(crate) fn run_took(&self, took: Duration) {
        self.run_seconds.record(took.as_secs_f64());
    }

    /// Counts `count` runs that completed.
    pub(crate) fn completed(&self, count: u64) {
        self.completed.increment(count);
    }

    pub(crate) fn acks_refused(&self, count: usize) {
        self.acks_refused.increment(count as u64);
    }

    pub(crate) fn waited(&self, waited: Duration) {
        self.wait_seconds.record(waited.as_secs_f64());
    }

    pub(crate) fn poisoned(&self, count: usize) {
        self.poisoned.increment(count as u64);
    }
}

/// The `queue` and `job` labels of a lane.
pub(crate) fn labels(lane: &Lane) -> [(&'static str, String); 2] {
    [
        ("queue", lane.queue().to_string()),
        ("job", lane.job().to_string()),
    ]
}

/// Lanes whose dispatched counter a queue keeps at most; past that, further lanes' counters are
/// looked up at each dispatch.
const DISPATCH_COUNTERS: usize = 256;

/// The dispatched counters of the lanes a queue dispatched to, each registered with the
/// installed recorder once, so a dispatch builds no label set.
#[derive(Debug, Default)]
pub(crate) struct DispatchCounters(Mutex<Vec<(Lane, Counter)>>);

impl DispatchCounters {
    /// Counts `count` jobs dispatched to lane (`queue`, `job`).
    pub(crate) fn add(&self, queue: &str, job: &str, count: u64) {
        let mut counters = self.0.lock().expect("dispatch counters lock");
        if let Some((_, counter)) = counters
            .iter()
            .find(|(lane, _)| lane.queue() == queue && lane.job() == job)
        {
            counter.increment(count);
            return;
        }
        let counter =
            metrics::counter!(DISPATCHED, "queue" => queue.to_string(), "job" => job.to_string());
        counter.increment(count);
        if counters.len() < DISPATCH_COUNTERS {
            counters.push((Lane::unchecked(queue, job), counter));
        }
    }
}

/// Sets the state gauges of `queue`.
pub(crate) fn depth(queue: &str, counts: &crate::job::Counts) {
    for (state, value) in [
        ("ready", counts.ready),
        ("scheduled", counts.scheduled),
        ("active", counts.active),
        ("failed", counts.failed),
    ] {
        metrics::gauge!(JOBS, "queue" => queue.to_string(), "state" => state).set(value as f64);
    }
}

/// Sets `queue`'s oldest-ready-age gauge to `age` seconds.
pub(crate) fn oldest_ready_age(queue: &str, age: Duration) {
    metrics::gauge!(OLDEST_READY_AGE, "queue" => queue.to_string()).set(age.as_secs_f64());
}

/// Sets the live-workers gauge.
pub(crate) fn workers(count: usize) {
    metrics::gauge!(WORKERS).set(count as f64);
}
