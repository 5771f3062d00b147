//! A pool whose reserves fail while acks go through: the successes of its runs are acked by
//! the settling task rather than left for a reserve that does not come, so they do not wait
//! out their leases and run again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{
    job, Admin, Dispatched, Driver, Error, Failure, JobError, Lane, Lease, NewJob, Queue,
    Reservation, Result,
};
use queue_memory::MemoryDriver;

mod support;
use support::start;

/// The memory driver's hot path, except that once `refuse` is set every reserve fails (with or
/// without acks), while lone acks go through.
#[derive(Debug, Default)]
struct RefusedReserves {
    inner: MemoryDriver,
    refuse: AtomicBool,
}

impl RefusedReserves {
    fn refused(&self) -> Result<()> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Error::storage("the lane's reserve is refused"));
        }
        Ok(())
    }
}

#[async_trait]
impl Driver for RefusedReserves {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.inner.enqueue(jobs).await
    }
    async fn reserve(&self, lane: &Lane, max: usize, lease: Duration) -> Result<Reservation> {
        self.refused()?;
        self.inner.reserve(lane, max, lease).await
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
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        self.inner.wait(lane, timeout).await
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        self.inner.renew(lane, leases, lease).await
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner.ack(lane, leases).await
    }
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        self.inner.fail(lane, lease, failure).await
    }
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner.requeue(lane, leases).await
    }
    async fn progress(&self, lane: &Lane, lease: &Lease, p: serde_json::Value) -> Result<bool> {
        self.inner.progress(lane, lease, p).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.inner.reap(lane).await
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
    let driver = Arc::new(RefusedReserves::default());
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
        let counts = driver.inner.counts("refused").await.unwrap();
        if counts.pending() == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the successes were never acked: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(driver.refuse.load(Ordering::SeqCst));
    running.shutdown().await.unwrap();
    assert_eq!(RAN.load(Ordering::SeqCst), 4, "each job ran once");
}
