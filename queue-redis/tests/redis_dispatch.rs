//! One-by-one dispatch: lone dispatches of a lane that meet share script calls, and each still
//! gets its own outcome.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, JobError, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;

#[job(queue = "lone")]
async fn lone(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "lone_big")]
async fn lone_big(_text: String) -> Result<(), JobError> {
    Ok(())
}

async fn redis_queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

/// Script calls (EVALSHA) the server has run, from INFO commandstats.
async fn script_calls(server: &RedisServer) -> u64 {
    command_calls(server, "evalsha").await
}

/// Calls of `command` the server has run, from INFO commandstats.
async fn command_calls(server: &RedisServer, command: &str) -> u64 {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Holds every client's commands for `ms` milliseconds (`CLIENT PAUSE`), so that dispatches
/// made meanwhile meet whatever the machine's speed.
async fn pause(server: &RedisServer, ms: u64) {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_dispatches_that_meet_share_calls_and_each_get_their_own_outcome() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    let before = script_calls(&server).await;
    pause(&server, 1000).await;
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move { lone::dispatch(&queue, n).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        let dispatched = task.await.unwrap().expect("dispatch");
        assert!(dispatched.created);
        ids.insert(dispatched.id);
    }
    assert_eq!(ids.len(), 200, "every job got an id of its own");
    assert_eq!(queue.counts("lone").await.unwrap().ready, 200);
    let calls = script_calls(&server).await - before;
    assert!(
        calls <= 3,
        "200 lone dispatches made during a pause took {calls} script calls"
    );

    // Lone dispatches of one chosen id that meet in a call: one stores the job.
    pause(&server, 500).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move { queue.dispatch(lone::job(n).id("order-7")).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let dispatched = task.await.unwrap().expect("dispatch");
        assert_eq!(dispatched.id.as_str(), "order-7");
        created += u32::from(dispatched.created);
    }
    assert_eq!(created, 1, "one of ten dispatches of `order-7` stored it");
    assert_eq!(queue.counts("lone").await.unwrap().ready, 201);
}

/// Lone dispatches of big payloads that meet do not all wait for one call: once a megabyte
/// waits, it goes in a call of its own, up to four calls of the lane on their way together. A
/// payload stored beside its record takes its id first (`INCRBY`), so counting those counts
/// the calls: 40 jobs of 100 KB made during a pause go in five (the first alone, three of 11
/// sent while it waits, then the 6 left once it answered), where one call at a time made two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_dispatches_of_big_payloads_that_meet_go_in_calls_on_their_way_together() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    let before = command_calls(&server, "incrby").await;
    pause(&server, 1000).await;
    let tasks: Vec<_> = (0..40u8)
        .map(|n| {
            let queue = queue.clone();
            // Unique per job: its number, then a letter that differs between neighbours.
            let text = format!("{n:03}") + &char::from(b'a' + n % 26).to_string().repeat(100 << 10);
            tokio::spawn(async move { (lone_big::dispatch(&queue, text.clone()).await, text) })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        let (dispatched, text) = task.await.unwrap();
        let dispatched = dispatched.expect("dispatch");
        assert!(dispatched.created);
        let stored = queue
            .job("lone_big", &dispatched.id)
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(
            stored.payload,
            serde_json::to_vec(&text).unwrap(),
            "job {} holds its own payload",
            dispatched.id
        );
        ids.insert(dispatched.id);
    }
    assert_eq!(ids.len(), 40, "every job got an id of its own");
    assert_eq!(queue.counts("lone_big").await.unwrap().ready, 40);
    let calls = command_calls(&server, "incrby").await - before;
    assert_eq!(calls, 5, "40 lone dispatches of 100 KB made during a pause");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_dispatches_to_a_stopped_server_all_fail_and_the_lane_recovers() {
    let mut server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    lone::dispatch(&queue, 0).await.expect("dispatch while up");
    server.stop();
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(60), lone::dispatch(&queue, n)).await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap().expect("a dispatch hung");
        let error = outcome.expect_err("the server is down");
        assert!(error.is_retryable(), "{error}");
    }
    server.restart();
    let mut dispatched = None;
    for _ in 0..100 {
        match lone::dispatch(&queue, 99).await {
            Ok(d) => {
                dispatched = Some(d);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(
        dispatched.is_some(),
        "dispatch works again once the server is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_dispatch_given_up_while_waiting_is_not_stored() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    lone::dispatch(&queue, 0).await.expect("dispatch");
    pause(&server, 1000).await;
    // Polled once, the first dispatch has taken the lane's turn and waits for Redis.
    let mut first = std::future::IntoFuture::into_future(lone::dispatch(&queue, 1));
    tokio::select! {
        biased;
        _ = &mut first => panic!("Redis is paused; the dispatch cannot have finished"),
        _ = std::future::ready(()) => {}
    }
    let second = std::future::IntoFuture::into_future(lone::dispatch(&queue, 2));
    let given_up = tokio::time::timeout(Duration::from_millis(100), second).await;
    assert!(
        given_up.is_err(),
        "the second dispatch waits behind the first"
    );
    first.await.expect("dispatch");
    // A later dispatch ends after whatever gathered behind the first one was sent.
    lone::dispatch(&queue, 3).await.expect("dispatch");
    assert_eq!(
        queue.counts("lone").await.unwrap().ready,
        3,
        "jobs 0, 1 and 3; job 2's caller gave up before it was sent"
    );
}

/// A bulk dispatch of several calls' worth made when the server has forgotten its scripts
/// (`SCRIPT FLUSH`, as after a restart) loads the script again when its first transaction
/// of calls meets `NOSCRIPT` (none of them ran) and sends that transaction again, and stores
/// every job once, in dispatch order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_dispatch_after_a_script_flush_stores_every_job_in_order() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    // A first dispatch loads the script; then the server forgets it.
    lone::dispatch(&queue, 0).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (before, exec_before) = (
        script_calls(&server).await,
        command_calls(&server, "exec").await,
    );
    let stored = queue
        .dispatch_bulk((1..=4_500).map(lone::job))
        .await
        .expect("the bulk dispatch");
    // Five calls of at most 1,000 jobs: the first four in a transaction sent twice (refused
    // with NOSCRIPT, then again once the script was loaded), the fifth alone.
    assert_eq!(script_calls(&server).await - before, 9);
    assert_eq!(command_calls(&server, "exec").await - exec_before, 2);
    assert_eq!(stored.len(), 4_500);
    assert_in_lane_order(&queue, 1, &stored).await;
}

/// Reserves every job of the `lone` lane and checks that after the first `earlier` ones come
/// the `stored` jobs, each once, in their order.
async fn assert_in_lane_order(queue: &Queue, earlier: usize, stored: &[queue_core::Dispatched]) {
    let lane = queue_core::Lane::new("lone", "lone").unwrap();
    let mut reserved = Vec::new();
    let all = earlier + stored.len();
    while reserved.len() < all {
        let got = queue
            .driver()
            .reserve(&lane, 1_000, Duration::from_secs(60))
            .await
            .unwrap()
            .jobs;
        assert!(!got.is_empty(), "{} of {all} reserved", reserved.len());
        reserved.extend(got.into_iter().map(|job| job.id));
    }
    assert_eq!(
        reserved[earlier..],
        stored.iter().map(|d| d.id.clone()).collect::<Vec<_>>()[..]
    );
}

/// A bulk dispatch of ten calls' worth goes in three transactions (four calls, four, two),
/// a round trip each, and stores every job once, in dispatch order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_dispatch_sends_its_calls_together_in_transactions_in_order() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    lone::dispatch(&queue, 0).await.unwrap();
    let (scripts, execs) = (
        script_calls(&server).await,
        command_calls(&server, "exec").await,
    );
    let stored = queue
        .dispatch_bulk((1..=10_000).map(lone::job))
        .await
        .expect("the bulk dispatch");
    assert_eq!(script_calls(&server).await - scripts, 10);
    assert_eq!(command_calls(&server, "exec").await - execs, 3);
    assert!(stored.iter().all(|d| d.created));
    assert_in_lane_order(&queue, 1, &stored).await;
}
