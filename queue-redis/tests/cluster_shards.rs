//! A sharded lane on a real Redis Cluster: a handler split into as many shards as the cluster
//! has primaries keeps one shard on each primary, and one worker drains them all; the queue's
//! statistics and event log, kept per shard on three primaries, are read as the queue's.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::{job, parse_shard_queue, shard_queue, EventKind, JobError, Queue};
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
    let queue = Queue::new(Arc::new(driver))
        .with_event_log(10_000)
        .expect("an event log");
    let stored = queue
        .dispatch_bulk((0..300).map(spread::job))
        .await
        .expect("dispatch");
    assert_eq!(stored.len(), 300);
    let mut ids: BTreeSet<String> = stored.iter().map(|d| d.id.to_string()).collect();
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
        let id = spread::dispatch(&queue, n).await.expect("dispatch").id;
        ids.insert(id.to_string());
    }
    while DONE.load(Ordering::SeqCst) < 330 {
        assert!(Instant::now() < deadline, "the idle worker was not woken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counts = queue.counts("spread").await.unwrap();
    assert_eq!(counts.pending() + counts.failed, 0, "{counts:?}");
    stop.cancel();
    worker.await.unwrap().expect("worker");
    stats_and_events_add_up(&cluster, &ids).await;
}

/// The statistics and the event log of queue `spread`, whose jobs `ids` all ran: each shard
/// (on its own primary) holds its part, and the queue's name reads them together.
async fn stats_and_events_add_up(cluster: &RedisCluster, ids: &BTreeSet<String>) {
    // A reader in another process's place: it knows nothing of the lane's shards.
    let reader = Queue::connect(&cluster.url()).await.expect("connect");
    let all = reader.stats("spread").await.expect("stats");
    assert_eq!(all.total().completed, 330, "{all:?}");
    assert_eq!(all.totals.len(), 1, "one job name: {all:?}");
    let by_minute: u64 = all.minutes.iter().map(|m| m.runs.completed).sum();
    assert_eq!(by_minute, 330, "the shards' minutes added up");
    let mut parts = Vec::new();
    for index in 0..3 {
        let shard = reader
            .stats(&shard_queue("spread", index, 3))
            .await
            .unwrap();
        parts.push(shard.total().completed);
    }
    assert!(
        parts.iter().all(|&n| n > 0),
        "every shard ran jobs: {parts:?}"
    );
    assert_eq!(parts.iter().sum::<u64>(), 330, "{parts:?}");

    // The event log: each shard's on its primary, followed as one.
    let mut stream = reader
        .follow_events_after("spread", None)
        .await
        .expect("follow");
    let (mut completed, mut dispatched) = (BTreeSet::new(), 0);
    let mut shards = BTreeSet::new();
    let mut midway = None;
    while completed.len() < ids.len() {
        let (position, event) = stream
            .next_within(Duration::from_secs(10))
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{} of 330 completions followed", completed.len()));
        shards.insert(event.lane.queue().to_string());
        match event.kind {
            EventKind::Completed => assert!(completed.insert(event.id.to_string()), "twice"),
            EventKind::Dispatched => dispatched += 1,
            other => panic!("unexpected {other:?}"),
        }
        if completed.len() + dispatched == 100 {
            midway = Some(position);
        }
    }
    assert_eq!(&completed, ids, "each job's completion, once");
    assert_eq!(shards.len(), 3, "from every shard's log: {shards:?}");
    // From a position midway, the rest comes, each event once.
    let mut rest = reader
        .follow_events_after("spread", midway)
        .await
        .expect("follow from a position");
    let mut after = 0;
    while rest
        .next_within(Duration::from_millis(500))
        .await
        .expect("read")
        .is_some()
    {
        after += 1;
    }
    while stream
        .next_within(Duration::from_millis(1))
        .await
        .expect("read")
        .is_some()
    {
        dispatched += 1;
    }
    assert_eq!(dispatched, 330, "every dispatch's event");
    assert_eq!(after, 660 - 100, "the events after the position, once each");
}
