//! Limits per rate key kept in Redis across workers: two workers, each with its own
//! connection (as two processes have), on a real redis-server, keep each key's rate in every
//! window and its concurrency, a handler that says "rate limited" pauses only its job's key,
//! and keys with waiting jobs are served round robin.

mod support;
#[path = "../../queue-core/tests/shared/windows.rs"]
mod windows;
#[path = "support/workers.rs"]
mod workers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::{job, JobContext, JobError};
use queue_redis::RedisDriver;
use serde::{Deserialize, Serialize};
use support::RedisServer;
use tokio_util::sync::CancellationToken;
use windows::assert_no_window_over;
use workers::{connect, until, worker};

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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let stop = CancellationToken::new();
    let jobs = calls("a", 9).chain(calls("b", 9)).map(keyed_rated::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let began = Instant::now();
    let a = worker(&server, "keyed_rated", &stop).await;
    let b = worker(&server, "keyed_rated", &stop).await;
    until("the runs", Duration::from_secs(10), || {
        RATED.lock().unwrap().len() == 18
    })
    .await;
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
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

/// A purge removes a keyed lane's jobs with their indexes (the keys' lines, the ring, the
/// jobs' keys), so nothing of them is left for a reserve to sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_takes_a_keyed_lanes_job_indexes() {
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let jobs = calls("a", 3).chain(calls("b", 3)).map(keyed_rated::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pattern = "{queue:keyed-rated}:lane:keyed_rated:k*";
    let keyed_keys = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let mut keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.sort();
            keys
        }
    };
    let before = keyed_keys(&mut conn).await;
    for index in ["kjobs", "kring", "kof"] {
        assert!(
            before.iter().any(|k| k.ends_with(index)),
            "{index} in {before:?}"
        );
    }
    queue.purge("keyed-rated").await.unwrap();
    let after = keyed_keys(&mut conn).await;
    assert!(
        after
            .iter()
            .all(|k| !["kjobs", "kring", "kof"].iter().any(|i| k.ends_with(i))),
        "{after:?}"
    );
    assert_eq!(queue.counts("keyed-rated").await.unwrap().ready, 0);
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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let stop = CancellationToken::new();
    let jobs = calls("a", 5)
        .chain(calls("b", 5))
        .chain(calls("c", 5))
        .map(keyed_capped::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let began = Instant::now();
    let a = worker(&server, "keyed_capped", &stop).await;
    let b = worker(&server, "keyed_capped", &stop).await;
    until("the runs", Duration::from_secs(10), || {
        CAPPED_DONE.load(Ordering::SeqCst) == 15
    })
    .await;
    let took = began.elapsed();
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let stop = CancellationToken::new();
    let a = worker(&server, "keyed_paused", &stop).await;
    let b = worker(&server, "keyed_paused", &stop).await;
    keyed_paused::dispatch(&queue, calls("a", 1).next().unwrap())
        .await
        .unwrap();
    // Once a's job said "rate limited" and is back in storage, waiting out its key's pause...
    let deadline = Instant::now() + Duration::from_secs(5);
    while queue.counts("keyed-paused").await.unwrap().scheduled != 1 {
        assert!(Instant::now() < deadline, "a's job was never postponed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limited_at = PAUSED_AT.lock().unwrap().expect("a's job was rate limited");
    // ...a's new jobs wait for the pause to end, b's do not.
    let jobs = calls("b", 3)
        .chain(calls("a", 3).skip(1))
        .map(keyed_paused::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    until("the runs", Duration::from_secs(10), || {
        PAUSED_RUNS.lock().unwrap().len() == 7
    })
    .await;
    stop.cancel();
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
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
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let stop = CancellationToken::new();
    let jobs = calls("a", 1000)
        .chain(calls("b", 10))
        .chain(calls("c", 10))
        .map(keyed_fair::job);
    queue.dispatch_bulk(jobs).await.unwrap();
    let a = worker(&server, "keyed_fair", &stop).await;
    until("the runs", Duration::from_secs(20), || {
        FAIR.lock().unwrap().len() >= 40
    })
    .await;
    stop.cancel();
    a.await.unwrap().unwrap();
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

/// A keyed lane keeps nothing for keys and jobs that are gone: once a key's jobs were acked
/// apart (not through the keyed reserve) and its window passed, later reserves drop the key's
/// state and its jobs' recorded keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_of_keys_that_are_gone_is_dropped() {
    use queue_core::{Driver, Lane, LimitSpec, Rate};
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let keyed = driver.keyed_limits().expect("keyed limits");
    let lane = Lane::new("sweep", "calls").unwrap();
    let jobs = (0..30)
        .map(|n| {
            queue_core::testing::job(&lane, serde_json::json!({ "n": n }))
                .rate_key(format!("tenant-{n}"))
        })
        .collect();
    keyed.enqueue_keyed(jobs).await.unwrap();
    let spec = LimitSpec::default()
        .with_rate(Rate::new(1, Duration::from_millis(50)).unwrap())
        .per_key();
    let lease = Duration::from_secs(30);
    let (_, r) = keyed
        .ack_and_reserve_keyed(&lane, &[], 100, lease, &spec)
        .await
        .unwrap();
    assert_eq!(r.jobs.len(), 30);
    let leases: Vec<_> = r.jobs.iter().map(|j| j.lease()).collect();
    assert!(driver.ack(&lane, &leases).await.unwrap().iter().all(|a| *a));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let tag = "{queue:sweep}:lane:calls";
    let left = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let of: usize = redis::cmd("HLEN")
                .arg(format!("{tag}:kof"))
                .query_async(&mut conn)
                .await
                .unwrap();
            let fields: Vec<String> = redis::cmd("HKEYS")
                .arg(format!("{tag}:kstate"))
                .query_async(&mut conn)
                .await
                .unwrap();
            (of, fields.iter().filter(|f| f.contains(':')).count())
        }
    };
    let (of, per_key) = left(&mut conn).await;
    assert_eq!(of, 30, "each job's key was recorded");
    assert!(per_key >= 30, "each key has state: {per_key} fields");
    // Each reserve looks at a few; a handful of reserves go round.
    for _ in 0..20 {
        keyed
            .ack_and_reserve_keyed(&lane, &[], 10, lease, &spec)
            .await
            .unwrap();
        if left(&mut conn).await == (0, 0) {
            return;
        }
    }
    panic!("state left after 20 reserves: {:?}", left(&mut conn).await);
}
