//! Reserves sent ahead over a slow link: a worker whose Redis answers only after a round trip
//! of several milliseconds keeps reserves in flight while it runs what the last one brought,
//! still runs every job once and never more than its concurrency at a time, and at shutdown
//! hands the jobs of the replies still coming back unrun, without spending their attempts.

mod support;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, JobError, JobId, Queue, WorkerStats};
use queue_redis::RedisDriver;
use support::proxy::FaultProxy;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Jobs per test.
const JOBS: usize = 3_000;
/// Slots of the worker's pool.
const CONCURRENCY: usize = 20;
/// Delay the proxy adds to every chunk in each direction.
const DELAY: Duration = Duration::from_millis(2);

/// Per test: runs of each job, runs going now, the most at once, and runs in all.
struct Tally {
    runs: Vec<AtomicU32>,
    now: AtomicU64,
    most: AtomicU64,
    done: AtomicU64,
}

impl Tally {
    const fn new() -> Self {
        Self {
            runs: Vec::new(),
            now: AtomicU64::new(0),
            most: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }
}

static SLOW_LINK: std::sync::OnceLock<Tally> = std::sync::OnceLock::new();
static SHUTDOWN: std::sync::OnceLock<Tally> = std::sync::OnceLock::new();
static WIDE: std::sync::OnceLock<Tally> = std::sync::OnceLock::new();

/// Jobs of the wide pool's test.
const WIDE_JOBS: usize = 15_000;
/// Slots of the wide pool: more successes finish between two reserves than one reserve
/// carries acks for.
const WIDE_CONCURRENCY: usize = 1_000;

fn tally(cell: &'static std::sync::OnceLock<Tally>) -> &'static Tally {
    cell.get_or_init(|| Tally {
        runs: (0..WIDE_JOBS).map(|_| AtomicU32::new(0)).collect(),
        ..Tally::new()
    })
}

/// Counts a run of job `n` in `tally`; a `slow` run holds its slot for 20 ms (the others end in
/// their first poll, which is what makes a pool reserve ahead).
async fn count(tally: &Tally, n: usize, slow: bool) {
    let now = tally.now.fetch_add(1, Ordering::SeqCst) + 1;
    tally.most.fetch_max(now, Ordering::SeqCst);
    tally.runs[n].fetch_add(1, Ordering::SeqCst);
    if slow {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tally.now.fetch_sub(1, Ordering::SeqCst);
    tally.done.fetch_add(1, Ordering::SeqCst);
}

/// Jobs of the slow-link test that are slow: they come after a thousand quick ones, while
/// reserves sent ahead are in flight, and fill every slot, so jobs reserved ahead arrive to
/// find the slots taken.
const SLOW: std::ops::Range<usize> = 1_000..1_100;

#[job(queue = "prefetch-link", attempts = 1)]
async fn over_slow_link(n: usize) -> Result<(), JobError> {
    count(tally(&SLOW_LINK), n, SLOW.contains(&n)).await;
    Ok(())
}

#[job(queue = "prefetch-stop", attempts = 1)]
async fn stopped_mid_drain(n: usize) -> Result<(), JobError> {
    count(tally(&SHUTDOWN), n, false).await;
    Ok(())
}

#[job(queue = "prefetch-wide", attempts = 1)]
async fn wide_pool(n: usize) -> Result<(), JobError> {
    count(tally(&WIDE), n, false).await;
    Ok(())
}

async fn queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

/// A worker on `queue` for `handler`, stopped by its token.
fn start(
    queue: &Queue,
    handler: &'static str,
    concurrency: usize,
) -> (
    CancellationToken,
    Arc<WorkerStats>,
    tokio::task::JoinHandle<queue_core::Result<()>>,
) {
    let worker = queue
        .worker()
        .handlers([handler])
        .concurrency(handler, concurrency)
        .lease(Duration::from_secs(10))
        .build()
        .expect("a worker");
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    (stop, stats, handle)
}

async fn until_done(tally: &Tally, at_least: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tally.done.load(Ordering::SeqCst) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {at_least} runs within 120 s",
            tally.done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_over_a_slow_link_runs_every_job_once() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    proxy.delay(DELAY);
    let direct = queue(&server.url()).await;
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(500) {
        direct
            .dispatch_bulk(chunk.iter().map(|&n| over_slow_link::job(n)))
            .await
            .expect("dispatch");
    }
    let tally = tally(&SLOW_LINK);
    let (stop, stats, handle) = start(&queue(&proxy.url()).await, "over_slow_link", CONCURRENCY);
    until_done(tally, JOBS as u64).await;
    stop.cancel();
    handle.await.unwrap().expect("the worker stops cleanly");

    let twice: Vec<usize> = (0..JOBS)
        .filter(|&n| tally.runs[n].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(twice.is_empty(), "jobs not run exactly once: {twice:?}");
    let most = tally.most.load(Ordering::SeqCst);
    assert!(
        most <= CONCURRENCY as u64,
        "at most {CONCURRENCY} runs at once, saw {most}"
    );
    assert!(
        most >= CONCURRENCY as u64 / 2,
        "the slow jobs fill the slots (saw {most} at once)"
    );
    assert!(
        stats.reserves_sent_ahead() > 0,
        "a round trip of milliseconds makes the pool reserve ahead"
    );
    assert_eq!(stats.settlements_refused(), 0);
    let counts = direct.counts("prefetch-link").await.unwrap();
    assert_eq!((counts.pending(), counts.failed), (0, 0), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_hands_back_jobs_reserved_ahead_unrun() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    proxy.delay(DELAY);
    let direct = queue(&server.url()).await;
    let mut ids: Vec<JobId> = Vec::with_capacity(JOBS);
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(500) {
        let stored = direct
            .dispatch_bulk(chunk.iter().map(|&n| stopped_mid_drain::job(n)))
            .await
            .expect("dispatch");
        ids.extend(stored.into_iter().map(|d| d.id));
    }
    let tally = tally(&SHUTDOWN);
    let (stop, stats, handle) = start(&queue(&proxy.url()).await, "stopped_mid_drain", CONCURRENCY);
    until_done(tally, (JOBS / 5) as u64).await;
    // Held replies: the reserves in flight stay in flight while the worker is told to stop,
    // and reach it only after it stopped fetching.
    proxy.partition();
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    proxy.heal();
    handle.await.unwrap().expect("the worker stops cleanly");

    let ran = tally.done.load(Ordering::SeqCst) as usize;
    assert!(ran < JOBS, "the shutdown came before the lane was drained");
    assert!(
        stats.jobs_handed_back() > 0,
        "replies to reserves sent ahead were still coming at shutdown"
    );
    let counts = direct.counts("prefetch-stop").await.unwrap();
    assert_eq!(
        (counts.ready, counts.active, counts.failed),
        ((JOBS - ran) as u64, 0, 0),
        "every job not run is back in its lane: {counts:?}"
    );
    for (n, id) in ids.iter().enumerate() {
        if tally.runs[n].load(Ordering::SeqCst) == 0 {
            let info = direct
                .job("prefetch-stop", id)
                .await
                .unwrap()
                .expect("an unrun job is kept");
            assert_eq!(
                info.attempts, 0,
                "job {n} was handed back without an attempt"
            );
        }
    }

    // A second worker, straight to Redis, runs the rest: each job once in all.
    let (stop, _, handle) = start(&direct, "stopped_mid_drain", CONCURRENCY);
    until_done(tally, JOBS as u64).await;
    stop.cancel();
    handle.await.unwrap().expect("the worker stops cleanly");
    let not_once: Vec<usize> = (0..JOBS)
        .filter(|&n| tally.runs[n].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        not_once.is_empty(),
        "jobs not run exactly once: {not_once:?}"
    );
}

/// A pool of 1,000 slots over a slow link: more successes finish between two reserves sent
/// ahead than one reserve carries, and the rest are acked on their own; every job runs once,
/// no ack is refused and nothing is left active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wide_pool_reserving_ahead_acks_every_success() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    proxy.delay(DELAY);
    let direct = queue(&server.url()).await;
    for chunk in (0..WIDE_JOBS).collect::<Vec<_>>().chunks(1_000) {
        direct
            .dispatch_bulk(chunk.iter().map(|&n| wide_pool::job(n)))
            .await
            .expect("dispatch");
    }
    let tally = tally(&WIDE);
    let (stop, stats, handle) = start(&queue(&proxy.url()).await, "wide_pool", WIDE_CONCURRENCY);
    until_done(tally, WIDE_JOBS as u64).await;
    // Acks still on their way are sent before the worker returns.
    stop.cancel();
    handle.await.unwrap().expect("the worker stops cleanly");

    let not_once: Vec<usize> = (0..WIDE_JOBS)
        .filter(|&n| tally.runs[n].load(Ordering::SeqCst) != 1)
        .take(20)
        .collect();
    assert!(
        not_once.is_empty(),
        "jobs not run exactly once: {not_once:?}"
    );
    assert!(
        stats.reserves_sent_ahead() > 0,
        "a round trip of milliseconds makes the pool reserve ahead"
    );
    assert_eq!(stats.settlements_refused(), 0);
    let counts = direct.counts("prefetch-wide").await.unwrap();
    assert_eq!(
        (counts.ready, counts.active, counts.failed),
        (0, 0, 0),
        "{counts:?}"
    );
}
