//! The test support's fault proxy does what the fault tests rely on: it forwards, holds traffic
//! while partitioned without closing connections, delivers what it held once healed, cuts open
//! connections for good, and resets them.

mod support;

use std::time::Duration;

use support::proxy::FaultProxy;
use support::RedisServer;

async fn connect(proxy: &FaultProxy) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(proxy.url()).unwrap();
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect through the proxy")
}

async fn incr(conn: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<i64> {
    redis::cmd("INCR").arg("n").query_async(conn).await
}

#[tokio::test]
async fn a_partition_holds_traffic_and_a_heal_delivers_it() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut conn = connect(&proxy).await;
    assert_eq!(incr(&mut conn).await.unwrap(), 1);

    proxy.partition();
    let mut held = conn.clone();
    let pending = tokio::spawn(async move { incr(&mut held).await });
    // The command reached no server: the key is unchanged while the partition lasts.
    let mut direct = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for _ in 0..20 {
        let n: i64 = redis::cmd("GET")
            .arg("n")
            .query_async(&mut direct)
            .await
            .unwrap();
        assert_eq!(n, 1, "a partitioned command must not reach the server");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!pending.is_finished(), "no reply crosses a partition");
    assert_eq!(proxy.open_connections(), 1, "the connection stays open");

    proxy.heal();
    let n = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("the held command completes once healed")
        .unwrap()
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_connection_cut_for_good_stays_silent_while_new_ones_work() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut old = connect(&proxy).await;
    assert_eq!(incr(&mut old).await.unwrap(), 1);
    proxy.partition();
    proxy.heal_dropping_open();
    let silent = tokio::time::timeout(Duration::from_millis(300), incr(&mut old)).await;
    assert!(silent.is_err(), "the cut connection must not answer");
    let mut new = connect(&proxy).await;
    assert_eq!(incr(&mut new).await.unwrap(), 2, "a new connection works");
}

#[tokio::test]
async fn a_reset_closes_open_connections() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut conn = connect(&proxy).await;
    assert_eq!(incr(&mut conn).await.unwrap(), 1);
    proxy.reset();
    let after = tokio::time::timeout(Duration::from_secs(5), incr(&mut conn))
        .await
        .expect("a reset connection fails at once");
    assert!(after.is_err(), "a reset connection must fail: {after:?}");
    assert_eq!(proxy.open_connections(), 0);
}

#[tokio::test]
async fn a_delay_slows_each_reply() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let mut conn = connect(&proxy).await;
    proxy.delay(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(incr(&mut conn).await.unwrap(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "a request and its reply are each delayed: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retarget_sends_new_connections_to_another_server() {
    let first = RedisServer::start();
    let second = RedisServer::start();
    let proxy = FaultProxy::start(first.port());
    let mut old = connect(&proxy).await;
    assert_eq!(incr(&mut old).await.unwrap(), 1);

    proxy.retarget(second.port());
    let mut new = connect(&proxy).await;
    assert_eq!(
        incr(&mut new).await.unwrap(),
        1,
        "a new connection reaches the second server"
    );
    assert_eq!(
        incr(&mut old).await.unwrap(),
        2,
        "an open connection keeps its server"
    );
}
