//! Limits per rate key kept across workers, on the memory driver: two workers sharing one
//! store keep each key's rate in every window and its concurrency, a handler that says "rate
//! limited" pauses only its job's key, and keys with waiting jobs are served round robin.

mod support;
#[path = "shared/windows.rs"]
mod windows;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use queue_core::{job, JobContext, JobError};
use serde::{Deserialize, Serialize};
use support::{eventually, memory_queue, start};
use windows::assert_no_window_over;

#[derive(Serialize, Deserialize)]
struct Call {
    tenant: String,
    n: u32,
}

fn calls(tenant: &str, n: u32) -> impl Iterator<Item = Call> + '_ {
    (0..n).map(move |n| Call {
        tenant: tenant.into(),
        n,
    })
}

static RATED: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

#[job(
    queue = "keyed-rated",
    rate = "3/300ms",
    rate_key = "tenant",
    concurrency = 8
)]
async fn keyed_rated(call: Call, ctx: JobContext) -> Result<(), JobError> {
    RATED.lock().unwrap().push((call.tenant, Instant::now()));
    assert_eq!(ctx.attempt(), 1, "a job held back spends no attempt");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_keep_each_keys_rate_in_every_window() {
    let queue = memory_queue();
    let jobs = calls("a", 9).chain(calls("b", 9)).map(keyed_rated::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let began = Instant::now();
    let a = start(queue.worker().handlers(["keyed_rated"]));
    let b = start(queue.worker().handlers(["keyed_rated"]));
    eventually(Duration::from_secs(10), || async {
        (RATED.lock().unwrap().len() == 18).then_some(())
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let mut per_key: HashMap<String, Vec<Instant>> = HashMap::new();
    for (tenant, at) in RATED.lock().unwrap().iter() {
        per_key.entry(tenant.clone()).or_default().push(*at);
    }
    for (tenant, starts) in &mut per_key {
        assert_eq!(starts.len(), 9, "key {tenant}");
        let per = Duration::from_millis(300);
        // Times seen by the handlers, after their reservations' replies: a loaded machine
        // spreads them; the storage's own count is exact (the conformance row
        // `keyed_rate_holds_each_key_apart` checks the driver's recorded start times).
        assert_no_window_over(starts, 3, per, Duration::from_millis(60));
        // 9 jobs at 3 per 300ms each, both keys at once: 3 windows, not 6.
        let took = starts[8] - began;
        assert!(
            took < Duration::from_millis(600) + Duration::from_millis(400),
            "key {tenant} was held back by the other: its last start came after {took:?}"
        );
    }
}

static RUNNING: Mutex<Vec<String>> = Mutex::new(Vec::new());
static PEAKS: Mutex<(usize, usize)> = Mutex::new((0, 0));
static CAPPED_DONE: AtomicUsize = AtomicUsize::new(0);

#[job(
    queue = "keyed-capped",
    global_concurrency = 1,
    rate_key = "tenant",
    concurrency = 4
)]
async fn keyed_capped(call: Call) -> Result<(), JobError> {
    {
        let mut running = RUNNING.lock().unwrap();
        running.push(call.tenant.clone());
        let same = running.iter().filter(|t| **t == call.tenant).count();
        let mut peaks = PEAKS.lock().unwrap();
        peaks.0 = peaks.0.max(same);
        peaks.1 = peaks.1.max(running.len());
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut running = RUNNING.lock().unwrap();
    let at = running.iter().position(|t| *t == call.tenant).unwrap();
    running.remove(at);
    CAPPED_DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_run_one_job_per_key_at_once() {
    let queue = memory_queue();
    let jobs = calls("a", 5)
        .chain(calls("b", 5))
        .chain(calls("c", 5))
        .map(keyed_capped::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let began = Instant::now();
    let a = start(queue.worker().handlers(["keyed_capped"]));
    let b = start(queue.worker().handlers(["keyed_capped"]));
    eventually(Duration::from_secs(10), || async {
        (CAPPED_DONE.load(Ordering::SeqCst) == 15).then_some(())
    })
    .await;
    let took = began.elapsed();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let (per_key, overall) = *PEAKS.lock().unwrap();
    assert_eq!(per_key, 1, "one running job per key across both workers");
    assert!(overall >= 2, "different keys ran at once (peak {overall})");
    // Five rounds of 30ms per key, keys side by side; a freed slot is taken at once.
    assert!(took < Duration::from_secs(3), "15 jobs took {took:?}");
}

static PAUSED_RUNS: Mutex<Vec<(String, u32, u32, Instant)>> = Mutex::new(Vec::new());
static PAUSED_AT: Mutex<Option<Instant>> = Mutex::new(None);

#[job(
    queue = "keyed-paused",
    rate = "1000/1s",
    rate_key = "tenant",
    concurrency = 2,
    attempts = 1
)]
async fn keyed_paused(call: Call, ctx: JobContext) -> Result<(), JobError> {
    PAUSED_RUNS
        .lock()
        .unwrap()
        .push((call.tenant.clone(), call.n, ctx.attempt(), Instant::now()));
    let mut paused = PAUSED_AT.lock().unwrap();
    if call.tenant == "a" && paused.is_none() {
        *paused = Some(Instant::now());
        return Err(JobError::rate_limited(Duration::from_millis(400)));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_keyed_job_pauses_only_its_key() {
    let queue = memory_queue();
    let w = start(queue.worker().handlers(["keyed_paused"]));
    keyed_paused::dispatch(&queue, calls("a", 1).next().unwrap())
        .await
        .unwrap();
    // Once a's job said "rate limited" and is back in storage, waiting out its key's pause...
    support::until_counts(&queue, "keyed-paused", Duration::from_secs(5), |c| {
        c.scheduled == 1
    })
    .await;
    let limited_at = PAUSED_AT.lock().unwrap().expect("a's job was rate limited");
    // ...a's new jobs wait for the pause to end, b's do not.
    let jobs = calls("b", 3)
        .chain(calls("a", 3).skip(1))
        .map(keyed_paused::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        (PAUSED_RUNS.lock().unwrap().len() == 7).then_some(())
    })
    .await;
    w.shutdown().await.unwrap();
    let runs = PAUSED_RUNS.lock().unwrap().clone();
    let pause = Duration::from_millis(400);
    for (tenant, n, attempt, at) in &runs[1..] {
        let into = *at - limited_at;
        if tenant == "a" {
            assert!(
                into + Duration::from_millis(20) >= pause,
                "a's job {n} started {into:?} into its key's pause of {pause:?}"
            );
        } else {
            assert!(into < pause, "b's job {n} waited for a's pause ({into:?})");
        }
        assert_eq!(*attempt, 1, "the postponed run spent no attempt");
    }
    assert_eq!(queue.counts("keyed-paused").await.unwrap().failed, 0);
}

static FAIR: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[job(
    queue = "keyed-fair",
    rate = "100000/1s",
    rate_key = "tenant",
    concurrency = 1
)]
async fn keyed_fair(call: Call) -> Result<(), JobError> {
    FAIR.lock().unwrap().push(call.tenant);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_one_key_does_not_starve_the_others() {
    let queue = memory_queue();
    let jobs = calls("a", 1000)
        .chain(calls("b", 10))
        .chain(calls("c", 10))
        .map(keyed_fair::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let w = start(queue.worker().handlers(["keyed_fair"]));
    eventually(Duration::from_secs(20), || async {
        (FAIR.lock().unwrap().len() >= 40).then_some(())
    })
    .await;
    w.shutdown().await.unwrap();
    let order = FAIR.lock().unwrap().clone();
    for key in ["b", "c"] {
        let tenth = order
            .iter()
            .enumerate()
            .filter(|(_, k)| *k == key)
            .nth(9)
            .map(|(i, _)| i + 1);
        assert!(
            tenth.is_some_and(|at| at <= 30),
            "key {key}'s 10 jobs were done by start {tenth:?}, not within the first 30"
        );
    }
}

#[tokio::test]
async fn a_job_whose_key_cannot_be_computed_is_refused_and_not_stored() {
    let queue = memory_queue();
    let error = queue
        .dispatch_named("keyed_rated", serde_json::json!({ "n": 1 }))
        .await
        .unwrap_err();
    assert!(
        matches!(error, queue_core::Error::InvalidRateKey { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("invalid rate key for job `keyed_rated`: the payload does not decode")
            && message.contains("missing field `tenant`"),
        "{message}"
    );
    let error = queue
        .dispatch(keyed_rated::job(calls("a", 1).next().unwrap()).rate_key(""))
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid rate key for job `keyed_rated`: the key is empty"
    );
    assert_eq!(queue.counts("keyed-rated").await.unwrap().pending(), 0);
}
