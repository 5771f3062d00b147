//! Resharding on a real Redis Cluster: the slot of a running queue moves to another primary
//! (`CLUSTER SETSLOT ... MIGRATING/IMPORTING`, one `MIGRATE` per key) while jobs are dispatched
//! and run. Scripts meet the slot half moved (`ASK`, `TRYAGAIN`) and are sent again; no job is
//! lost and none runs twice at once.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::{job, JobContext, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use tokio_util::sync::CancellationToken;

const JOBS: u32 = 300;

/// Runs per job id, and the ids running now.
#[derive(Default)]
struct Runs {
    counts: HashMap<String, u32>,
    running: HashSet<String>,
}

static RUNS: Mutex<Option<Runs>> = Mutex::new(None);
/// Ids seen running twice at once.
static OVERLAPS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn ran() -> HashSet<String> {
    RUNS.lock()
        .unwrap()
        .as_ref()
        .map(|runs| runs.counts.keys().cloned().collect())
        .unwrap_or_default()
}

#[job(queue = "moving", concurrency = 8, attempts = 100)]
async fn moving(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    let id = ctx.id().to_string();
    {
        let mut runs = RUNS.lock().unwrap();
        let runs = runs.get_or_insert_with(Runs::default);
        *runs.counts.entry(id.clone()).or_default() += 1;
        if !runs.running.insert(id.clone()) {
            OVERLAPS.lock().unwrap().push(id.clone());
        }
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    RUNS.lock().unwrap().as_mut().unwrap().running.remove(&id);
    Ok(())
}

/// Dispatches job `n` with id `job-<n>` until it is stored; the id makes trying again safe.
async fn dispatch_until_stored(queue: &Queue, n: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = format!("job-{n}");
    loop {
        match moving::dispatch(queue, n).id(id.as_str()).await {
            Ok(_) => return id,
            Err(e) => {
                assert!(Instant::now() < deadline, "dispatch {n} kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// How many `ASK` and `TRYAGAIN` answers the node on `port` gave (`INFO errorstats`).
async fn half_moved_answers(port: u16) -> u64 {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("errorstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .filter(|l| l.starts_with("errorstat_ASK:") || l.starts_with("errorstat_TRYAGAIN:"))
        .filter_map(|l| l.rsplit_once("count=")?.1.trim().parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_resharding_moves_a_running_queue_without_losing_a_job() {
    let cluster = Arc::new(
        tokio::task::spawn_blocking(RedisCluster::start)
            .await
            .unwrap(),
    );
    let tag = "{queue:moving}";
    let slot = cluster.slot_of(tag);
    let from = cluster.port_of(tag);
    let to = *cluster
        .primary_ports()
        .iter()
        .find(|&&p| p != from)
        .expect("another primary");

    let mut options = RedisOptions::default();
    options.response_timeout = Duration::from_secs(2);
    options.block_timeout = Duration::from_secs(2);
    let driver = RedisDriver::connect_with(&cluster.url(), options)
        .await
        .expect("connect to the cluster");
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["moving"])
            .lease(Duration::from_secs(3))
            .run_until(stop.clone().cancelled_owned()),
    );

    let mut dispatched = HashSet::new();
    for n in 0..JOBS / 3 {
        dispatched.insert(dispatch_until_stored(&queue, n).await);
    }
    // The slot moves, key by key, while dispatching goes on.
    let migrating = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            cluster.migrate_slot(slot, from, to, Duration::from_millis(40))
        })
    };
    let mut n = JOBS / 3;
    while !migrating.is_finished() || n < JOBS {
        dispatched.insert(dispatch_until_stored(&queue, n).await);
        n += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Clients did meet the slot half moved, and were answered by sending again.
    let redirected = half_moved_answers(from).await;
    assert!(
        redirected > 0,
        "no ASK or TRYAGAIN answer: the migration did not overlap the traffic"
    );
    migrating.await.expect("the slot migration");
    assert_eq!(cluster.port_of(tag), to, "the queue's slot moved");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ran = ran();
        let missing: Vec<&String> = dispatched.difference(&ran).take(10).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} jobs ran after the migration; missing e.g. {missing:?}",
            dispatched.intersection(&ran).count(),
            dispatched.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        OVERLAPS.lock().unwrap().is_empty(),
        "jobs ran twice at once: {:?}",
        OVERLAPS.lock().unwrap()
    );
    // The last runs' acks may still be on their way when their handlers have recorded them.
    loop {
        let counts = queue.counts("moving").await.expect("counts");
        if counts.pending() + counts.failed == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs left after every job ran: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}
