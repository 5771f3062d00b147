//! A pool whose reserves fail while acks go through: the successes of its runs are acked by
//! the settling task rather than left for a reserve that does not come, so they do not wait
//! out their leases and run again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Admin, Driver, Error, JobError, Lane, Lease, Queue, Reservation, Result};
use queue_memory::MemoryDriver;

mod support;
use support::hooked::{Hooked, Hooks};
use support::start;

/// The memory driver's hot path, except that once `refuse` is set every reserve fails (with or
/// without acks), while lone acks go through.
#[derive(Debug, Default)]
struct RefusedReserves {
    inner: MemoryDriver,
    refuse: AtomicBool,
}

#[async_trait]
impl Hooks for RefusedReserves {
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
        self.refused()?;
        let reply = self.inner.ack_and_reserve(lane, done, max, lease).await?;
        // Refused from the first reservation that took jobs on.
        if !reply.1.jobs.is_empty() {
            self.refuse.store(true, Ordering::SeqCst);
        }
        Ok(reply)
    }
}

impl RefusedReserves {
    fn refused(&self) -> Result<()> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Error::storage("the lane's reserve is refused"));
        }
        Ok(())
    }
}

static RAN: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "refused", concurrency = 4)]
async fn short(_n: u32) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    RAN.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_are_acked_while_reserves_fail() {
    let driver = Arc::new(Hooked(RefusedReserves::default()));
    let queue = Queue::new(driver.clone());
    for n in 0..4 {
        short::dispatch(&queue, n).await.unwrap();
    }
    let running = start(
        queue
            .worker()
            .handlers(["short"])
            .lease(Duration::from_millis(600)),
    );
    // Well within the 600 ms lease: the acks do not wait for a reserve.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts = driver.0.inner.counts("refused").await.unwrap();
        if counts.pending() == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the successes were never acked: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(driver.0.refuse.load(Ordering::SeqCst));
    running.shutdown().await.unwrap();
    assert_eq!(RAN.load(Ordering::SeqCst), 4, "each job ran once");
}
