//! A worker on a real Redis Cluster: queues whose keys live on different primaries, one worker
//! idle on all of them (blocked on each queue's primary), then draining what is dispatched.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Queue};
use queue_redis::RedisDriver;
use support::cluster::RedisCluster;
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

/// Clients blocked in `BLPOP` on the node at `port`.
async fn blocked_on(port: u16) -> usize {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
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
        while blocked_on(*port).await == 0 {
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
