//! Failover on a real Redis Cluster: a sharded lane spread over three primaries, a worker
//! running it, a dispatcher with durable dispatch (`WAIT` for one replica); one primary is
//! killed (SIGKILL) mid-run and its replica promoted (`CLUSTER FAILOVER TAKEOVER`). The worker
//! and the dispatcher carry on, and every job whose dispatch was acknowledged runs; with plain
//! connections, and on a cluster taking only TLS (between its nodes too) with an ACL user.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/settle.rs"]
mod settle;
mod support;
#[path = "support/tls_checks.rs"]
mod tls_checks;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::{job, JobContext, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use tokio_util::sync::CancellationToken;

const JOBS: u32 = 400;

/// The plain cluster's test.
const PLAIN: usize = 0;
/// The TLS cluster's test.
const TLS: usize = 1;

/// Ids of the jobs that ran, per test (the first number of each job's payload).
static DONE: [Mutex<Option<HashSet<String>>>; 2] = [Mutex::new(None), Mutex::new(None)];

fn done(test: usize) -> HashSet<String> {
    DONE[test].lock().unwrap().clone().unwrap_or_default()
}

#[job(queue = "failover", shards = 3, concurrency = 8, attempts = 100)]
async fn step(job: (usize, u32), ctx: JobContext) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    DONE[job.0]
        .lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(ctx.id().to_string());
    Ok(())
}

/// Dispatches job `n` of `test` with id `job-<n>` until a dispatch is acknowledged (stored
/// and confirmed by a replica); the id makes trying again safe.
async fn dispatch_until_acknowledged(
    queue: &Queue,
    test: usize,
    n: u32,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    let id = format!("job-{n}");
    loop {
        match step::dispatch(queue, (test, n)).id(id.as_str()).await {
            Ok(_) => return id,
            Err(e) => {
                assert!(Instant::now() < deadline, "dispatch {n} kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_failover_loses_no_acknowledged_job() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    lose_no_acknowledged_job(cluster, PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tls_with_an_acl_user_failover_loses_no_acknowledged_job() {
    let (_tls, security) = tls_checks::tls_with_acl_user(true);
    let cluster = RedisCluster::start_tls_for(security, tls_checks::USER).await;
    lose_no_acknowledged_job(cluster, TLS).await;
}

/// Test `test`: a worker runs a sharded lane on `cluster` (connected with `cluster.url()`,
/// durable dispatch and short timeouts) while a primary is killed and its replica takes over;
/// every job whose dispatch was acknowledged, before or after, runs.
async fn lose_no_acknowledged_job(mut cluster: RedisCluster, test: usize) {
    let mut options = RedisOptions::default();
    options.response_timeout = Duration::from_secs(2);
    options.connect_timeout = Duration::from_secs(1);
    options.block_timeout = Duration::from_secs(2);
    let url = cluster.url_with("durable_replicas=1&durable_timeout=500ms");
    let driver = RedisDriver::connect_with(&url, options)
        .await
        .expect("connect to the cluster");
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["step"])
            .lease(Duration::from_secs(2))
            .run_until(stop.clone().cancelled_owned()),
    );

    let mut acknowledged = HashSet::new();
    for n in 0..JOBS / 4 {
        acknowledged
            .insert(dispatch_until_acknowledged(&queue, test, n, Duration::from_secs(30)).await);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while done(test).len() < 20 {
        assert!(Instant::now() < deadline, "the worker did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Mid-run, a primary dies without a word; its replica takes over, and the old primary
    // comes back as the new one's replica (durable dispatch needs one).
    let victim = cluster.primary_ports()[0];
    let replica = tokio::task::block_in_place(|| {
        let replica = cluster.replica_of(victim);
        cluster.kill(victim);
        cluster.take_over(replica);
        cluster.wait_until_ok_without(&[victim]);
        cluster.restart(victim);
        replica
    });

    // Dispatching goes on through and after the failover.
    for n in JOBS / 4..JOBS {
        acknowledged
            .insert(dispatch_until_acknowledged(&queue, test, n, Duration::from_secs(60)).await);
    }
    assert!(
        tokio::task::block_in_place(|| cluster.primary_ports()).contains(&replica),
        "the replica on {replica} should be a primary now"
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ran = done(test);
        let missing: Vec<&String> = acknowledged.difference(&ran).take(10).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged jobs ran after the failover; missing e.g. {missing:?}",
            acknowledged.intersection(&ran).count(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    settle::until_nothing_pending(&queue, "failover", Duration::from_secs(30)).await;
    stop.cancel();
    worker.await.unwrap().expect("worker");
}
