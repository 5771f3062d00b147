//! A worker on a real Redis Cluster: queues whose keys live on different primaries, one worker
//! idle on all of them (blocked on each queue's primary), then draining what is dispatched;
//! on a plain cluster, and on one taking only TLS with an ACL user, reached through
//! `Queue::connect` with `rediss+cluster://user:password@...?tls_ca_file=...`.

#[path = "support/cluster.rs"]
mod cluster;
mod support;
#[path = "support/tls_checks.rs"]
mod tls_checks;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::RedisCluster;
use queue_core::Error;
use queue_core::{job, JobError, Queue};
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

/// Jobs run, per test (the first number of each job).
static DONE: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// The plain cluster's test.
const PLAIN: usize = 0;
/// The TLS cluster's test.
const TLS: usize = 1;

#[job(queue = "alpha")]
async fn on_alpha(job: (usize, u32)) -> Result<(), JobError> {
    DONE[job.0].fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "bravo")]
async fn on_bravo(job: (usize, u32)) -> Result<(), JobError> {
    DONE[job.0].fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "echo")]
async fn on_echo(job: (usize, u32)) -> Result<(), JobError> {
    DONE[job.0].fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[job(queue = "hotel")]
async fn on_hotel(job: (usize, u32)) -> Result<(), JobError> {
    DONE[job.0].fetch_add(1, Ordering::SeqCst);
    Ok(())
}

const QUEUES: [&str; 4] = ["alpha", "bravo", "echo", "hotel"];

async fn dispatch_round(queue: &Queue, test: usize, n: u32) {
    let job = (test, n);
    on_alpha::dispatch(queue, job)
        .await
        .expect("dispatch alpha");
    on_bravo::dispatch(queue, job)
        .await
        .expect("dispatch bravo");
    on_echo::dispatch(queue, job).await.expect("dispatch echo");
    on_hotel::dispatch(queue, job)
        .await
        .expect("dispatch hotel");
}

/// Waits until `test`'s jobs run reach `n`, failing after `within`.
async fn wait_done(test: usize, n: u32, within: Duration) {
    let deadline = Instant::now() + within;
    while DONE[test].load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} jobs ran",
            DONE[test].load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until some client is blocked in `BLPOP` on the node on `port`.
async fn wait_blocked_on(cluster: &RedisCluster, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::task::block_in_place(|| cluster.blocked_on(port)) == 0 {
        assert!(
            Instant::now() < deadline,
            "no blocking wait on the primary at port {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_worker_drains_queues_on_every_primary() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    drain_queues_on_every_primary(&cluster, PLAIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tls_with_an_acl_user_and_a_client_certificate_drains_queues_on_every_primary() {
    let (_tls, security) = tls_checks::tls_with_acl_user(true);
    let cluster = RedisCluster::start_tls_for(security, tls_checks::USER).await;
    drain_queues_on_every_primary(&cluster, TLS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_tls_refuses_a_wrong_password_or_an_unknown_ca() {
    let (tls, security) = tls_checks::tls_with_acl_user(true);
    let cluster = tokio::task::spawn_blocking(move || RedisCluster::start_secured(security))
        .await
        .unwrap();
    tls_checks::check_refusals(&cluster.url(), &tls).await;
}

/// Test `test`: a worker idle on queues living on every primary of `cluster` (connected with
/// `Queue::connect(cluster.url())`) blocks on each, then runs all that is dispatched to them.
async fn drain_queues_on_every_primary(cluster: &RedisCluster, test: usize) {
    let owners: HashSet<u16> = QUEUES
        .iter()
        .map(|q| cluster.port_of(&format!("{{queue:{q}}}")))
        .collect();
    assert_eq!(
        owners.len(),
        3,
        "the test's queues should live on all three primaries"
    );

    let queue = Queue::connect(&cluster.url())
        .await
        .expect("connect to the cluster");
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_alpha", "on_bravo", "on_echo", "on_hotel"])
            .run_until(stop.clone().cancelled_owned()),
    );

    // One job per queue runs, then the idle worker blocks on every primary owning a queue.
    dispatch_round(&queue, test, 0).await;
    wait_done(test, 4, Duration::from_secs(10)).await;
    for port in &owners {
        wait_blocked_on(cluster, *port).await;
    }

    // Work dispatched to all of them wakes the worker and is all done.
    for n in 1..=25 {
        dispatch_round(&queue, test, n).await;
    }
    wait_done(test, 4 + 100, Duration::from_secs(20)).await;
    for q in QUEUES {
        let counts = queue.counts(q).await.expect("counts");
        assert_eq!(counts.pending(), 0, "{q}: {counts:?}");
        assert_eq!(counts.failed, 0, "{q}: {counts:?}");
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}

static GUARDED: AtomicU32 = AtomicU32::new(0);

#[job(queue = "golf")]
async fn on_golf(_n: u32) -> Result<(), JobError> {
    GUARDED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_with_a_password_runs_jobs_and_never_shows_it() {
    const PASSWORD: &str = "s3cret-cluster-pw";
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start_with_password(Some(PASSWORD)))
        .await
        .unwrap();

    // A wrong password fails, naming neither password.
    let wrong = cluster.url().replace(PASSWORD, "wr0ng-pw");
    let err = RedisDriver::connect(&wrong)
        .await
        .expect_err("a wrong password must be refused");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wr0ng-pw"), "{shown}");
    assert!(
        matches!(err, Error::Unavailable { .. } | Error::Storage { .. }),
        "{shown}"
    );

    let driver = RedisDriver::connect(&cluster.url())
        .await
        .expect("connect with the password");
    let shown = format!("{driver:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("***"), "{shown}");

    // The worker's blocking connection to the queue's primary authenticates too.
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_golf"])
            .run_until(stop.clone().cancelled_owned()),
    );
    wait_blocked_on(&cluster, cluster.port_of("{queue:golf}")).await;
    for n in 0..10 {
        on_golf::dispatch(&queue, n).await.expect("dispatch");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while GUARDED.load(Ordering::SeqCst) < 10 {
        assert!(Instant::now() < deadline, "the jobs did not run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    worker.await.unwrap().expect("worker");
}

/// A cluster URL whose first seed is down: the driver connects through the others, and an idle
/// wait, which first tries that seed for the lane's wake key, asks the cluster where the key
/// lives once that fails, and from then on blocks there and is woken by a dispatch (before,
/// every wait failed at once, and idle workers polled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_waits_find_their_node_when_the_first_seed_is_down() {
    use queue_core::{Driver, Lane, NewJob};

    let cluster = tokio::task::spawn_blocking(RedisCluster::start_without_replicas)
        .await
        .unwrap();
    let dead = support::free_port();
    let live = cluster.primary_ports()[0];
    let url = format!("redis+cluster://127.0.0.1:{dead},127.0.0.1:{live}/");
    let driver = Arc::new(
        RedisDriver::connect(&url)
            .await
            .expect("connect past the dead seed"),
    );
    let lane = Lane::new("seeded", "on_seeded").unwrap();
    // This one goes to the dead seed and fails; the key's node is asked for then.
    let first = driver.wait(&lane, Some(Duration::from_millis(100))).await;
    assert!(
        first.is_err(),
        "the first wait reached the dead seed: {first:?}"
    );
    let waiting = tokio::spawn({
        let (driver, lane) = (driver.clone(), lane.clone());
        async move { driver.wait(&lane, None).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the wait did not block");
    driver
        .enqueue(vec![
            NewJob::named("on_seeded", b"1".to_vec()).queue("seeded")
        ])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the dispatch woke the wait")
        .unwrap()
        .expect("the wait blocked on the key's node");
}

/// A cluster node given as one server (`redis://`) is refused at connect, naming the scheme to
/// use: its lanes' scripts would work (one hash tag each), but the idle lanes' shared wait
/// names many queues, and every idle wait would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_given_as_one_server_is_refused_clearly() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start_without_replicas)
        .await
        .unwrap();
    let url = format!("redis://127.0.0.1:{}/", cluster.primary_ports()[0]);
    let error = RedisDriver::connect(&url).await.unwrap_err();
    assert!(
        matches!(error, Error::InvalidUrl { .. }),
        "not a URL error: {error:?}"
    );
    assert!(error.to_string().contains("redis+cluster://"), "{error}");
}
