//! Limits kept across workers, on the memory driver: two workers sharing one store never start
//! more than a handler's rate in any window, nor run more than its global concurrency, and a
//! handler that says "rate limited" pauses its lane without spending the attempt.

mod support;
#[path = "shared/windows.rs"]
mod windows;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use queue_core::{
    job, Capabilities, Dispatched, Driver, Failure, JobContext, JobError, Lane, Lease, LimitSpec,
    Limits, NewJob, Queue, Reservation, Result,
};
use queue_memory::MemoryDriver;
use support::{eventually, memory_queue, start};
use windows::assert_no_window_over;

/// Start times of `rated` runs.
static RATED: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[job(queue = "rated", rate = "5/300ms", concurrency = 8)]
async fn rated(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    RATED.lock().unwrap().push(Instant::now());
    assert_eq!(
        ctx.attempt(),
        1,
        "a job held back by the rate spends no attempt"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_keep_a_handler_rate_in_every_window() {
    let queue = memory_queue();
    queue.dispatch_bulk((0..20).map(rated::job)).await.unwrap();
    let a = start(queue.worker().handlers(["rated"]));
    let b = start(queue.worker().handlers(["rated"]));
    eventually(Duration::from_secs(10), || async {
        (RATED.lock().unwrap().len() == 20).then_some(())
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let mut starts = RATED.lock().unwrap().clone();
    assert_eq!(starts.len(), 20, "every job ran once");
    let per = Duration::from_millis(300);
    assert_no_window_over(&mut starts, 5, per, Duration::from_millis(20));
    // 20 jobs at 5 per 300ms: 4 windows, the last one starting 900ms after the first.
    let took = starts[19] - starts[0];
    assert!(
        took < Duration::from_millis(900) + Duration::from_millis(400),
        "throughput close to the limit: the last start came {took:?} after the first"
    );
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "capped", global_concurrency = 2, concurrency = 4)]
async fn capped(_n: u32) -> Result<(), JobError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_global_concurrency() {
    let queue = memory_queue();
    queue.dispatch_bulk((0..20).map(capped::job)).await.unwrap();
    let began = Instant::now();
    let a = start(queue.worker().handlers(["capped"]));
    let b = start(queue.worker().handlers(["capped"]));
    // Ten rounds of 30ms; a freed slot wakes a waiting worker at once (not at its lease's end,
    // 30s away), so this takes well under the time allowed.
    eventually(Duration::from_secs(10), || async {
        (DONE.load(Ordering::SeqCst) == 20).then_some(())
    })
    .await;
    let took = began.elapsed();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    assert_eq!(
        PEAK.load(Ordering::SeqCst),
        2,
        "8 local slots, 2 running at once across both workers"
    );
    assert!(
        took < Duration::from_secs(3),
        "freed slots were taken at once: 20 jobs took {took:?}"
    );
}

/// (start, attempt, job) of every `throttled` run, and when the rate-limited one returned.
static THROTTLED: Mutex<Vec<(Instant, u32, u32)>> = Mutex::new(Vec::new());
static LIMITED_AT: Mutex<Option<Instant>> = Mutex::new(None);
static SAID_LIMITED: AtomicBool = AtomicBool::new(false);

#[job(queue = "throttled", rate = "1000/1s", concurrency = 1, attempts = 1)]
async fn throttled(n: u32, ctx: JobContext) -> Result<(), JobError> {
    THROTTLED
        .lock()
        .unwrap()
        .push((Instant::now(), ctx.attempt(), n));
    if n == 0 && !SAID_LIMITED.swap(true, Ordering::SeqCst) {
        *LIMITED_AT.lock().unwrap() = Some(Instant::now());
        return Err(JobError::rate_limited(Duration::from_millis(300)));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_handler_pauses_its_lane_without_spending_attempts() {
    let queue = memory_queue();
    let a = start(queue.worker().handlers(["throttled"]));
    let b = start(queue.worker().handlers(["throttled"]));
    throttled::dispatch(&queue, 0).await.unwrap();
    // Once job 0 said "rate limited" and is back in storage, waiting out the pause...
    support::until_counts(&queue, "throttled", Duration::from_secs(5), |c| {
        c.scheduled == 1
    })
    .await;
    let limited_at = LIMITED_AT.lock().unwrap().expect("job 0 was rate limited");
    // ...jobs dispatched now wait for the pause to end, on both workers.
    queue
        .dispatch_bulk((1..5).map(throttled::job))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        (THROTTLED.lock().unwrap().len() == 6).then_some(())
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let runs = THROTTLED.lock().unwrap().clone();
    let again: Vec<_> = runs.iter().filter(|(_, _, n)| *n == 0).collect();
    assert_eq!(again.len(), 2, "job 0 ran again after its pause");
    assert_eq!(
        again[1].1, 1,
        "with one attempt allowed, the rate-limited run spent none"
    );
    let pause = Duration::from_millis(300);
    for (at, _, n) in &runs[1..] {
        assert!(
            *at - limited_at + Duration::from_millis(20) >= pause,
            "job {n} started {:?} into the lane's pause of {pause:?}",
            *at - limited_at
        );
    }
    assert_eq!(queue.counts("throttled").await.unwrap().failed, 0);
}

/// The memory driver, counting limited reserves, with or without offering its limits.
#[derive(Debug)]
struct Counting {
    inner: MemoryDriver,
    limited_reserves: AtomicUsize,
    offers_limits: bool,
}

impl Counting {
    fn new(offers_limits: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryDriver::new(),
            limited_reserves: AtomicUsize::new(0),
            offers_limits,
        })
    }
}

#[async_trait]
impl Driver for Counting {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.inner.enqueue(jobs).await
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.inner.ack_and_reserve(lane, done, max, lease).await
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
    fn capabilities(&self) -> Capabilities<'_> {
        let with_admin = Capabilities::default().with_admin(&self.inner);
        match self.offers_limits {
            true => with_admin.with_limits(self),
            false => with_admin,
        }
    }
}

#[async_trait]
impl Limits for Counting {
    async fn ack_and_reserve_limited(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.limited_reserves.fetch_add(1, Ordering::SeqCst);
        self.inner
            .ack_and_reserve_limited(lane, done, max, lease, limits)
            .await
    }
    async fn postpone(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool> {
        self.inner.postpone(lane, lease, delay).await
    }
    async fn released(&self, lane: &Lane, limits: &LimitSpec) -> Result<()> {
        self.inner.released(lane, limits).await
    }
}

static SLOW: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "slow", rate = "2/400ms", concurrency = 8)]
async fn slow(_n: u32) -> Result<(), JobError> {
    SLOW.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_held_back_by_the_rate_sleeps_until_the_window_frees() {
    let driver = Counting::new(true);
    let queue = Queue::new(driver.clone());
    queue.dispatch_bulk((0..6).map(slow::job)).await.unwrap();
    let worker = start(queue.worker().handlers(["slow"]));
    eventually(Duration::from_secs(10), || async {
        (SLOW.load(Ordering::SeqCst) == 6).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    // Three windows of 400ms: a reserve that fills the window, one that learns when it frees,
    // then sleep; a worker polling every few ms would make hundreds.
    let reserves = driver.limited_reserves.load(Ordering::SeqCst);
    assert!(
        (3..=12).contains(&reserves),
        "{reserves} limited reserves for 3 windows"
    );
    assert_eq!(queue.counts("slow").await.unwrap().pending(), 0);
}

#[tokio::test]
async fn a_worker_refuses_limits_its_driver_cannot_keep() {
    let queue = Queue::new(Counting::new(false));
    let error = queue
        .worker()
        .handlers(["slow"])
        .build()
        .expect_err("no limits on this driver");
    assert!(
        matches!(error, queue_core::Error::Unsupported { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("handler `slow`"), "{error}");
    assert!(error.to_string().contains("rate"), "{error}");
}

#[tokio::test]
async fn a_worker_refuses_limits_it_cannot_keep_or_place() {
    let queue = memory_queue();
    let zero = queue_core::Rate::new(0, Duration::from_secs(1));
    assert_eq!(
        zero.unwrap_err().to_string(),
        "invalid limit `0/1s`: the count must be at least 1"
    );
    let error = queue
        .worker()
        .handlers(["slow"])
        .limits("nobody", LimitSpec::default())
        .build()
        .expect_err("an unknown handler");
    assert!(error.to_string().contains("`nobody`"), "{error}");
    // An override replaces the declared limits, and lifting them is allowed.
    queue
        .worker()
        .handlers(["slow"])
        .limits("slow", LimitSpec::default())
        .build()
        .expect("no limits left");
    let concurrency = LimitSpec::default().with_concurrency(3).unwrap();
    queue
        .worker()
        .handlers(["slow"])
        .limits("slow", concurrency)
        .build()
        .expect("valid limits");
}
