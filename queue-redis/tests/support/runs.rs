//! A job handler that records every run (start and end), a background worker, and checks over
//! the recorded runs: which jobs ran, and that no job ran twice at once.
#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::{job, JobContext, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// One run of a [`record`] job.
#[derive(Clone, Debug)]
pub struct Run {
    pub start: Instant,
    pub end: Instant,
}

/// Runs per job number.
type Runs = HashMap<u64, Vec<Run>>;

/// Runs per test tag.
static RUNS: Mutex<Option<HashMap<String, Runs>>> = Mutex::new(None);

/// The payload of [`record`]: which test, which job, how long it works.
#[derive(Serialize, Deserialize)]
pub struct Work {
    pub tag: String,
    pub n: u64,
    pub ms: u64,
}

impl Work {
    pub fn new(tag: &str, n: u64, ms: u64) -> Self {
        Self {
            tag: tag.to_string(),
            n,
            ms,
        }
    }
}

#[job(queue = "conn", attempts = 100)]
pub async fn record(work: Work, _ctx: JobContext) -> Result<(), JobError> {
    let start = Instant::now();
    if work.ms > 0 {
        tokio::time::sleep(Duration::from_millis(work.ms)).await;
    }
    let end = Instant::now();
    let mut runs = RUNS.lock().unwrap();
    runs.get_or_insert_with(HashMap::new)
        .entry(work.tag)
        .or_default()
        .entry(work.n)
        .or_default()
        .push(Run { start, end });
    Ok(())
}

/// The runs recorded for `tag` so far.
pub fn runs(tag: &str) -> Runs {
    RUNS.lock()
        .unwrap()
        .as_ref()
        .and_then(|all| all.get(tag).cloned())
        .unwrap_or_default()
}

/// Which jobs of `tag` have run.
pub fn ran(tag: &str) -> HashSet<u64> {
    runs(tag).into_keys().collect()
}

/// Panics if any job of `tag` had two runs that overlapped in time.
pub fn assert_no_overlap(tag: &str) {
    for (n, mut runs) in runs(tag) {
        runs.sort_by_key(|r| r.start);
        for pair in runs.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "job {n} of {tag} ran twice at once: {runs:?}"
            );
        }
    }
}

/// Waits until every job in `wanted` of `tag` has run, or panics naming the missing ones.
pub async fn wait_until_ran(tag: &str, wanted: &HashSet<u64>, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ran = ran(tag);
        let missing: Vec<_> = wanted.difference(&ran).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} jobs of {tag} never ran within {within:?}, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Driver options with short bounds, so the fault tests see their effect quickly.
pub fn quick_options() -> RedisOptions {
    let mut options = RedisOptions::default();
    options.response_timeout = Duration::from_secs(1);
    options.connect_timeout = Duration::from_secs(1);
    options.block_timeout = Duration::from_secs(2);
    options
}

pub async fn queue_with(url: &str, options: RedisOptions) -> Queue {
    Queue::new(Arc::new(
        RedisDriver::connect_with(url, options)
            .await
            .expect("connect"),
    ))
}

/// The `record` handler running in the background until stopped.
pub struct Worker {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<queue_core::Result<()>>,
}

impl Worker {
    pub fn start(queue: &Queue, lease: Duration) -> Self {
        let stop = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let handle = tokio::spawn(
            queue
                .worker()
                .handlers(["record"])
                .lease(lease)
                .grace(Duration::from_secs(5))
                .run_until(signal),
        );
        Self { stop, handle }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("the worker stops")
            .unwrap()
            .unwrap();
    }
}

/// Waits until `check` holds, polling, or panics with `what`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lines of `CLIENT LIST` on the server at `url`.
pub async fn clients(url: &str) -> Vec<String> {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    list.lines().map(str::to_string).collect()
}

/// True when some client of the server at `url` is blocked in `BLPOP`.
pub async fn someone_blocked(url: String) -> bool {
    clients(&url)
        .await
        .iter()
        .any(|c| c.contains("cmd=blpop") && c.contains("flags=b"))
}
