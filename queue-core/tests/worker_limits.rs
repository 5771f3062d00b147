//! Limits kept across workers, on the memory driver: two workers sharing one store never start
//! more than a handler's rate in any window, nor run more than its global concurrency, and a
//! handler that says "rate limited" pauses its lane without spending the attempt.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use queue_core::{job, JobContext, JobError};
use support::{eventually, memory_queue, start};

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

/// Panics when some window of `per` (less `slack`, the spread between a start's reserve and
/// its handler's first poll) holds more than `count` of `starts`.
fn assert_no_window_over(starts: &mut [Instant], count: usize, per: Duration, slack: Duration) {
    starts.sort();
    for (i, pair) in starts.windows(count + 1).enumerate() {
        let spread = pair[count] - pair[0];
        assert!(
            spread + slack >= per,
            "starts {i} to {} fall within {spread:?}: more than {count} in a window of {per:?}",
            i + count
        );
    }
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
