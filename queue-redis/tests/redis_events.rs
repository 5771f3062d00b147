//! The event log on Redis: one capped stream per queue in the queue's hash tag, and blocking
//! reads that do not hold up the driver's other calls.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::testing::job;
use queue_core::{Driver, Lane, Queue};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_readers_leave_the_command_connection_free() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let log = || {
        driver
            .event_log()
            .expect("the Redis driver keeps an event log")
    };
    // Four readers block on empty logs for 3 s each.
    let readers: Vec<_> = (0..4)
        .map(|n| {
            let driver = driver.clone();
            tokio::spawn(async move {
                driver
                    .event_log()
                    .unwrap()
                    .read(
                        &format!("quiet-{n}"),
                        None,
                        10,
                        Some(Duration::from_secs(3)),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    // Wait until the server has all four readers blocked (INFO clients), so the commands below
    // are measured while they are.
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap();
        let blocked: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if blocked >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the readers never blocked ({blocked} blocked)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile the command connection answers at once.
    let lane = Lane::new("busy", "work").unwrap();
    let started = Instant::now();
    for n in 0..20 {
        driver.enqueue(vec![job(&lane, json!(n))]).await.unwrap();
    }
    assert!(log().read("busy", None, 10, None).await.unwrap().is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "commands waited for the blocked readers: {:?}",
        started.elapsed()
    );
    for reader in readers {
        assert!(reader.await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_queue_has_one_capped_stream_in_its_hash_tag() {
    let server = RedisServer::start();
    let url = format!("{}?prefix=app", server.url());
    let queue = Queue::connect(&url)
        .await
        .unwrap()
        .with_event_log(30)
        .unwrap();
    let lane = Lane::new("mail", "send").unwrap();
    for n in 0..300 {
        queue.dispatch(job(&lane, json!(n))).await.unwrap();
    }
    let stats = queue.event_log_stats().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.written() < 300 {
        assert!(
            Instant::now() < deadline,
            "only {} of 300 written",
            stats.written()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.dropped(), 0);
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let kind: String = redis::cmd("TYPE")
        .arg("{app:mail}:events")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "stream");
    let len: usize = redis::cmd("XLEN")
        .arg("{app:mail}:events")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (30..=130).contains(&len),
        "about 30 events kept, found {len}"
    );
}
