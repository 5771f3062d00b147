//! Reserves sent ahead that never answer by the time a worker stops: the successes they
//! carried to ack may not have been acked, and the worker counts them as dropped settlements
//! (their jobs may run again once the storage reaps them) rather than losing track of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Driver, JobError, Lane, Lease, Queue, Reservation, Result};
use queue_memory::MemoryDriver;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

/// The memory driver's hot path, reserves answering after a millisecond (so a pool of quick
/// jobs reserves ahead), except that once `hang` is set a reserve carrying acks answers only
/// after 5 s, with an error.
/// Counts the acks such reserves carried.
#[derive(Debug, Default)]
struct UnansweredAhead {
    inner: MemoryDriver,
    hang: AtomicBool,
    carried: AtomicU64,
}

#[async_trait]
impl Hooks for UnansweredAhead {
    fn inner(&self) -> &MemoryDriver {
        &self.inner
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if self.hang.load(Ordering::SeqCst) && !done.is_empty() {
            self.carried.fetch_add(done.len() as u64, Ordering::SeqCst);
            // Long past the worker's wait for replies at shutdown (a lease); an end all the
            // same, should the pool have waited for this one alone.
            tokio::time::sleep(Duration::from_secs(5)).await;
            return Err(queue_core::Error::storage("no answer"));
        }
        self.inner.ack_and_reserve(lane, done, max, lease).await
    }
}

/// Ends in its first poll, so a pool of them reserves ahead.
#[job(queue = "unanswered")]
async fn instant(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_on_reserves_that_never_answered_are_counted_as_dropped() {
    let driver = Arc::new(Hooked(UnansweredAhead::default()));
    let queue = Queue::new(driver.clone());
    for chunk in (0..100_000u32).collect::<Vec<_>>().chunks(1_000) {
        queue
            .dispatch_bulk(chunk.iter().map(|&n| instant::job(n)))
            .await
            .expect("dispatch");
    }
    let worker = queue
        .worker()
        .handlers(["instant"])
        .concurrency("instant", 1_000)
        .lease(Duration::from_millis(500))
        .build()
        .expect("a worker");
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stats.reserves_sent_ahead() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reserve sent ahead"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    driver.0.hang.store(true, Ordering::SeqCst);
    while driver.0.carried.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reserve with acks went unanswered"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.cancel();
    running.await.unwrap().expect("the worker stops");
    let carried = driver.0.carried.load(Ordering::SeqCst);
    assert!(
        stats.settlements_dropped() > 0,
        "no settlement counted dropped, {carried} acks carried by reserves that did not answer"
    );
}
