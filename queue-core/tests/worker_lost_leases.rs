//! Leases a renewal finds gone: the worker asks storage why (a cancelled job, or a lost lease)
//! for all of them together, within one bounded time, and the pool's other runs keep being
//! renewed and stopped on time meanwhile, so none outlives its lease while another worker takes
//! its job. On the real clock: the memory driver's leases end by the system's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{
    job, Admin, Cancel, CancelOutcome, Capabilities, Counts, Dispatched, Driver, Failure, JobError,
    JobId, JobInfo, JobPage, JobQuery, Lane, Lease, NewJob, Queue, Reservation, Result,
};
use queue_memory::MemoryDriver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The memory driver, except that looking a job up never answers: a storage that stops
/// answering this process's lookups right after a renewal went through.
#[derive(Debug)]
struct SilentLookups(MemoryDriver);

#[async_trait]
impl Driver for SilentLookups {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.0.enqueue(jobs).await
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.0.ack_and_reserve(lane, done, max, lease).await
    }
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        self.0.wait(lane, timeout).await
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        self.0.renew(lane, leases, lease).await
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.0.ack(lane, leases).await
    }
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        self.0.fail(lane, lease, failure).await
    }
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.0.requeue(lane, leases).await
    }
    async fn progress(&self, lane: &Lane, lease: &Lease, p: serde_json::Value) -> Result<bool> {
        self.0.progress(lane, lease, p).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.0.reap(lane).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::default().with_admin(self).with_cancel(self)
    }
}

#[async_trait]
impl Admin for SilentLookups {
    async fn queues(&self) -> Result<Vec<String>> {
        self.0.queues().await
    }
    async fn counts(&self, queue: &str) -> Result<Counts> {
        self.0.counts(queue).await
    }
    async fn lease_floor(&self, queue: &str) -> Result<u64> {
        self.0.lease_floor(queue).await
    }
    async fn job(&self, _queue: &str, _id: &JobId) -> Result<Option<JobInfo>> {
        std::future::pending().await
    }
    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        self.0.failed(queue, offset, limit).await
    }
    async fn list_jobs(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        self.0.list_jobs(queue, query).await
    }
    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
        self.0.retry_failed(queue, id).await
    }
    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        self.0.delete(queue, id).await
    }
    async fn purge(&self, queue: &str) -> Result<()> {
        self.0.purge(queue).await
    }
    async fn pause(&self, queue: &str) -> Result<()> {
        self.0.pause(queue).await
    }
    async fn resume(&self, queue: &str) -> Result<()> {
        self.0.resume(queue).await
    }
    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        self.0.lane_counts(queue).await
    }
}

#[async_trait]
impl Cancel for SilentLookups {
    async fn cancel(&self, queue: &str, id: &JobId) -> Result<CancelOutcome> {
        self.0.cancel(queue, id).await
    }
}

/// One run: its job, when it started and when it ended (finished or dropped).
type Run = (u32, Instant, Option<Instant>);

static RUNS: Mutex<Vec<Run>> = Mutex::new(Vec::new());

struct EndOfRun(usize);
impl Drop for EndOfRun {
    fn drop(&mut self) {
        RUNS.lock().unwrap()[self.0].2 = Some(Instant::now());
    }
}

/// Runs 1.5 s, five leases of 300 ms.
#[job(queue = "lookups", concurrency = 10)]
async fn long_run(n: u32) -> Result<(), JobError> {
    let index = {
        let mut runs = RUNS.lock().unwrap();
        runs.push((n, Instant::now(), None));
        runs.len() - 1
    };
    let _end = EndOfRun(index);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    Ok(())
}

/// Eight of one worker's ten running jobs are cancelled, and its lookups of why never answer.
/// Asked one after another, each up to a sixth of the lease, they kept the worker from renewing
/// or stopping its two other runs past their leases, while a second worker took those jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_leases_looked_up_together_leave_no_other_run_past_its_lease() {
    let memory = MemoryDriver::new();
    let plain = Queue::new(Arc::new(memory.clone()));
    let silent = Queue::new(Arc::new(SilentLookups(memory)));
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(long_run::dispatch(&plain, n).await.unwrap().id);
    }
    let lease = Duration::from_millis(300);
    let stop = CancellationToken::new();
    let first = tokio::spawn(
        silent
            .worker()
            .handlers(["long_run"])
            .lease(lease)
            .run_until(stop.clone().cancelled_owned()),
    );
    // The first worker takes all ten jobs before the second starts.
    while RUNS.lock().unwrap().len() < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = tokio::spawn(
        plain
            .worker()
            .handlers(["long_run"])
            .lease(lease)
            .run_until(stop.clone().cancelled_owned()),
    );
    for id in &ids[..8] {
        plain.cancel("lookups", id).await.unwrap();
    }
    // The two jobs left run to the end, on whichever worker.
    loop {
        let counts = plain.counts("lookups").await.unwrap();
        if counts.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();

    let runs = RUNS.lock().unwrap().clone();
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            let (a_end, b_end) = (a.2.expect("a run ended"), b.2.expect("a run ended"));
            assert!(
                a.0 != b.0 || a_end <= b.1 || b_end <= a.1,
                "two runs of job {} at once: {:?}",
                a.0,
                runs.iter().filter(|r| r.0 == a.0).collect::<Vec<_>>()
            );
        }
    }
    let cancelled = plain.counts("lookups").await.unwrap().failed;
    assert_eq!(cancelled, 8, "the cancelled jobs end in the failed list");
}
