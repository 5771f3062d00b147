//! Durable dispatch (`?durable_replicas=N&durable_timeout=..`) on a real primary and replica
//! started by the test: a dispatch returns once the replica holds the jobs, and fails clearly,
//! with the jobs stored on the primary, when fewer replicas than asked confirm them in time.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::{Error, NewJob, Queue};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

fn job(n: u32) -> NewJob {
    NewJob::named("work", serde_json::to_vec(&json!(n)).unwrap()).queue("durable")
}

async fn connection(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Jobs stored in the `durable` queue of the server at `port` (ready ones' records).
async fn stored_on(port: u16) -> usize {
    let mut conn = connection(port).await;
    redis::cmd("HLEN")
        .arg("{queue:durable}:data")
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Waits until the primary at `port` has a replica in sync.
async fn wait_for_replica(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = connection(port).await;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn)
            .await
            .unwrap();
        if info.contains("state=online") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never synced: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn queue_at(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_dispatch_waits_for_replicas_and_fails_clearly_without_them() {
    let primary = RedisServer::start();
    let port = primary.port().to_string();
    let mut replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    wait_for_replica(primary.port()).await;

    // Confirmed by the replica: it holds the jobs when the dispatch returns.
    let durable = queue_at(&format!(
        "{}?durable_replicas=1&durable_timeout=2s",
        primary.url()
    ))
    .await;
    durable.dispatch(job(0)).await.expect("durable dispatch");
    assert_eq!(stored_on(replica.port()).await, 1);
    durable
        .dispatch_bulk((1..=50).map(job))
        .await
        .expect("durable bulk dispatch");
    assert_eq!(stored_on(replica.port()).await, 51);

    // More replicas asked than there are: stored on the primary, and said so.
    let greedy = queue_at(&format!(
        "{}?durable_replicas=2&durable_timeout=100ms",
        primary.url()
    ))
    .await;
    let error = greedy.dispatch(job(51)).await.unwrap_err();
    let Error::NotReplicated {
        stored,
        confirmed,
        wanted,
        ..
    } = &error
    else {
        panic!("expected NotReplicated, got {error:?}");
    };
    assert_eq!((stored.len(), *confirmed, *wanted), (1, 1, 2));
    assert!(
        error.to_string().contains("only 1 of 2 replicas confirmed"),
        "{error}"
    );
    assert_eq!(durable.counts("durable").await.unwrap().ready, 52);

    // The replica gone: a durable dispatch fails, naming what happened.
    replica.stop();
    let error = durable.dispatch(job(52)).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::NotReplicated {
                confirmed: 0,
                wanted: 1,
                ..
            }
        ),
        "{error:?}"
    );

    // Bad settings are refused at connect, naming the parameter.
    let error = RedisDriver::connect(&format!("{}?durable_replicas=one", primary.url()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("durable_replicas"), "{error}");
}

/// A connection without a response timeout (`DEBUG SLEEP` answers after seconds).
async fn patient(port: u16) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

/// The process id of the server at `port`.
async fn process_id(port: u16) -> String {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut connection(port).await)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("INFO server names the process")
        .trim()
        .to_string()
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: &str, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid)
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The command connection replaced between a durable dispatch's store and its wait: the
/// server stalls (`DEBUG SLEEP`), another call of the process times out meanwhile and replaces
/// the connection, and the dispatch sent during the stall gets its reply on the old one. A
/// `WAIT` alone on the new connection, which wrote nothing, would confirm at once, though the
/// only replica is stopped; the dispatch is reported as confirmed by none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_replaced_between_the_store_and_the_wait_confirms_nothing() {
    let primary = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let port = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    wait_for_replica(primary.port()).await;
    let mut options = queue_redis::RedisOptions::default();
    options.durable_replicas = 1;
    options.durable_timeout = Duration::from_millis(500);
    options.response_timeout = Duration::from_secs(3);
    let queue = Queue::new(Arc::new(
        RedisDriver::connect_with(&primary.url(), options)
            .await
            .expect("connect"),
    ));
    queue.dispatch(job(0)).await.expect("a durable dispatch");

    let replica_pid = process_id(replica.port()).await;
    signal(&replica_pid, "STOP");
    let began = Instant::now();
    let stall = tokio::spawn({
        let port = primary.port();
        async move {
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(4)
                .query_async(&mut patient(port).await)
                .await
                .unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Sent into the stall: times out at 3 s and replaces the connection.
    let other = tokio::spawn({
        let queue = queue.clone();
        async move { queue.counts("durable").await }
    });
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(began.elapsed())).await;
    // Sent into the stall too: stored once the server wakes at 4 s, answered on the old
    // connection, within its own 3 s.
    let result = queue.dispatch(job(1)).await;
    signal(&replica_pid, "CONT");
    stall.await.unwrap();
    let other = other.await.unwrap();
    assert!(other.is_err(), "the other call did not time out: {other:?}");
    let error = result.expect_err("a dispatch no replica confirmed");
    let Error::NotReplicated {
        stored, confirmed, ..
    } = &error
    else {
        panic!("expected NotReplicated, got {error:?}");
    };
    assert_eq!((stored.len(), *confirmed), (1, 0), "{error}");
}

/// Durable dispatches waiting for a replica that does not come hold up no other call of the
/// process: Redis holds a client's later commands while its `WAIT` waits, so the waits go on
/// connections of their own, and a call made meanwhile on the command connection (a renewal,
/// an admin read) is answered while every dispatch still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_replicas_holds_up_no_other_call() {
    let primary = RedisServer::start();
    let queue = queue_at(&format!(
        "{}?durable_replicas=1&durable_timeout=1s",
        primary.url()
    ))
    .await;
    queue.counts("durable").await.expect("connected");
    let dispatches: Vec<_> = (0..6)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.dispatch(job(n)).await })
        })
        .collect();
    // Until the dispatches' jobs are stored, their waits have not begun.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stored_on(primary.port()).await < 6 {
        assert!(Instant::now() < deadline, "the jobs were never stored");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let counts = queue.counts("durable").await.expect("an admin read");
    assert_eq!(counts.ready, 6);
    assert!(
        dispatches.iter().all(|d| !d.is_finished()),
        "a dispatch's wait ended before the admin read was answered"
    );
    for dispatch in dispatches {
        let error = dispatch.await.unwrap().expect_err("no replica confirmed");
        assert!(
            matches!(error, Error::NotReplicated { confirmed: 0, .. }),
            "{error:?}"
        );
    }
}
