//! A stopping worker waits for the acks it sent apart from its reserves sent ahead: a reserve
//! sent ahead carries at most a settling batch of a pool's successes, and the older ones go in
//! an ack of their own. Over a storage whose reserves answer after a millisecond (so a pool of
//! quick jobs reserves ahead) and whose first lone acks take 2 s, a pool of 1,000 slots has
//! such acks in flight when it is told to stop; when `run_until` returns, every success is
//! acked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Driver, JobError, Lane, Lease, Queue, Reservation, Result};
use queue_memory::MemoryDriver;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

/// The memory driver's hot path behind a slow link: reserves answer after 1 ms, the first
/// [`SLOW_ACKS`] lone acks after 2 s. Counts the leases acked (once the storage answered) and
/// the lone acks begun.
#[derive(Debug, Default)]
struct SlowAcks {
    inner: MemoryDriver,
    acked: AtomicU64,
    lone_acks: AtomicU64,
}

#[async_trait]
impl Hooks for SlowAcks {
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
        let answer = self.inner.ack_and_reserve(lane, done, max, lease).await?;
        let held = answer.0.iter().filter(|h| **h).count() as u64;
        self.acked.fetch_add(held, Ordering::SeqCst);
        Ok(answer)
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        // The first few take long; later ones (those of the shutdown itself) answer at once,
        // so only waiting for the first few makes the worker's return wait.
        if self.lone_acks.fetch_add(1, Ordering::SeqCst) < SLOW_ACKS {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let held = self.inner.ack(lane, leases).await?;
        let count = held.iter().filter(|h| **h).count() as u64;
        self.acked.fetch_add(count, Ordering::SeqCst);
        Ok(held)
    }
}

/// Lone acks that take 2 s: those begun before the worker is told to stop.
const SLOW_ACKS: u64 = 3;

static DONE: AtomicU64 = AtomicU64::new(0);

/// Ends in its first poll, so a pool of them reserves ahead.
#[job(queue = "apart")]
async fn quick(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Jobs dispatched at a time, and at most in all.
const JOBS_AT_ONCE: u32 = 40_000;
const MOST_JOBS: u32 = 400_000;

/// Dispatches [`JOBS_AT_ONCE`] more jobs, numbered on from `dispatched`.
async fn dispatch(queue: &Queue, dispatched: &mut u32) {
    let from = *dispatched;
    for chunk in (from..from + JOBS_AT_ONCE)
        .collect::<Vec<_>>()
        .chunks(1_000)
    {
        queue
            .dispatch_bulk(chunk.iter().map(|&n| quick::job(n)))
            .await
            .expect("dispatch");
    }
    *dispatched += JOBS_AT_ONCE;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_waits_for_the_acks_sent_apart() {
    let driver = Arc::new(Hooked(SlowAcks::default()));
    let queue = Queue::new(driver.clone());
    let mut dispatched = 0;
    dispatch(&queue, &mut dispatched).await;
    let worker = queue
        .worker()
        .handlers(["quick"])
        .concurrency("quick", 1_000)
        .build()
        .expect("a worker");
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));

    // Stop once the slow lone acks have begun: they are on their way while the pool stops. A
    // pool slowed down (a loaded machine) reserves ahead less and sends fewer acks apart: while
    // none have begun, the backlog is topped up before it runs out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while driver.0.lone_acks.load(Ordering::SeqCst) < SLOW_ACKS {
        if DONE.load(Ordering::SeqCst) + 10_000 >= u64::from(dispatched) && dispatched < MOST_JOBS {
            dispatch(&queue, &mut dispatched).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no lone ack within 60 s ({} reserves sent ahead, {} runs)",
            stats.reserves_sent_ahead(),
            DONE.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.cancel();
    running.await.unwrap().expect("the worker stops cleanly");

    let done = DONE.load(Ordering::SeqCst);
    assert!(stats.reserves_sent_ahead() > 0);
    assert_eq!(
        driver.0.acked.load(Ordering::SeqCst),
        done,
        "every success is acked by the time the worker returns"
    );
    assert_eq!(stats.settlements_refused(), 0);
}
