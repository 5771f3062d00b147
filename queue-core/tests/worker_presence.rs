//! A worker's heartbeat records each lane's concurrency and the jobs it is running now.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use queue_core::{job, JobError, JobState, Lane, LaneLoad, Queue};
use support::{eventually, memory_queue, start};
use tokio::sync::Notify;

/// Wakes held runs; `RELEASED` lets runs that start later through at once.
static RELEASE: Notify = Notify::const_new();
static RELEASED: AtomicBool = AtomicBool::new(false);
static STARTED: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "held", concurrency = 4)]
async fn held(_n: u32) -> Result<(), JobError> {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let released = RELEASE.notified();
    if !RELEASED.load(Ordering::SeqCst) {
        released.await;
    }
    Ok(())
}

/// The load the live worker last recorded for `lane`, if one is listed with it.
async fn recorded_load(queue: &Queue, lane: &Lane) -> Option<LaneLoad> {
    let workers = queue.workers().await.expect("workers");
    assert!(workers.len() <= 1, "one worker runs: {workers:?}");
    workers.first()?.load_of(lane)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_report_each_lanes_running_jobs() {
    let queue = memory_queue();
    let lane = Lane::new("held", "held").unwrap();
    let ids: Vec<_> = queue
        .dispatch_bulk((0..3).map(held::job))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let worker = start(
        queue
            .worker()
            .handlers(["held"])
            .heartbeat_every(Duration::from_millis(20)),
    );

    // Three of four slots busy while the handlers wait.
    eventually(Duration::from_secs(5), || async {
        (recorded_load(&queue, &lane).await == Some(LaneLoad::new(4, 3))).then_some(())
    })
    .await;
    assert_eq!(STARTED.load(Ordering::SeqCst), 3);
    let workers = queue.workers().await.unwrap();
    assert_eq!(workers[0].lanes, std::slice::from_ref(&lane));
    // Each running job names its worker, found by its lease's token in the worker's record
    // (from the first heartbeat after the job's reservation came back).
    for id in &ids {
        let job = eventually(Duration::from_secs(5), || async {
            let job = queue
                .job("held", id)
                .await
                .unwrap()
                .expect("the job exists");
            job.held_by.is_some().then_some(job)
        })
        .await;
        assert_eq!(job.state, JobState::Active);
        assert!(job.token.is_some());
        assert_eq!(job.held_by.as_deref(), Some(workers[0].id.as_str()), "{id}");
    }

    // Released, they finish, and the next heartbeat says nothing runs.
    RELEASED.store(true, Ordering::SeqCst);
    RELEASE.notify_waiters();
    eventually(Duration::from_secs(5), || async {
        (recorded_load(&queue, &lane).await == Some(LaneLoad::new(4, 0))).then_some(())
    })
    .await;
    assert_eq!(queue.counts("held").await.unwrap().pending(), 0);
    let done = queue.job("held", &ids[0]).await.unwrap();
    assert!(done.is_none_or(|j| j.held_by.is_none()));

    worker.shutdown().await.unwrap();
    assert!(
        queue.workers().await.unwrap().is_empty(),
        "a stopped worker retires its record"
    );
}

#[job(queue = "dropped")]
async fn quiet(_n: u32) -> Result<(), JobError> {
    Ok(())
}

/// Dropping `run_until`'s future before it returns (here a timeout around it) shuts the worker
/// down as a signal would: its record is retired, rather than kept alive by its tasks running
/// on, detached and out of reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_run_until_shuts_the_worker_down() {
    let queue = memory_queue();
    let running = queue
        .worker()
        .handlers(["quiet"])
        .heartbeat_every(Duration::from_millis(50))
        .run_until(std::future::pending());
    let dropped = tokio::spawn(tokio::time::timeout(Duration::from_millis(300), running));
    eventually(Duration::from_secs(5), || async {
        (!queue.workers().await.unwrap().is_empty()).then_some(())
    })
    .await;
    assert!(
        dropped.await.unwrap().is_err(),
        "the worker ran until dropped"
    );
    eventually(Duration::from_secs(5), || async {
        queue.workers().await.unwrap().is_empty().then_some(())
    })
    .await;
}
