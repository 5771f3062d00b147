//! A worker cut off from Redis by a partition that keeps its connections open stops its runs by
//! its own clock before their leases run out on the server, so the worker that takes the jobs
//! over never runs one beside it.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use queue_core::{job, JobContext, JobError, Queue};
use queue_redis::RedisDriver;
use support::proxy::FaultProxy;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// One run of a job: wall-clock milliseconds (the Redis server's clock on this machine) of its
/// start and of its end (finished or dropped), and whether it finished.
#[derive(Clone, Debug)]
struct Run {
    start: u64,
    end: Option<u64>,
    finished: bool,
}

static RUNS: Mutex<Vec<(String, Run)>> = Mutex::new(Vec::new());

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Records the end of run `index` when dropped, finished or not.
struct EndOfRun(usize);
impl Drop for EndOfRun {
    fn drop(&mut self) {
        RUNS.lock().unwrap()[self.0].1.end = Some(now_ms());
    }
}

#[job(queue = "partition")]
async fn holds(ms: u64, ctx: JobContext) -> Result<(), JobError> {
    let index = {
        let mut runs = RUNS.lock().unwrap();
        runs.push((
            ctx.id().to_string(),
            Run {
                start: now_ms(),
                end: None,
                finished: false,
            },
        ));
        runs.len() - 1
    };
    let _end = EndOfRun(index);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    RUNS.lock().unwrap()[index].1.finished = true;
    Ok(())
}

async fn queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

struct Worker {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<queue_core::Result<()>>,
}

fn start(queue: &Queue, lease: Duration) -> Worker {
    let stop = CancellationToken::new();
    let builder = queue
        .worker()
        .handlers(["holds"])
        .concurrency("holds", 5)
        .lease(lease)
        .grace(Duration::from_millis(200));
    let handle = tokio::spawn(builder.run_until(stop.clone().cancelled_owned()));
    Worker { stop, handle }
}

impl Worker {
    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("worker stops")
            .unwrap()
            .unwrap();
    }
}

/// The earliest lease deadline of the lane on the server (ms, the server's clock).
async fn lease_deadline(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let deadlines: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg("{queue:partition}:lane:holds:leases")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(raw)
        .await
        .unwrap();
    assert!(!deadlines.is_empty(), "the jobs are leased on the server");
    deadlines.iter().map(|(_, at)| *at as u64).min().unwrap()
}

async fn until(limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_a_cut_off_worker_stops_its_runs_before_another_takes_the_jobs() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    // The cut-off worker's storage calls would each wait 5 s (the default response timeout),
    // far longer than its 1 s lease.
    let cut_off = queue(&proxy.url()).await;
    let direct = queue(&server.url()).await;
    let ids: Vec<String> = direct
        .dispatch_bulk((0..5).map(|_| holds::job(3000)))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();
    let lease = Duration::from_secs(1);
    let first = start(&cut_off, lease);
    until(Duration::from_secs(10), || RUNS.lock().unwrap().len() == 5).await;
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Cut the network once a renewal went through.
    let leased = lease_deadline(&mut raw).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while lease_deadline(&mut raw).await == leased {
        assert!(tokio::time::Instant::now() < deadline, "no renewal arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.partition();
    let server_deadline = lease_deadline(&mut raw).await;

    let second = start(&direct, lease);
    until(Duration::from_secs(20), || {
        RUNS.lock()
            .unwrap()
            .iter()
            .filter(|(_, run)| run.finished)
            .count()
            == 5
    })
    .await;
    proxy.heal();
    second.shutdown().await;
    first.shutdown().await;

    let runs = RUNS.lock().unwrap().clone();
    let mut by_id: HashMap<&str, Vec<&Run>> = HashMap::new();
    for (id, run) in &runs {
        by_id.entry(id.as_str()).or_default().push(run);
    }
    for id in &ids {
        let runs = by_id.get(id.as_str()).expect("every job ran");
        assert_eq!(
            runs.len(),
            2,
            "job {id}: cut off once, run again once: {runs:?}"
        );
        let (cut, again) = (runs[0], runs[1]);
        assert!(!cut.finished && again.finished, "job {id}: {runs:?}");
        let cut_end = cut.end.expect("the cut-off run ended");
        assert!(
            cut_end < server_deadline,
            "job {id}: the cut-off run ended at {cut_end}, after its lease ran out on the server at {server_deadline}"
        );
        assert!(
            cut_end <= again.start,
            "job {id}: runs overlap: {cut:?} and {again:?}"
        );
    }
    let counts = direct.counts("partition").await.unwrap();
    assert_eq!((counts.pending(), counts.failed), (0, 0));
}

static SLOW_LINK_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[job(queue = "slow-link")]
async fn counted(_n: u32) -> Result<(), JobError> {
    SLOW_LINK_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_a_reservation_that_arrives_after_its_lease_is_not_started() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let slow = queue(&proxy.url()).await;
    let direct = queue(&server.url()).await;
    direct
        .dispatch_bulk((0..3).map(counted::job))
        .await
        .unwrap();
    // Each request and each reply takes 700 ms: a reservation's reply comes back 1.4 s after
    // it was sent, later than its 1 s lease.
    proxy.delay(Duration::from_millis(700));
    let worker = slow
        .worker()
        .handlers(["counted"])
        .lease(Duration::from_secs(1))
        .grace(Duration::from_millis(200))
        .build()
        .unwrap();
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    until(Duration::from_secs(20), || stats.leases_expired() >= 3).await;
    assert_eq!(
        SLOW_LINK_RUNS.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no job may start once its lease has run out"
    );
    // Back to a normal link: every job runs.
    proxy.delay(Duration::ZERO);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while direct.counts("slow-link").await.unwrap().pending() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the jobs never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    handle.await.unwrap().unwrap();
    assert_eq!(SLOW_LINK_RUNS.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert_eq!(direct.counts("slow-link").await.unwrap().failed, 0);
}
