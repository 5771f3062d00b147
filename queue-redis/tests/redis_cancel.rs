//! Cancelling a running job and unique locks around a killed worker, with real workers on a
//! real Redis: a job cancelled from another handle stops in the process that runs it within one
//! lease renewal period and ends as cancelled; a unique job whose worker was killed keeps its
//! key only while the job itself lives.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::{
    job, CancelOutcome, EventKind, JobContext, JobError, JobState, Queue, UniqueMode,
};
use queue_redis::RedisDriver;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Runs until cancelled.
#[job(queue = "cancel-slow")]
async fn endless(_: u64, ctx: JobContext) -> Result<(), JobError> {
    ctx.cancelled().await;
    Ok(())
}

const LEASE: Duration = Duration::from_millis(900);

async fn connect(server: &RedisServer) -> Queue {
    Queue::new(Arc::new(
        RedisDriver::connect(&server.url()).await.expect("connect"),
    ))
}

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_cancelled_from_another_handle_ends_cancelled_within_one_renewal() {
    let server = RedisServer::start();
    let queue = connect(&server).await;
    let other = connect(&server).await;
    let mut events = queue.events();
    let id = endless::dispatch(&queue, 1).await.unwrap().id;
    let worker = queue
        .worker()
        .handlers(["endless"])
        .lease(LEASE)
        .build()
        .unwrap();
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    wait_for("the job to run", async || {
        let info = other.job("cancel-slow", &id).await.unwrap().unwrap();
        info.state == JobState::Active
    })
    .await;

    let sent = Instant::now();
    assert_eq!(
        other.cancel("cancel-slow", &id).await.unwrap(),
        CancelOutcome::Stopped
    );
    let event = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event")
            .expect("events go on");
        if event.kind != EventKind::Dispatched {
            break event;
        }
    };
    let took = sent.elapsed();
    assert_eq!(
        (event.kind, event.id.clone(), event.attempt),
        (EventKind::Cancelled, id.clone(), 1)
    );
    // Renewals come every third of the lease; the renewal call itself takes a moment.
    let period = LEASE / 3;
    assert!(
        took < period + Duration::from_millis(250),
        "stopped after {took:?}"
    );

    let info = other.job("cancel-slow", &id).await.unwrap().expect("kept");
    assert_eq!(info.state, JobState::Cancelled);
    assert_eq!(info.last_error.as_deref(), Some("cancelled"));
    assert_eq!((stats.cancelled(), stats.leases_lost()), (1, 0));
    // Not retried: nothing waits or runs, the job stays cancelled.
    tokio::time::sleep(LEASE).await;
    let counts = other.counts("cancel-slow").await.unwrap();
    assert_eq!(
        (counts.ready, counts.scheduled, counts.active, counts.failed),
        (0, 0, 0, 1)
    );
    assert_eq!(
        stats.settlements_refused(),
        0,
        "the stopped run sends nothing"
    );
    stop.cancel();
    running.await.unwrap().unwrap();
}

/// Runs of `held`: the first blocks until its worker is killed, the others succeed.
static HELD_RUNS: AtomicU32 = AtomicU32::new(0);

#[job(queue = "cancel-held")]
async fn held(_: u64) -> Result<(), JobError> {
    if HELD_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        std::future::pending::<()>().await;
    }
    Ok(())
}

#[test]
fn a_killed_worker_leaves_no_lock_behind_its_job() {
    let server = RedisServer::start();
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The worker that is killed: everything it runs (pools, lease renewals, connections) lives
    // in its own runtime, dropped at once without a shutdown.
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url();
    doomed.spawn(async move {
        let queue = Queue::new(Arc::new(RedisDriver::connect(&url).await.expect("connect")));
        let worker = queue.worker().handlers(["held"]).lease(LEASE);
        worker.run_until(std::future::pending()).await
    });
    main.block_on(async {
        let queue = connect(&server).await;
        let unique = |n| {
            held::job(n)
                .unique("report")
                .unique_for(Duration::from_secs(3600))
                .unique_mode(UniqueMode::UntilFinished)
        };
        let first = queue.dispatch(unique(1)).await.unwrap();
        assert!(first.created);
        wait_for("the first run", async || {
            HELD_RUNS.load(Ordering::SeqCst) == 1
        })
        .await;
        doomed.shutdown_background();

        // The job still exists (its lease runs out, then it runs again): it holds the key.
        let dup = queue.dispatch(unique(2)).await.unwrap();
        assert_eq!((dup.id.clone(), dup.created), (first.id.clone(), false));

        let stop = CancellationToken::new();
        let worker = queue.worker().handlers(["held"]).lease(LEASE);
        let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
        wait_for("the job to run again and complete", async || {
            queue.job("cancel-held", &first.id).await.unwrap().is_none()
        })
        .await;
        let info_runs = HELD_RUNS.load(Ordering::SeqCst);
        assert_eq!(info_runs, 2, "run once more after the lease ran out");
        // The job is gone: its key is free at once, an hour before the lock's time ends.
        let next = queue.dispatch(unique(3)).await.unwrap();
        assert!(next.created && next.id != first.id);
        stop.cancel();
        running.await.unwrap().unwrap();
    });
}

/// The ids held after deleting or purging running jobs live in one set per queue, which
/// expires once its latest hold has passed: dispatches with chosen ids look in it only while it
/// exists, so a delete long ago costs them nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_ids_expire_with_their_latest_hold() {
    use queue_core::{testing, Driver, Lane};
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = Lane::new("held", "work").unwrap();
    let jobs = ["a", "b"].map(|id| testing::job(&lane, serde_json::json!(id)).id(id));
    driver.enqueue(Vec::from(jobs)).await.unwrap();
    let short = driver
        .reserve(&lane, 1, Duration::from_secs(3))
        .await
        .unwrap();
    let long = driver
        .reserve(&lane, 1, Duration::from_secs(20))
        .await
        .unwrap();
    let admin = driver.admin().unwrap();
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg("{queue:held}:revoked")
                .query_async(&mut conn)
                .await
                .unwrap();
            ms
        }
    };
    assert_eq!(ttl(&mut conn).await, -2, "no set before a delete");
    assert!(admin.delete("held", &long.jobs[0].id).await.unwrap());
    let first = ttl(&mut conn).await;
    assert!(
        (15_000..=20_000).contains(&first),
        "until the long lease: {first} ms"
    );
    // A shorter hold added later keeps the longer expiry.
    assert!(admin.delete("held", &short.jobs[0].id).await.unwrap());
    let second = ttl(&mut conn).await;
    assert!(
        second > 3_000 && second <= first,
        "{second} ms after {first} ms"
    );
}
