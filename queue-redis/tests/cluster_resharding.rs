//! Resharding on a real Redis Cluster: the slot of a running queue moves to another primary
//! (`CLUSTER SETSLOT ... MIGRATING/IMPORTING`, one `MIGRATE` per key) while jobs are dispatched
//! and run. Scripts meet the slot half moved (`ASK`, `TRYAGAIN`) and are sent again; no job is
//! lost and none runs twice at once; with plain connections, and on a cluster taking only TLS
//! (between its nodes too, and for `MIGRATE`) with an ACL user.

#[path = "support/cluster.rs"]
mod cluster;
mod support;
#[path = "support/tls_checks.rs"]
mod tls_checks;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::{job, JobContext, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use tokio_util::sync::CancellationToken;

const JOBS: u32 = 300;

/// The plain cluster's test.
const PLAIN: usize = 0;
/// The TLS cluster's test.
const TLS: usize = 1;
/// The test moving the slot to a new primary.
const NEW: usize = 2;

/// Runs per job id, the ids running now, and the ids seen running twice at once.
#[derive(Default)]
struct Runs {
    counts: HashMap<String, u32>,
    running: HashSet<String>,
    overlaps: Vec<String>,
}

/// Runs per test (the first number of each job's payload).
static RUNS: [Mutex<Option<Runs>>; 3] = [Mutex::new(None), Mutex::new(None), Mutex::new(None)];

fn ran(test: usize) -> HashSet<String> {
    RUNS[test]
        .lock()
        .unwrap()
        .as_ref()
        .map(|runs| runs.counts.keys().cloned().collect())
        .unwrap_or_default()
}

fn overlaps(test: usize) -> Vec<String> {
    RUNS[test]
        .lock()
        .unwrap()
        .as_ref()
        .map(|runs| runs.overlaps.clone())
        .unwrap_or_default()
}

#[job(queue = "moving", concurrency = 8, attempts = 100)]
async fn moving(job: (usize, u32), ctx: JobContext) -> Result<(), JobError> {
    let (test, id) = (job.0, ctx.id().to_string());
    {
        let mut runs = RUNS[test].lock().unwrap();
        let runs = runs.get_or_insert_with(Runs::default);
        *runs.counts.entry(id.clone()).or_default() += 1;
        if !runs.running.insert(id.clone()) {
            runs.overlaps.push(id.clone());
        }
    }
    tokio::time::sleep(Duration::from_millis(3)).await;
    RUNS[test]
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .running
        .remove(&id);
    Ok(())
}

/// Dispatches job `n` of `test` with id `job-<n>` until it is stored; the id makes trying
/// again safe.
async fn dispatch_until_stored(queue: &Queue, test: usize, n: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = format!("job-{n}");
    loop {
        match moving::dispatch(queue, (test, n)).id(id.as_str()).await {
            Ok(_) => return id,
            Err(e) => {
                assert!(Instant::now() < deadline, "dispatch {n} kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// How many `ASK` and `TRYAGAIN` answers the node on `port` of `cluster` gave (`INFO
/// errorstats`).
fn half_moved_answers(cluster: &RedisCluster, port: u16) -> u64 {
    let info = cluster.info(port, "errorstats");
    info.lines()
        .filter(|l| l.starts_with("errorstat_ASK:") || l.starts_with("errorstat_TRYAGAIN:"))
        .filter_map(|l| l.rsplit_once("count=")?.1.trim().parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_resharding_moves_a_running_queue_without_losing_a_job() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    move_a_running_queue(cluster, PLAIN, None).await;
}

/// The slot moves to a primary that joined the cluster and serves no slot yet: the client has
/// no connection to it when the source answers `ASK`, and opens one to follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_resharding_onto_a_new_primary_moves_a_running_queue_without_losing_a_job() {
    let (cluster, new) = tokio::task::spawn_blocking(|| {
        let mut cluster = RedisCluster::start_without_replicas();
        let new = cluster.add_primary();
        (cluster, new)
    })
    .await
    .unwrap();
    let asked = |cluster: &RedisCluster| {
        let stats = cluster.info(new, "commandstats");
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_asking:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let cluster = move_a_running_queue(cluster, NEW, Some(new)).await;
    assert!(
        asked(&cluster) > 0,
        "no call followed an ASK to the new primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tls_with_an_acl_user_resharding_moves_a_running_queue_without_losing_a_job() {
    let (_tls, security) = tls_checks::tls_with_acl_user(true);
    let cluster = RedisCluster::start_tls_for(security, tls_checks::USER).await;
    move_a_running_queue(cluster, TLS, None).await;
}

/// Test `test`: a worker runs queue `moving` on `cluster` (connected with `cluster.url()` and
/// short timeouts) while its slot moves to the primary on `to` (by default another primary
/// serving slots) and jobs are dispatched; every job runs, none twice at once. Returns the
/// cluster.
async fn move_a_running_queue(cluster: RedisCluster, test: usize, to: Option<u16>) -> RedisCluster {
    let cluster = Arc::new(cluster);
    let tag = "{queue:moving}";
    let slot = cluster.slot_of(tag);
    let from = cluster.port_of(tag);
    let to = to.unwrap_or_else(|| {
        *cluster
            .primary_ports()
            .iter()
            .find(|&&p| p != from)
            .expect("another primary")
    });

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
        dispatched.insert(dispatch_until_stored(&queue, test, n).await);
    }
    // The slot moves, key by key, while dispatching goes on.
    let migrating = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || {
            // Held a while with every key moved, so calls meet `ASK` (not only `TRYAGAIN`).
            cluster.migrate_slot_holding(
                slot,
                from,
                to,
                Duration::from_millis(40),
                Duration::from_millis(300),
            )
        })
    };
    let mut n = JOBS / 3;
    while !migrating.is_finished() || n < JOBS {
        dispatched.insert(dispatch_until_stored(&queue, test, n).await);
        n += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Clients did meet the slot half moved, and were answered by sending again.
    let redirected = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || half_moved_answers(&cluster, from))
            .await
            .unwrap()
    };
    assert!(
        redirected > 0,
        "no ASK or TRYAGAIN answer: the migration did not overlap the traffic"
    );
    migrating.await.expect("the slot migration");
    assert_eq!(cluster.port_of(tag), to, "the queue's slot moved");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ran = ran(test);
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
        overlaps(test).is_empty(),
        "jobs ran twice at once: {:?}",
        overlaps(test)
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
    drop(queue);
    Arc::try_unwrap(cluster).unwrap_or_else(|_| panic!("the cluster is still shared"))
}
