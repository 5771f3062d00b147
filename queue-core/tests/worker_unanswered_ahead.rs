//! Reserves sent ahead that never answer by the time a worker stops: the successes they
//! carried to ack may not have been acked, and the worker counts them as dropped settlements
//! (their jobs may run again once the storage reaps them) rather than losing track of them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Driver, JobError, Lane, Lease, Queue, Reservation, Result};
use queue_memory::MemoryDriver;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

/// The memory driver's hot path, reserves answering after a millisecond (so a pool of quick
/// jobs reserves ahead), except that a reserve sent ahead carrying acks answers only after 5 s,
/// with an error. Counts the acks such reserves carried.
///
/// A reserve sent ahead is told apart from the fetch loop's own (which the pool awaits to the
/// end, acking what it carried once it fails) by the task polling it: the pool polls a reserve
/// sent ahead once in its fetch loop, then hands it to a task of its own.
#[derive(Debug, Default)]
struct UnansweredAhead {
    inner: MemoryDriver,
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
        let sent_from = tokio::task::try_id();
        tokio::time::sleep(Duration::from_millis(1)).await;
        let sent_ahead = tokio::task::try_id() != sent_from;
        if sent_ahead && !done.is_empty() {
            self.carried.fetch_add(done.len() as u64, Ordering::SeqCst);
            // Long past the worker's wait for replies at shutdown (a lease); an end all the
            // same, should the pool wait for it.
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

// On one thread: a reservation is then never split into batches of their own tasks, so its
// jobs all end in their first poll and the pool keeps reserving ahead (on several threads, a
// batch whose first polls took long under load is split, its jobs outlive the start, and the
// pool stops reserving ahead: its next reserve, carrying the acks, would be its own).
#[tokio::test]
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
    while driver.0.carried.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reserve sent ahead with acks"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.cancel();
    running.await.unwrap().expect("the worker stops");
    let carried = driver.0.carried.load(Ordering::SeqCst);
    // Every reserve sent ahead with acks was still unanswered at shutdown; one aborted before
    // it counted its acks here is counted dropped all the same.
    assert!(
        stats.settlements_dropped() >= carried,
        "{} settlements counted dropped, {carried} acks carried by reserves that did not answer",
        stats.settlements_dropped()
    );
}
