//! The Redis layout's performance-relevant properties, read back from a real server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::{Driver, Lane};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

/// An active set that Redis stores as a flat listpack makes every lease cost a scan of all of
/// it; the sentinel keeps it a skiplist, and counts ignore it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_set_stays_a_skiplist_that_counts_do_not_see() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = Lane::new("layout", "work").unwrap();
    let jobs = (0..3).map(|n| job(&lane, json!({ "n": n }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let taken = driver
        .reserve(&lane, 2, Duration::from_secs(30))
        .await
        .unwrap()
        .jobs;
    assert_eq!(taken.len(), 2);

    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for (key, encoding) in [("{queue:layout}:lane:work:active", "skiplist")] {
        let got: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(got, encoding, "{key}");
    }
    let counts = driver.admin().unwrap().counts("layout").await.unwrap();
    assert_eq!((counts.active, counts.ready), (2, 1));
    let leases: Vec<_> = taken.iter().map(|j| j.lease()).collect();
    assert_eq!(driver.ack(&lane, &leases).await.unwrap(), [true, true]);
    assert_eq!(
        driver
            .admin()
            .unwrap()
            .counts("layout")
            .await
            .unwrap()
            .active,
        0
    );
}

/// Scheduled jobs keep their envelopes out of the hash that reserve and ack read, so a large
/// backlog of delayed jobs does not slow down draining ready ones; they move in when due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_envelopes_wait_outside_the_hot_hash() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = Lane::new("later", "work").unwrap();
    let delayed = job(&lane, json!({"n": 1})).delay(Duration::from_millis(30));
    let id = driver.enqueue(vec![delayed]).await.unwrap()[0].id.clone();
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (data, later) = ("{queue:later}:data", "{queue:later}:later");
    let held = |key: &'static str| {
        let mut conn = conn.clone();
        let id = id.to_string();
        async move {
            redis::cmd("HEXISTS")
                .arg(key)
                .arg(id)
                .query_async::<bool>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!((held(data).await, held(later).await), (false, true));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let taken = driver
        .reserve(&lane, 1, Duration::from_secs(30))
        .await
        .unwrap()
        .jobs;
    assert_eq!(taken.len(), 1, "due by now");
    assert_eq!((held(data).await, held(later).await), (true, false));
}
