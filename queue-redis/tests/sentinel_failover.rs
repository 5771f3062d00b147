//! The Redis driver behind Sentinel: a primary, a replica and three sentinels; the primary is
//! killed (SIGKILL) while a worker runs, the sentinels promote the replica, and the worker and
//! the dispatcher carry on against it; with plain connections, and over TLS only with an ACL
//! user (`rediss+sentinel://user:password@...?tls_ca_file=...`).

#[path = "support/sentinel.rs"]
mod sentinel;
#[path = "support/settle.rs"]
mod settle;
mod support;
#[path = "support/tls_checks.rs"]
mod tls_checks;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::{job, Error, JobError, NewJob, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use sentinel::SentinelSet;
use support::Security;
use tokio_util::sync::CancellationToken;

/// Numbers of the jobs that ran, per test (the first number of each job).
static DONE: [Mutex<BTreeSet<u32>>; 2] = [Mutex::new(BTreeSet::new()), Mutex::new(BTreeSet::new())];

/// The plain set's failover test.
const PLAIN: usize = 0;
/// The TLS set's failover test.
const TLS: usize = 1;

fn done(test: usize) -> BTreeSet<u32> {
    DONE[test].lock().unwrap().clone()
}

#[job(queue = "failover", attempts = 100)]
async fn step(job: (usize, u32)) -> Result<(), JobError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    DONE[job.0].lock().unwrap().insert(job.1);
    Ok(())
}

/// Dispatches job `n` of `test`, trying again while the primary is away (at most `within`).
async fn dispatch_until_stored(queue: &Queue, test: usize, n: u32, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match step::dispatch(queue, (test, n)).await {
            Ok(_) => return,
            Err(e) => {
                assert!(e.is_retryable(), "dispatch {n}: {e}");
                assert!(Instant::now() < deadline, "dispatch {n} kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_worker_carries_on_when_the_primary_is_killed() {
    let set = tokio::task::spawn_blocking(SentinelSet::start)
        .await
        .unwrap();
    carry_on_when_the_primary_is_killed(set, PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_tls_with_an_acl_user_carries_on_when_the_primary_is_killed() {
    let (_tls, security) = tls_checks::tls_with_acl_user(false);
    let security = Security {
        sentinel_auth: true,
        ..security
    };
    let set = tokio::task::spawn_blocking(move || SentinelSet::start_secured(security))
        .await
        .unwrap();
    let url = set.url();
    assert!(url.starts_with("rediss+sentinel://queue-app:"), "{url}");

    // The sentinels require the user too: without `sentinel_auth` they do not answer.
    let without = url.replace("&sentinel_auth=yes", "");
    let err = match RedisDriver::connect(&without).await {
        Ok(_) => panic!("the sentinels should want credentials"),
        Err(err) => err,
    };
    let shown = err.to_string();
    assert!(
        shown.contains("NOAUTH") && shown.contains("the sentinels that want them"),
        "{shown}"
    );
    carry_on_when_the_primary_is_killed(set, TLS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_tls_refuses_a_wrong_password_or_an_unknown_ca() {
    let (tls, security) = tls_checks::tls_with_acl_user(true);
    let set = tokio::task::spawn_blocking(move || SentinelSet::start_secured(security))
        .await
        .unwrap();
    tls_checks::check_refusals(&set.url(), &tls).await;
}

/// Test `test`: a worker runs jobs through `set`'s sentinels (connected with `set.url()` and
/// short timeouts); the primary is killed mid-run, and the worker and the dispatcher carry on
/// against the replica the sentinels promote.
async fn carry_on_when_the_primary_is_killed(mut set: SentinelSet, test: usize) {
    let mut options = RedisOptions::default();
    options.response_timeout = Duration::from_secs(1);
    options.connect_timeout = Duration::from_secs(1);
    options.block_timeout = Duration::from_secs(2);
    let driver = RedisDriver::connect_with(&set.url(), options)
        .await
        .expect("connect through the sentinels");
    let queue = Queue::new(Arc::new(driver));

    for n in 0..200 {
        step::dispatch(&queue, (test, n)).await.expect("dispatch");
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["step"])
            .lease(Duration::from_secs(2))
            .run_until(stop.clone().cancelled_owned()),
    );

    // Mid-run: some jobs done, most not. Every dispatch so far is on the replica, then the
    // primary dies without a word.
    let deadline = Instant::now() + Duration::from_secs(20);
    while done(test).len() < 20 {
        assert!(Instant::now() < deadline, "the worker did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let old_primary = set.primary.port();
    tokio::task::block_in_place(|| {
        set.wait_replicated(Duration::from_secs(5));
        set.primary.stop();
    });
    assert!(
        done(test).len() < 200,
        "the primary should die while jobs are left"
    );

    // Dispatching goes on: each call is retried until the new primary stores it.
    for n in 200..300 {
        dispatch_until_stored(&queue, test, n, Duration::from_secs(60)).await;
    }
    let promoted = tokio::task::block_in_place(|| set.named_primary());
    assert_eq!(
        promoted,
        Some(set.replica.port()),
        "the sentinels should name the replica (the primary was {old_primary})"
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ran = done(test);
        if ran.len() == 300 {
            break;
        }
        let missing: Vec<u32> = (0..300).filter(|n| !ran.contains(n)).take(10).collect();
        assert!(
            Instant::now() < deadline,
            "{} of 300 jobs ran after the failover; missing e.g. {missing:?}",
            ran.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Runs whose acks went to the dead primary (or were given up after retrying for a lease)
    // stay active on the new one until their leases run out; they are then taken back and run
    // again, so nothing is left behind, only later than the set of numbers shows.
    settle::until_nothing_pending(&queue, "failover", Duration::from_secs(30)).await;
    stop.cancel();
    worker.await.unwrap().expect("worker");
}

#[job(queue = "guarded")]
async fn guarded(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_primary_with_a_password_runs_jobs_and_never_shows_it() {
    const PASSWORD: &str = "s3cret-sentinel-pw";
    let set = tokio::task::spawn_blocking(|| SentinelSet::start_with_password(Some(PASSWORD)))
        .await
        .unwrap();

    let wrong = set.url().replace(PASSWORD, "wr0ng-pw");
    let err = RedisDriver::connect(&wrong)
        .await
        .expect_err("a wrong password must be refused");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wr0ng-pw"), "{shown}");
    assert!(matches!(err, Error::Unavailable { .. }), "{shown}");

    let driver = RedisDriver::connect(&set.url())
        .await
        .expect("connect with the password");
    let shown = format!("{driver:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    let queue = Queue::new(Arc::new(driver));
    for n in 0..5 {
        guarded::dispatch(&queue, n).await.expect("dispatch");
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["guarded"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.counts("guarded").await.expect("counts").pending() > 0 {
        assert!(Instant::now() < deadline, "the jobs did not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}

/// The primary's connections received so far (`INFO stats`).
fn connections_received(set: &SentinelSet) -> u64 {
    let client = redis::Client::open(set.primary.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let info: String = redis::cmd("INFO").arg("stats").query(&mut conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO stats counts connections")
}

/// Behind Sentinel, a refusal of a primary that is still the primary (`OOM` at maxmemory)
/// neither has the sentinels asked nor replaces the connection: every dispatch refused while
/// memory is full goes over the one connection, and none opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_primary_behind_sentinel_keeps_its_connection() {
    let set = tokio::task::spawn_blocking(SentinelSet::start)
        .await
        .unwrap();
    let queue = Queue::new(Arc::new(
        RedisDriver::connect(&set.url()).await.expect("connect"),
    ));
    queue
        .dispatch(NewJob::named("full", b"0".to_vec()).queue("full"))
        .await
        .expect("a dispatch with room");
    let client = redis::Client::open(set.primary.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query_async(&mut admin)
        .await
        .unwrap();
    let before = connections_received(&set);
    for n in 1..=10u8 {
        let error = queue
            .dispatch(NewJob::named("full", vec![b'0' + n % 10]).queue("full"))
            .await
            .expect_err("refused at maxmemory");
        assert!(error.to_string().contains("out of memory"), "{error}");
    }
    let opened = connections_received(&set) - before;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query_async(&mut admin)
        .await
        .unwrap();
    // The count includes this test's own reading connection.
    assert!(
        opened <= 1,
        "{opened} connections opened while the primary refused dispatches"
    );
}
