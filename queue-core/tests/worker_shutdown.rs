//! Graceful shutdown: running jobs get the grace period, the rest are requeued unspent.

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

static HELD: AtomicU32 = AtomicU32::new(0);
/// The order jobs of `holds` started in once `RELEASED`.
static ORDER: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());
static RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Holds its slot until the worker stops, or records its number once released.
#[job(queue = "shutdown-order", concurrency = 1200)]
async fn holds(n: u32) -> Result<(), JobError> {
    if RELEASED.load(Ordering::SeqCst) {
        ORDER.lock().unwrap().push(n);
        return Ok(());
    }
    HELD.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

/// More jobs than one requeue call takes (512) go back at shutdown, and run again in the
/// order they were dispatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_requeued_at_shutdown_keep_their_dispatch_order() {
    let queue = memory_queue();
    let jobs: Vec<_> = (0..1200).map(holds::job).collect();
    queue.dispatch_bulk(jobs).await.unwrap();
    let worker = start(
        queue
            .worker()
            .handlers(["holds"])
            .grace(Duration::from_millis(10)),
    );
    eventually(Duration::from_secs(10), || async {
        (HELD.load(Ordering::SeqCst) == 1200).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    let counts = queue.counts("shutdown-order").await.unwrap();
    assert_eq!((counts.ready, counts.active), (1200, 0));

    RELEASED.store(true, Ordering::SeqCst);
    let worker = start(queue.worker().handlers(["holds"]).concurrency("holds", 1));
    eventually(Duration::from_secs(10), || async {
        (ORDER.lock().unwrap().len() == 1200).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    let order = ORDER.lock().unwrap().clone();
    assert_eq!(order, (0..1200).collect::<Vec<u32>>());
}
