//! Names taken from user input do not grow memory without bound: blocking connections are
//! shared and capped, a lane that empties leaves no keys of its own, and a purged queue leaves
//! only its id and token counters behind.

#[path = "support/client.rs"]
mod client;
mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::Admin;
use queue_core::{Driver, Lane};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_on_many_lanes_keep_few_connections() {
    let server = RedisServer::start();
    let driver = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    // Waits on 60 lanes at once, twice over.
    for _ in 0..2 {
        let waits: Vec<_> = (0..60)
            .map(|n| {
                let driver = driver.clone();
                tokio::spawn(async move {
                    let lane = Lane::new(&format!("input-{n}"), "work").unwrap();
                    driver
                        .wait(&lane, Some(Duration::from_millis(300)))
                        .await
                        .unwrap();
                })
            })
            .collect();
        for wait in waits {
            wait.await.unwrap();
        }
    }
    let mut probe = client::connection(&server).await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut probe)
        .await
        .unwrap();
    let open = list.lines().count();
    // The probe, the command connection, and at most 16 idle blocking connections.
    assert!(open <= 18, "{open} connections open after the waits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_queue_leaves_only_its_counters_and_its_running_jobs_held_ids() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.unwrap();
    for name in ["work", "other"] {
        let lane = Lane::new("gone", name).unwrap();
        let jobs = (0..5).map(|n| job(&lane, json!(n))).collect();
        driver.enqueue(jobs).await.unwrap();
        let later = job(&lane, json!(9)).delay(Duration::from_secs(60));
        driver.enqueue(vec![later]).await.unwrap();
        let taken = driver
            .reserve(&lane, 2, Duration::from_secs(30))
            .await
            .unwrap()
            .jobs;
        driver.ack(&lane, &[taken[0].lease()]).await.unwrap();
    }
    assert!(driver.queues().await.unwrap().contains(&"gone".to_string()));

    driver.purge("gone").await.unwrap();
    let mut conn = client::connection(&server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*gone*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    // Besides the counters, the ids of the two jobs still running, held until their leases end.
    assert_eq!(
        keys,
        [
            "{queue:gone}:revoked",
            "{queue:gone}:seq",
            "{queue:gone}:tok"
        ]
    );
    let held: usize = redis::cmd("ZCARD")
        .arg("{queue:gone}:revoked")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 2);
    assert!(!driver.queues().await.unwrap().contains(&"gone".to_string()));

    // Dispatching again lists it again, with fresh ids above the old ones.
    let lane = Lane::new("gone", "work").unwrap();
    let id = driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap()[0]
        .id
        .clone();
    assert!(
        id.as_str().parse::<u64>().unwrap() > 12,
        "id {id} was reused"
    );
    assert!(driver.queues().await.unwrap().contains(&"gone".to_string()));
}

/// The keys of queue `queue`, sorted.
async fn keys_of(conn: &mut redis::aio::MultiplexedConnection, queue: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{queue:{queue}}}*"))
        .query_async(conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_that_empties_leaves_no_keys_of_its_own() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.unwrap();
    let mut conn = client::connection(&server).await;
    let lease = Duration::from_secs(30);
    // Emptied by acks (the last one a standalone ack), by a failure, and by a delete.
    let acked = Lane::new("tidy", "acked").unwrap();
    let failed = Lane::new("tidy", "failed").unwrap();
    let deleted = Lane::new("tidy", "deleted").unwrap();
    for lane in [&acked, &failed, &deleted] {
        let jobs = (0..3).map(|n| job(lane, json!(n))).collect();
        driver.enqueue(jobs).await.unwrap();
    }
    let taken = driver.reserve(&acked, 3, lease).await.unwrap().jobs;
    let leases: Vec<_> = taken.iter().map(|j| j.lease()).collect();
    // Acked with the next reserve, which finds nothing more, then one alone.
    driver
        .ack_and_reserve(&acked, &leases[..2], 5, lease)
        .await
        .unwrap();
    assert!(
        keys_of(&mut conn, "tidy")
            .await
            .contains(&"{queue:tidy}:lane:acked:active".to_string()),
        "a lane with a running job keeps its keys"
    );
    driver.ack(&acked, &leases[2..]).await.unwrap();

    for job in driver.reserve(&failed, 3, lease).await.unwrap().jobs {
        let gone = queue_core::Failure::fail("no");
        assert!(driver.fail(&failed, &job.lease(), gone).await.unwrap());
    }
    for job in driver.reserve(&deleted, 3, lease).await.unwrap().jobs {
        assert!(driver.delete("tidy", &job.id).await.unwrap());
    }

    let lane_keys: Vec<String> = keys_of(&mut conn, "tidy")
        .await
        .into_iter()
        .filter(|k| k.contains(":lane:"))
        .collect();
    assert!(lane_keys.is_empty(), "keys of emptied lanes: {lane_keys:?}");
    let lanes: Vec<String> = redis::cmd("SMEMBERS")
        .arg("{queue:tidy}:lanes")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(lanes.is_empty(), "emptied lanes still listed: {lanes:?}");
    assert_eq!(driver.counts("tidy").await.unwrap().failed, 3);

    // A retried failed job names its lane again, and runs.
    assert_eq!(driver.retry_failed("tidy", None).await.unwrap(), 3);
    let lane_counts = driver.lane_counts("tidy").await.unwrap();
    assert_eq!(lane_counts.len(), 1);
    assert_eq!(lane_counts[0].0, "failed");
    assert_eq!(lane_counts[0].1.ready, 3);
    assert_eq!(
        driver.reserve(&failed, 5, lease).await.unwrap().jobs.len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_that_missed_a_lane_deletes_nothing_and_says_so() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.unwrap();
    assert_eq!(driver.prefix(), "queue", "the default key prefix");
    let lane = Lane::new("raced", "late").unwrap();
    driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap();
    let mut conn = client::connection(&server).await;
    // The script as a purge sends it when its list of lanes was read before `late` appeared.
    let missed: i64 = redis::Script::new(include_str!("../lua/purge.lua"))
        .key("{queue:raced}:lanes")
        .key("{queue:raced}:data")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(missed, -1);
    assert_eq!(
        driver.counts("raced").await.unwrap().ready,
        1,
        "nothing deleted"
    );
    // The driver's purge lists the lanes again and deletes everything.
    driver.purge("raced").await.unwrap();
    assert_eq!(driver.counts("raced").await.unwrap().pending(), 0);
    // Only the id counter (no job was ever reserved, so there is no token counter).
    assert_eq!(keys_of(&mut conn, "raced").await, ["{queue:raced}:seq"]);
}
