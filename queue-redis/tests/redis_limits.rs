//! Limits kept in Redis across workers: two workers, each with its own connection (as two
//! processes have), on a real redis-server, never start more than a handler's rate in any
//! window nor run more than its global concurrency, and a handler that says "rate limited"
//! pauses its lane on both without spending the attempt.

mod support;
#[path = "../../queue-core/tests/shared/windows.rs"]
mod windows;
#[path = "support/workers.rs"]
mod workers;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use queue_core::{job, JobContext, JobError};
use support::RedisServer;
use tokio_util::sync::CancellationToken;
use windows::assert_no_window_over;
use workers::{connect, until, worker};

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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    queue.dispatch_bulk((0..20).map(rated::job)).await.unwrap();
    let stop = CancellationToken::new();
    let a = worker(&server, "rated", &stop).await;
    let b = worker(&server, "rated", &stop).await;
    until("20 runs", Duration::from_secs(10), || {
        RATED.lock().unwrap().len() == 20
    })
    .await;
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let mut starts = RATED.lock().unwrap().clone();
    assert_eq!(starts.len(), 20, "every job ran once");
    assert_no_window_over(
        &mut starts,
        5,
        Duration::from_millis(300),
        Duration::from_millis(25),
    );
    let took = starts[19] - starts[0];
    assert!(
        took < Duration::from_millis(900) + Duration::from_millis(400),
        "throughput close to the limit: the last start came {took:?} after the first"
    );
    assert_eq!(queue.counts("rated").await.unwrap().pending(), 0);
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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    queue.dispatch_bulk((0..20).map(capped::job)).await.unwrap();
    let began = Instant::now();
    let stop = CancellationToken::new();
    let a = worker(&server, "capped", &stop).await;
    let b = worker(&server, "capped", &stop).await;
    until("20 runs", Duration::from_secs(10), || {
        DONE.load(Ordering::SeqCst) == 20
    })
    .await;
    let took = began.elapsed();
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    assert_eq!(
        PEAK.load(Ordering::SeqCst),
        2,
        "8 local slots, 2 running at once across both workers"
    );
    assert!(
        took < Duration::from_secs(3),
        "freed slots were taken at once (not at a lease's end): 20 jobs took {took:?}"
    );
}

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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let stop = CancellationToken::new();
    let a = worker(&server, "throttled", &stop).await;
    let b = worker(&server, "throttled", &stop).await;
    throttled::dispatch(&queue, 0).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while queue.counts("throttled").await.unwrap().scheduled != 1 {
        assert!(Instant::now() < deadline, "job 0 was never put back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limited_at = LIMITED_AT.lock().unwrap().expect("job 0 was rate limited");
    queue
        .dispatch_bulk((1..5).map(throttled::job))
        .await
        .unwrap();
    until("6 runs", Duration::from_secs(10), || {
        THROTTLED.lock().unwrap().len() == 6
    })
    .await;
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
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
            *at - limited_at + Duration::from_millis(25) >= pause,
            "job {n} started {:?} into the lane's pause of {pause:?}",
            *at - limited_at
        );
    }
    assert_eq!(queue.counts("throttled").await.unwrap().failed, 0);
}
