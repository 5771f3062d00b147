//! A worker on a real Redis Cluster: queues whose keys live on different primaries, one worker
//! idle on all of them (blocked on each queue's primary), then draining what is dispatched.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::Error;
use queue_core::{job, JobError, Queue};
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

static DONE: AtomicU32 = AtomicU32::new(0);

#[job(queue = "alpha")]
async fn on_alpha(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "bravo")]
async fn on_bravo(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "echo")]
async fn on_echo(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "hotel")]
async fn on_hotel(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

const QUEUES: [&str; 4] = ["alpha", "bravo", "echo", "hotel"];

async fn dispatch_round(queue: &Queue, n: u32) {
    on_alpha::dispatch(queue, n).await.expect("dispatch alpha");
    on_bravo::dispatch(queue, n).await.expect("dispatch bravo");
    on_echo::dispatch(queue, n).await.expect("dispatch echo");
    on_hotel::dispatch(queue, n).await.expect("dispatch hotel");
}

/// Waits until `DONE` reaches `n`, failing after `within`.
async fn wait_done(n: u32, within: Duration) {
    let deadline = Instant::now() + within;
    while DONE.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} jobs ran",
            DONE.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Clients blocked in `BLPOP` on the node at `port` (with `password` if it needs one).
async fn blocked_on(port: u16, password: Option<&str>) -> usize {
    let url = match password {
        Some(pw) => format!("redis://:{pw}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    };
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    list.lines().filter(|l| l.contains("cmd=blpop")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_worker_drains_queues_on_every_primary() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let owners: HashSet<u16> = QUEUES
        .iter()
        .map(|q| cluster.port_of(&format!("{{queue:{q}}}")))
        .collect();
    assert_eq!(
        owners.len(),
        3,
        "the test's queues should live on all three primaries"
    );

    let driver = RedisDriver::connect(&cluster.url())
        .await
        .expect("connect to the cluster");
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_alpha", "on_bravo", "on_echo", "on_hotel"])
            .run_until(stop.clone().cancelled_owned()),
    );

    // One job per queue runs, then the idle worker blocks on every primary owning a queue.
    dispatch_round(&queue, 0).await;
    wait_done(4, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    for port in &owners {
        while blocked_on(*port, None).await == 0 {
            assert!(
                Instant::now() < deadline,
                "no blocking wait on the primary at port {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Work dispatched to all of them wakes the worker and is all done.
    for n in 1..=25 {
        dispatch_round(&queue, n).await;
    }
    wait_done(4 + 100, Duration::from_secs(20)).await;
    for q in QUEUES {
        let counts = queue.counts(q).await.expect("counts");
        assert_eq!(counts.pending(), 0, "{q}: {counts:?}");
        assert_eq!(counts.failed, 0, "{q}: {counts:?}");
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}

static GUARDED: AtomicU32 = AtomicU32::new(0);

#[job(queue = "golf")]
async fn on_golf(_n: u32) -> Result<(), JobError> {
    GUARDED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_a_password_runs_jobs_and_never_shows_it() {
    const PASSWORD: &str = "s3cret-cluster-pw";
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start_with_password(Some(PASSWORD)))
        .await
        .unwrap();

    // A wrong password fails, naming neither password.
    let wrong = cluster.url().replace(PASSWORD, "wr0ng-pw");
    let err = RedisDriver::connect(&wrong)
        .await
        .expect_err("a wrong password must be refused");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wr0ng-pw"), "{shown}");
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Storage { .. }),
        "{shown}"
    );

    let driver = RedisDriver::connect(&cluster.url())
        .await
        .expect("connect with the password");
    let shown = format!("{driver:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("***"), "{shown}");

    // The worker's blocking connection to the queue's primary authenticates too.
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_golf"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let owner = cluster.port_of("{queue:golf}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_on(owner, Some(PASSWORD)).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the worker did not block on the queue's primary"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..10 {
        on_golf::dispatch(&queue, n).await.expect("dispatch");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while GUARDED.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "the jobs did not run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}
