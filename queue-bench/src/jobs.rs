//! The benchmark's handlers, the counters they update, and a worker running in the background.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Keep, NewJob, Queue};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The payload of every throughput job: `{"id": n, "email": "user<n>@example.com"}`.
#[derive(Serialize, Deserialize)]
pub(crate) struct Signup {
    /// The job's number.
    id: u64,
    /// An address made from the number.
    email: String,
}

impl Signup {
    /// The payload of job `id`.
    pub(crate) fn new(id: u64) -> Self {
        Self {
            id,
            email: format!("user{id}@example.com"),
        }
    }

    /// Bytes of one payload on average over jobs `0..n`, as stored (JSON).
    pub(crate) fn average_len(n: u64) -> f64 {
        let total: usize = (0..n)
            .map(|id| serde_json::to_vec(&Self::new(id)).map_or(0, |v| v.len()))
            .sum();
        total as f64 / n.max(1) as f64
    }
}

/// Job `id` of the throughput phases, ready to dispatch in bulk.
pub(crate) fn signup(id: u64) -> NewJob {
    noop::job(Signup::new(id))
}

/// How many `noop` jobs have run since the last [`reset_done`].
static DONE: AtomicU64 = AtomicU64::new(0);
/// The count at which `noop` wakes [`until_done`].
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
/// Woken when `DONE` reaches `TARGET`.
static REACHED: Notify = Notify::const_new();

/// The no-op handler of the throughput phases.
#[job(queue = "bench", concurrency = 50, attempts = 1)]
pub(crate) async fn noop(_signup: Signup) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

/// How many `noop` jobs have run since the last [`reset_done`].
pub(crate) fn done() -> u64 {
    DONE.load(Ordering::SeqCst)
}

/// Starts counting `noop` runs from zero.
pub(crate) fn reset_done() {
    TARGET.store(u64::MAX, Ordering::SeqCst);
    DONE.store(0, Ordering::SeqCst);
}

/// Waits until `n` `noop` jobs have run since [`reset_done`]; a wake-up left over from an
/// earlier phase only re-checks.
pub(crate) async fn until_done(n: u64) {
    TARGET.store(n, Ordering::SeqCst);
    loop {
        let woken = REACHED.notified();
        if DONE.load(Ordering::SeqCst) >= n {
            return;
        }
        woken.await;
    }
}

/// The instant the latency clocks count from.
pub(crate) fn epoch() -> Instant {
    /// Set on first use.
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub(crate) fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Dispatch-to-start latencies recorded by `ping`.
pub(crate) static LATENCIES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
/// Lateness after the due time recorded by `due`.
pub(crate) static LATENESS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
/// Woken by `ping` and `due` once they recorded their sample.
pub(crate) static PINGED: Notify = Notify::const_new();

/// Records how long after its dispatch it started; the payload is the dispatch time.
#[job(queue = "bench-latency", concurrency = 1, attempts = 1)]
pub(crate) async fn ping(sent_ns: u64) -> Result<(), JobError> {
    let late = now_ns().saturating_sub(sent_ns);
    LATENCIES.lock().unwrap().push(Duration::from_nanos(late));
    PINGED.notify_one();
    Ok(())
}

/// Records how late it started after its due time; the payload is the due time.
#[job(queue = "bench-delayed", concurrency = 10, attempts = 1)]
pub(crate) async fn due(due_ns: u64) -> Result<(), JobError> {
    let late = now_ns().saturating_sub(due_ns);
    LATENESS.lock().unwrap().push(Duration::from_nanos(late));
    PINGED.notify_one();
    Ok(())
}

/// A worker running some handlers in a background task until [`BackgroundWorker::stop`].
#[derive(Debug)]
pub(crate) struct BackgroundWorker {
    /// Fired to stop it (`notify_one` keeps the signal if the worker is not waiting yet).
    stop: Arc<Notify>,
    /// The worker's task.
    task: JoinHandle<queue_core::Result<()>>,
}

impl BackgroundWorker {
    /// Starts a worker for the handlers with these job names, each keeping `keep` of its
    /// successes (nothing, for the bare runs).
    pub(crate) fn start(queue: &Queue, handlers: &[&str], keep: Keep) -> Self {
        let stop = Arc::new(Notify::new());
        let signal = stop.clone();
        let mut builder = queue.worker().handlers(handlers.iter().copied());
        if !keep.is_nothing() {
            for handler in handlers {
                builder = builder.keep(handler, keep);
            }
        }
        let worker = builder.run_until(async move { signal.notified().await });
        Self {
            stop,
            task: tokio::spawn(worker),
        }
    }

    /// Stops it and waits for its graceful shutdown (every running job settled).
    pub(crate) async fn stop(self) {
        self.stop.notify_one();
        self.task
            .await
            .expect("worker task panicked")
            .expect("worker failed");
    }
}
