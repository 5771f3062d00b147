//! The drains the worker examples measure: the bench's no-op handler and payload, a bulk
//! dispatch of them, and a worker run until it ran them all. Included by `worker_instructions`
//! and `observed_parts`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use queue_core::{job, JobError, Keep, Queue};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// The bench's payload: `{"id": n, "email": "user<n>@example.com"}`.
#[derive(Serialize, Deserialize)]
pub(crate) struct Signup {
    id: u64,
    email: String,
}

/// The no-op handler, counting runs.
#[job(queue = "drains", concurrency = 50, attempts = 1)]
pub(crate) async fn counted_noop(_signup: Signup) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

/// Dispatches jobs `0..jobs` in batches of 1,000.
pub(crate) async fn dispatch(queue: &Queue, jobs: u64) {
    for start in (0..jobs).step_by(1000) {
        let batch = (start..(start + 1000).min(jobs)).map(|id| {
            counted_noop::job(Signup {
                id,
                email: format!("user{id}@example.com"),
            })
        });
        queue.dispatch_bulk(batch).await.expect("dispatch");
    }
}

/// Runs a worker until it ran `jobs` jobs, keeping what `keep` says.
pub(crate) async fn drain(queue: &Queue, jobs: u64, keep: Keep) {
    DONE.store(0, Ordering::SeqCst);
    TARGET.store(jobs, Ordering::SeqCst);
    let stop = Arc::new(Notify::new());
    let signal = stop.clone();
    let reached = REACHED.notified();
    let mut builder = queue.worker().handlers(["counted_noop"]);
    if !keep.is_nothing() {
        builder = builder.keep("counted_noop", keep);
    }
    let worker = tokio::spawn(builder.run_until(async move { signal.notified().await }));
    reached.await;
    // `notify_one` keeps the signal if the worker is not waiting yet.
    stop.notify_one();
    worker.await.expect("worker").expect("worker ran");
}
