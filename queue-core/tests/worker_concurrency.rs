//! Each handler's pool runs at most its concurrency, and a busy handler never holds up another.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use queue_core::{job, JobError};
use support::{memory_queue, start, until_counts};
use tokio::sync::Semaphore;

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "conc", concurrency = 3)]
async fn limited(_n: u32) -> Result<(), JobError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_runs_at_most_its_concurrency_and_uses_all_of_it() {
    let queue = memory_queue();
    queue
        .dispatch_bulk((0..30).map(limited::job))
        .await
        .unwrap();
    let worker = start(queue.worker().handlers(["limited"]));
    until_counts(&queue, "conc", Duration::from_secs(10), |c| {
        c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(
        PEAK.load(Ordering::SeqCst),
        3,
        "exactly the configured concurrency at peak"
    );
}

/// Holds `stuck` runs until the test releases them.
static GATE: Semaphore = Semaphore::const_new(0);
static STUCK_STARTED: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "shared", concurrency = 2)]
async fn stuck(_n: u32) -> Result<(), JobError> {
    STUCK_STARTED.fetch_add(1, Ordering::SeqCst);
    GATE.acquire().await.expect("gate open").forget();
    Ok(())
}

#[job(queue = "shared", concurrency = 4)]
async fn quick(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_with_full_slots_does_not_block_another_on_the_same_queue() {
    let queue = memory_queue();
    queue.dispatch_bulk((0..6).map(stuck::job)).await.unwrap();
    let worker = start(
        queue
            .worker()
            .handlers(["stuck", "quick"])
            .concurrency("quick", 4),
    );
    // `stuck` fills its two slots and leaves four jobs waiting...
    support::eventually(Duration::from_secs(5), || async {
        (STUCK_STARTED.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    // ...while every `quick` job still runs.
    queue.dispatch_bulk((0..20).map(quick::job)).await.unwrap();
    let counts = until_counts(&queue, "shared", Duration::from_secs(5), |c| {
        c.pending() == 6
    })
    .await;
    assert_eq!((counts.active, counts.ready), (2, 4));
    assert_eq!(
        STUCK_STARTED.load(Ordering::SeqCst),
        2,
        "only two `stuck` runs at once"
    );
    GATE.add_permits(6);
    until_counts(&queue, "shared", Duration::from_secs(5), |c| {
        c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(STUCK_STARTED.load(Ordering::SeqCst), 6);
}
