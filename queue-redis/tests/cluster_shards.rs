//! A sharded lane on a real Redis Cluster: a handler split into as many shards as the cluster
//! has primaries keeps one shard on each primary, and one worker drains them all.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::{job, parse_shard_queue, JobError, Queue};
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

static DONE: AtomicU32 = AtomicU32::new(0);

#[job(queue = "spread", shards = 3, concurrency = 8)]
async fn spread(_n: u32) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The shards whose keys the primary at `port` holds.
async fn shards_on(port: u16) -> BTreeSet<u16> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*spread@shard-*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.iter()
        .filter_map(|key| {
            let queue = key.strip_prefix("{queue:")?.split('#').next()?;
            parse_shard_queue(queue).map(|(_, index, _)| index)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_shards_spread_a_lane_over_every_primary() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let driver = RedisDriver::connect(&cluster.url())
        .await
        .expect("connect to the cluster");
    let queue = Queue::new(Arc::new(driver));
    let stored = queue
        .dispatch_bulk((0..300).map(spread::job))
        .await
        .expect("dispatch");
    assert_eq!(stored.len(), 300);
    assert_eq!(queue.counts("spread").await.unwrap().ready, 300);

    // One shard on each primary.
    let mut placed = BTreeMap::new();
    for port in cluster.primary_ports() {
        let shards = shards_on(port).await;
        assert_eq!(shards.len(), 1, "primary {port} holds shards {shards:?}");
        placed.insert(port, shards);
    }
    let all: BTreeSet<u16> = placed.values().flatten().copied().collect();
    assert_eq!(all, BTreeSet::from([0, 1, 2]), "{placed:?}");

    // One worker drains every shard.
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["spread"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while DONE.load(Ordering::SeqCst) < 300 {
        assert!(
            Instant::now() < deadline,
            "only {} of 300 jobs ran",
            DONE.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Jobs dispatched to an idle worker wake it on every shard.
    for n in 0..30 {
        spread::dispatch(&queue, n).await.expect("dispatch");
    }
    while DONE.load(Ordering::SeqCst) < 330 {
        assert!(Instant::now() < deadline, "the idle worker was not woken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = queue.counts("spread").await.unwrap();
    assert_eq!(counts.pending() + counts.failed, 0, "{counts:?}");
    stop.cancel();
    worker.await.unwrap().expect("worker");
}
