//! Graceful shutdown: running jobs get the grace period, the rest are requeued unspent.

#[path = "shared/shutdown_order.rs"]
mod shutdown_order;
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, JobError, JobState};
use support::{eventually, memory_queue, start, until_counts};

static STARTED: AtomicU32 = AtomicU32::new(0);
static FINISHED: AtomicU32 = AtomicU32::new(0);

/// Runs for `ms` milliseconds.
#[job(queue = "shutdown", concurrency = 4)]
async fn takes(ms: u64) -> Result<(), JobError> {
    STARTED.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    FINISHED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn shutdown_lets_short_jobs_finish_and_requeues_long_ones_without_spending_an_attempt() {
    let queue = memory_queue();
    let short = takes::dispatch(&queue, 50).await.unwrap().id;
    let long = takes::dispatch(&queue, 60_000).await.unwrap().id;
    let worker = start(
        queue
            .worker()
            .handlers(["takes"])
            .grace(Duration::from_millis(300)),
    );
    eventually(Duration::from_secs(5), || async {
        (STARTED.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let began = std::time::Instant::now();
    worker.shutdown().await.unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "waited for the grace period ({took:?})"
    );
    assert!(
        took < Duration::from_secs(5),
        "did not wait for the long job ({took:?})"
    );
    assert_eq!(
        FINISHED.load(Ordering::SeqCst),
        1,
        "the short job finished within the grace period"
    );
    assert!(
        queue.job("shutdown", &short).await.unwrap().is_none(),
        "the short job was acked"
    );
    let info = queue.job("shutdown", &long).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Ready, "the long job is back in line");
    assert_eq!(info.attempts, 0, "requeueing on shutdown spends no attempt");

    // A new worker picks the requeued job up again.
    STARTED.store(0, Ordering::SeqCst);
    let worker = start(
        queue
            .worker()
            .handlers(["takes"])
            .grace(Duration::from_millis(10)),
    );
    eventually(Duration::from_secs(5), || async {
        (STARTED.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let counts = until_counts(&queue, "shutdown", Duration::from_secs(5), |c| {
        c.active == 1
    })
    .await;
    assert_eq!(counts.ready, 0);
    worker.shutdown().await.unwrap();
}

/// More jobs than one requeue call takes go back at shutdown, and run again in dispatch order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_requeued_at_shutdown_keep_their_dispatch_order() {
    shutdown_order::requeued_at_shutdown_keep_dispatch_order(memory_queue()).await;
}

/// A pool running one job at a time starts them in dispatch order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_at_a_time_runs_in_dispatch_order() {
    shutdown_order::one_at_a_time_in_dispatch_order(memory_queue()).await;
}
