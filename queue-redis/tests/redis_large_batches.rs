//! Every script driven with 10,000+ jobs at once: Redis keeps the writes a script made before an
//! error, so a script that fails halfway (Lua's `unpack` gives up past ~8,000 values) leaves
//! jobs in no list. Each test checks the counts and that no key holds an orphan.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::{Driver, JobState, Lane, Lease};
use queue_redis::{RedisDriver, RedisOptions};
use redis::aio::MultiplexedConnection;
use serde_json::json;
use support::RedisServer;

const MANY: usize = 10_500;
const LEASE: Duration = Duration::from_secs(60);
/// Long enough for 10,500 jobs to be reserved before the first leases expire.
const SHORT_LEASE: Duration = Duration::from_secs(2);

async fn driver(server: &RedisServer, max_failed: usize, max_lost_leases: u32) -> Arc<dyn Driver> {
    let mut options = RedisOptions::default();
    options.max_failed = max_failed;
    options.max_lost_leases = max_lost_leases;
    Arc::new(
        RedisDriver::connect_with(&server.url(), options)
            .await
            .expect("connect"),
    )
}

async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Stores `n` jobs (the driver sends them 1,000 per script call); returns their ids.
async fn enqueue(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) -> Vec<String> {
    let jobs = (0..n).map(|i| job(lane, json!({ "n": i }))).collect();
    let stored = driver.enqueue(jobs).await.unwrap();
    stored.into_iter().map(|d| d.id.to_string()).collect()
}

/// Reserves every ready job of `lane` (1,000 per reserve call at most).
async fn reserve_all(driver: &Arc<dyn Driver>, lane: &Lane, lease: Duration) -> Vec<Lease> {
    let mut leases = Vec::new();
    loop {
        let r = driver.reserve(lane, 1000, lease).await.unwrap();
        if r.jobs.is_empty() {
            return leases;
        }
        leases.extend(r.jobs.iter().map(|j| j.lease()));
    }
}

async fn hkeys(conn: &mut MultiplexedConnection, key: &str) -> HashSet<String> {
    redis::cmd("HKEYS")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// Checks the keys of `queue` (one lane, `work`): every record is in exactly one index and
/// every index entry and side record belongs to a record. Returns the jobs per index.
async fn assert_consistent(
    conn: &mut MultiplexedConnection,
    queue: &str,
) -> HashMap<String, usize> {
    let tag = format!("{{queue:{queue}}}");
    let lane = format!("{tag}:lane:work");
    let data = hkeys(conn, &format!("{tag}:data")).await;
    let later = hkeys(conn, &format!("{tag}:later")).await;
    let mut indexes: Vec<(&str, Vec<String>)> = Vec::new();
    let list = |key: String| redis::cmd("LRANGE").arg(key).arg(0).arg(-1).clone();
    let zset = |key: String| redis::cmd("ZRANGE").arg(key).arg(0).arg(-1).clone();
    for (name, cmd) in [
        ("ready", list(format!("{lane}:ready"))),
        ("prio", zset(format!("{lane}:prio"))),
        ("sched", zset(format!("{lane}:sched"))),
        ("active", zset(format!("{lane}:active"))),
        ("failed", list(format!("{tag}:failed"))),
    ] {
        let mut ids: Vec<String> = cmd.query_async(conn).await.unwrap();
        ids.retain(|id| !id.starts_with("sentinel: "));
        indexes.push((name, ids));
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut sizes = HashMap::new();
    for (name, ids) in &indexes {
        sizes.insert(name.to_string(), ids.len());
        for id in ids {
            if let Some(other) = seen.insert(id.clone(), name) {
                panic!("job {id} is in both {other} and {name}");
            }
            let home = if *name == "sched" { &later } else { &data };
            assert!(home.contains(id), "{name} holds {id}, which has no record");
        }
    }
    for id in data.iter().chain(&later) {
        assert!(seen.contains_key(id), "record {id} is in no index");
    }
    for side in ["err", "errs", "prog", "lost", "order"] {
        for id in hkeys(conn, &format!("{tag}:{side}")).await {
            assert!(
                data.contains(&id) || later.contains(&id),
                "{side} holds {id}, which has no record"
            );
        }
    }
    sizes
}

async fn hlen(conn: &mut MultiplexedConnection, key: &str) -> usize {
    redis::cmd("HLEN").arg(key).query_async(conn).await.unwrap()
}

/// 10,500 jobs fail at once (a reap of their expired leases, poison after one lost lease), then
/// a driver keeping 10 failed jobs trims the other 10,491 inside one reserve, which still hands
/// out its jobs. Before chunking, the trim's HDEL of 10,491 ids failed in `unpack` after the
/// reaper had taken the job off its lease: it was left in no list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_failures_are_trimmed_inside_one_reserve() {
    let server = RedisServer::start();
    let mut conn = raw(&server).await;
    let lane = Lane::new("trim", "work").unwrap();
    let keeps_all = driver(&server, 100_000, 1).await;
    enqueue(&keeps_all, &lane, MANY).await;
    let leases = reserve_all(&keeps_all, &lane, SHORT_LEASE).await;
    assert_eq!(leases.len(), MANY);
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    assert_eq!(keeps_all.reap(&lane).await.unwrap(), MANY);
    let c = keeps_all.admin().unwrap().counts("trim").await.unwrap();
    assert_eq!((c.failed, c.active, c.ready), (MANY as u64, 0, 0));
    assert_consistent(&mut conn, "trim").await;

    // One more job loses its lease; five wait.
    let keeps_ten = driver(&server, 10, 1).await;
    let last = enqueue(&keeps_ten, &lane, 1).await;
    let taken = keeps_ten.reserve(&lane, 1, SHORT_LEASE).await.unwrap().jobs;
    assert_eq!(taken[0].id.as_str(), last[0]);
    let waiting = enqueue(&keeps_ten, &lane, 5).await;
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    let r = keeps_ten.reserve(&lane, 10, LEASE).await.unwrap();
    let got: Vec<String> = r.jobs.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(
        got, waiting,
        "the reserve that trimmed still leased its jobs"
    );

    let c = keeps_ten.admin().unwrap().counts("trim").await.unwrap();
    assert_eq!((c.failed, c.active, c.ready), (10, 5, 0));
    let failed = keeps_ten
        .admin()
        .unwrap()
        .failed("trim", 0, 20)
        .await
        .unwrap();
    assert_eq!(failed[0].id.as_str(), last[0], "the newest failure is kept");
    assert!(failed[0]
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("poison: lost its lease 1 times"));
    let sizes = assert_consistent(&mut conn, "trim").await;
    assert_eq!((sizes["failed"], sizes["active"]), (10, 5));
    // No record of a trimmed job is left in any hash.
    assert_eq!(hlen(&mut conn, "{queue:trim}:data").await, 15);
    assert_eq!(hlen(&mut conn, "{queue:trim}:err").await, 10);
    assert_eq!(hlen(&mut conn, "{queue:trim}:errs").await, 10);
    assert_eq!(hlen(&mut conn, "{queue:trim}:lost").await, 10);
}

/// Requeue, renew, ack, reap, retry from the failed list, delete and purge, each with 10,500
/// jobs (requeue, ack and the failed list's retry in one driver call each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_script_handles_ten_thousand_jobs() {
    let server = RedisServer::start();
    let mut conn = raw(&server).await;
    let driver = driver(&server, 100_000, 1).await;
    let lane = Lane::new("many", "work").unwrap();
    let ids = enqueue(&driver, &lane, MANY).await;

    // Requeue all in one call: back in dispatch order.
    let leases = reserve_all(&driver, &lane, LEASE).await;
    assert_eq!(leases.len(), MANY);
    let held = driver.requeue(&lane, &leases).await.unwrap();
    assert_eq!(held.iter().filter(|h| **h).count(), MANY);
    let sizes = assert_consistent(&mut conn, "many").await;
    assert_eq!((sizes["ready"], sizes["active"]), (MANY, 0));

    // Renew and ack all in one call each.
    let leases = reserve_all(&driver, &lane, LEASE).await;
    let order: Vec<String> = leases.iter().map(|l| l.id.to_string()).collect();
    assert_eq!(order, ids, "requeued jobs keep their dispatch order");
    let renewed = driver.renew(&lane, &leases, LEASE).await.unwrap();
    assert!(renewed.iter().all(|h| *h));
    let acked = driver.ack(&lane, &leases).await.unwrap();
    assert_eq!(acked.len(), MANY);
    assert!(acked.iter().all(|a| *a));
    assert_eq!(
        driver
            .admin()
            .unwrap()
            .counts("many")
            .await
            .unwrap()
            .pending(),
        0
    );
    assert_eq!(hlen(&mut conn, "{queue:many}:data").await, 0);

    // Reap all (poison after one lost lease), then retry them all from the failed list.
    enqueue(&driver, &lane, MANY).await;
    reserve_all(&driver, &lane, SHORT_LEASE).await;
    tokio::time::sleep(SHORT_LEASE + Duration::from_millis(100)).await;
    assert_eq!(driver.reap(&lane).await.unwrap(), MANY);
    assert_eq!(
        driver.admin().unwrap().counts("many").await.unwrap().failed,
        MANY as u64
    );
    assert_eq!(hlen(&mut conn, "{queue:many}:lost").await, MANY);
    assert_eq!(
        driver
            .admin()
            .unwrap()
            .retry_failed("many", None)
            .await
            .unwrap(),
        MANY
    );
    let c = driver.admin().unwrap().counts("many").await.unwrap();
    assert_eq!((c.failed, c.ready), (0, MANY as u64));
    assert_eq!(hlen(&mut conn, "{queue:many}:lost").await, 0);
    let sizes = assert_consistent(&mut conn, "many").await;
    assert_eq!((sizes["ready"], sizes["failed"]), (MANY, 0));

    // Delete one from the middle of 10,500 ready jobs.
    let ready: Vec<String> = redis::cmd("LRANGE")
        .arg("{queue:many}:lane:work:ready")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let middle = queue_core::JobId::from(ready[MANY / 2].as_str());
    assert!(driver
        .admin()
        .unwrap()
        .delete("many", &middle)
        .await
        .unwrap());
    assert!(driver
        .admin()
        .unwrap()
        .job("many", &middle)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        driver.admin().unwrap().counts("many").await.unwrap().ready,
        MANY as u64 - 1
    );
    assert_consistent(&mut conn, "many").await;

    // Purge with jobs in every state.
    let taken = driver.reserve(&lane, 1000, LEASE).await.unwrap().jobs;
    driver
        .enqueue(vec![job(&lane, json!({})).delay(Duration::from_secs(60))])
        .await
        .unwrap();
    let info = driver
        .admin()
        .unwrap()
        .job("many", &taken[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.state, JobState::Active);
    driver.admin().unwrap().purge("many").await.unwrap();
    let c = driver.admin().unwrap().counts("many").await.unwrap();
    assert_eq!(c.pending() + c.failed, 0);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("{queue:many}:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut left: Vec<&str> = left.iter().map(String::as_str).collect();
    left.sort();
    // Besides the counters, the ids of the purged running jobs, held until their leases end.
    assert_eq!(
        left,
        [
            "{queue:many}:revoked",
            "{queue:many}:seq",
            "{queue:many}:tok"
        ]
    );
    let held: usize = redis::cmd("ZCARD")
        .arg("{queue:many}:revoked")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, taken.len());
    let ttl: i64 = redis::cmd("PTTL")
        .arg("{queue:many}:revoked")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "the held ids expire with their leases: PTTL {ttl}");
}

/// 10,500 jobs due in one millisecond are promoted in dispatch order (the sorted set returns
/// them in text order), though one reserve promotes about 1,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_jobs_due_together_are_promoted_in_dispatch_order() {
    let server = RedisServer::start();
    let mut conn = raw(&server).await;
    let driver = driver(&server, 100, 3).await;
    let lane = Lane::new("due", "work").unwrap();
    let delay = Duration::from_millis(300);
    let jobs = (0..MANY)
        .map(|i| job(&lane, json!({ "n": i })).delay(delay))
        .collect();
    let ids: Vec<String> = driver
        .enqueue(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(
        driver
            .admin()
            .unwrap()
            .counts("due")
            .await
            .unwrap()
            .scheduled,
        MANY as u64
    );
    // The driver sends 1,000 jobs per script call, each call reading the clock: make all of
    // them due in the same millisecond, so the ties cross the 1,000 jobs one reserve promotes.
    let sched = "{queue:due}:lane:work:sched";
    let first: Vec<(String, u64)> = redis::cmd("ZRANGE")
        .arg(sched)
        .arg(0)
        .arg(0)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut pipe = redis::pipe();
    for chunk in ids.chunks(1000) {
        pipe.cmd("ZADD").arg(sched).arg("XX");
        for id in chunk {
            pipe.arg(first[0].1).arg(id);
        }
    }
    pipe.exec_async(&mut conn).await.unwrap();
    tokio::time::sleep(delay + Duration::from_millis(100)).await;
    let leases = reserve_all(&driver, &lane, LEASE).await;
    let order: Vec<String> = leases.iter().map(|l| l.id.to_string()).collect();
    assert_eq!(order.len(), MANY);
    assert!(order == ids, "not in dispatch order: {:?}...", &order[..12]);
    let sizes = assert_consistent(&mut conn, "due").await;
    assert_eq!(sizes["active"], MANY);
    assert_eq!(hlen(&mut conn, "{queue:due}:later").await, 0);
}
