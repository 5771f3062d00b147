//! Calls whose replies are lost on a real Redis Cluster: the server ran the call, the
//! connection was reset before its answer came back. The driver reports the outcome as unknown
//! and sends nothing again by itself (as it does on one server): a dispatch is stored once, a
//! reserve leases its jobs once. The cluster's one primary announces a fault proxy's port as
//! its own, so every connection of the client goes through the proxy, which lets chosen
//! requests through and cuts their connections before the reply.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::sync::Arc;
use std::time::Duration;

use cluster::RedisCluster;
use queue_core::{testing, Driver, Lane};
use queue_redis::RedisDriver;
use support::proxy::FaultProxy;

/// A cluster of one primary reached only through a proxy, and a driver connected through it.
async fn behind_proxy() -> (RedisCluster, FaultProxy, Arc<dyn Driver>) {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start_single_primary)
        .await
        .unwrap();
    let port = cluster.primary_ports()[0];
    let proxy = FaultProxy::start(port);
    let mut node = cluster.connect(port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cluster-announce-port")
        .arg(proxy.port())
        .query(&mut node)
        .unwrap();
    let slots: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut node).unwrap();
    assert!(
        format!("{slots:?}").contains(&proxy.port().to_string()),
        "the node announces the proxy: {slots:?}"
    );
    let url = format!("redis+cluster://127.0.0.1:{}", proxy.port());
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&url).await.unwrap());
    (cluster, proxy, driver)
}

/// How many times the node ran a script call (`EVALSHA`) so far.
fn script_calls(cluster: &RedisCluster) -> u64 {
    let port = cluster.primary_ports()[0];
    let stats = cluster.info(port, "commandstats");
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_whose_reply_is_lost_is_stored_once() {
    let (cluster, proxy, driver) = behind_proxy().await;
    let lane = Lane::new("lost", "work").unwrap();
    driver
        .enqueue(vec![testing::job(&lane, serde_json::json!("first"))])
        .await
        .unwrap();
    let before = script_calls(&cluster);

    proxy.cut_after_requests_with(Some(b"cut-this-dispatch"));
    let lost = driver
        .enqueue(vec![testing::job(
            &lane,
            serde_json::json!("cut-this-dispatch"),
        )])
        .await;
    proxy.cut_after_requests_with(None);
    let err = lost.expect_err("the reply never came back");
    assert!(err.is_retryable(), "{err:?}");

    let counts = driver.admin().unwrap().counts("lost").await.unwrap();
    assert_eq!(
        script_calls(&cluster) - before,
        1,
        "the dispatch was sent once"
    );
    assert_eq!(
        counts.ready, 2,
        "the first job and the cut one, stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_whose_reply_is_lost_leases_its_jobs_once() {
    let (cluster, proxy, driver) = behind_proxy().await;
    let lane = Lane::new("lost", "work").unwrap();
    driver
        .enqueue(
            (0..4)
                .map(|n| testing::job(&lane, serde_json::json!(n)))
                .collect(),
        )
        .await
        .unwrap();
    // The node has the reserve script loaded (else the cut call would only be refused).
    let warm = Lane::new("lost", "warm").unwrap();
    driver
        .reserve(&warm, 1, Duration::from_secs(60))
        .await
        .unwrap();
    let before = script_calls(&cluster);

    // The reserve script's call names the lane's ready list.
    proxy.cut_after_requests_with(Some(b"lane:work:ready"));
    let lost = driver.reserve(&lane, 2, Duration::from_secs(60)).await;
    proxy.cut_after_requests_with(None);
    let err = lost.expect_err("the reply never came back");
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(
        script_calls(&cluster) - before,
        1,
        "the reserve was sent once"
    );

    let counts = driver.admin().unwrap().counts("lost").await.unwrap();
    assert_eq!(
        (counts.active, counts.ready),
        (2, 2),
        "one batch leased, the rest still ready"
    );
    let next = driver
        .reserve(&lane, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(next.jobs.len(), 2, "the jobs no lost reply leased");
}
