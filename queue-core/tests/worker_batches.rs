//! Jobs reserved together run in one task (the fetch loop's, while they end in their first
//! poll), yet each keeps its own slot, panic catching, timeout, cancellation and verdict.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, JobError, JobState};
use support::{eventually, memory_queue, start, until_counts};
use tokio::sync::Semaphore;

const LIMIT: Duration = Duration::from_secs(10);

static GATE: Semaphore = Semaphore::const_new(0);
static GATED_STARTED: AtomicU32 = AtomicU32::new(0);
static GATED_DONE: AtomicU32 = AtomicU32::new(0);

/// Job 0 waits for the gate; the others return at once.
#[job(queue = "batch-slots", concurrency = 2)]
async fn gated(n: u32) -> Result<(), JobError> {
    GATED_STARTED.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        GATE.acquire().await.expect("gate open").forget();
    }
    GATED_DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_frees_its_slot_while_its_batch_mate_still_runs() {
    let queue = memory_queue();
    // Both reserved together: one batch holding both slots.
    queue.dispatch_bulk((0..2).map(gated::job)).await.unwrap();
    let worker = start(queue.worker().handlers(["gated"]));
    eventually(LIMIT, || async {
        (GATED_DONE.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Job 0 still holds one slot; the freed one takes the next jobs, one at a time.
    queue.dispatch_bulk((1..4).map(gated::job)).await.unwrap();
    let counts = until_counts(&queue, "batch-slots", LIMIT, |c| c.pending() == 1).await;
    assert_eq!(counts.active, 1, "only job 0 is left, still running");
    assert_eq!(GATED_STARTED.load(Ordering::SeqCst), 5);
    GATE.add_permits(1);
    until_counts(&queue, "batch-slots", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(GATED_DONE.load(Ordering::SeqCst), 5);
}

static MIXED_OK: AtomicU32 = AtomicU32::new(0);

/// 0 panics, 1 sleeps past the timeout, 2 fails fatally, the rest succeed.
#[job(
    queue = "batch-mixed",
    concurrency = 8,
    attempts = 1,
    timeout = "100ms"
)]
async fn mixed(n: u32) -> Result<(), JobError> {
    match n {
        0 => panic!("job {n} panicked"),
        1 => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        2 => Err(JobError::fatal("no such card")),
        _ => {
            tokio::task::yield_now().await;
            MIXED_OK.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_of_a_batch_gets_its_own_verdict() {
    let queue = memory_queue();
    let ids: Vec<_> = queue
        .dispatch_bulk((0..8).map(mixed::job))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let started = std::time::Instant::now();
    let worker = start(queue.worker().handlers(["mixed"]));
    until_counts(&queue, "batch-mixed", LIMIT, |c| {
        c.pending() == 0 && c.failed == 3
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout ended job 1"
    );
    worker.shutdown().await.unwrap();
    assert_eq!(MIXED_OK.load(Ordering::SeqCst), 5);
    let error = |i: usize| {
        let queue = queue.clone();
        let id = ids[i].clone();
        async move {
            let info = queue.job("batch-mixed", &id).await.unwrap().unwrap();
            assert_eq!(info.state, JobState::Failed);
            info.last_error.unwrap()
        }
    };
    assert_eq!(error(0).await, "handler panicked: job 0 panicked");
    assert_eq!(error(1).await, "timed out after 100ms");
    assert_eq!(error(2).await, "no such card");
    for id in &ids[3..] {
        assert!(
            queue.job("batch-mixed", id).await.unwrap().is_none(),
            "acked"
        );
    }
}

static HELD_STARTED: AtomicU32 = AtomicU32::new(0);

/// Job 0 returns at once; the others run until cancelled.
#[job(queue = "batch-shutdown", concurrency = 4, attempts = 3)]
async fn held(n: u32) -> Result<(), JobError> {
    HELD_STARTED.fetch_add(1, Ordering::SeqCst);
    if n > 0 {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_requeues_the_unfinished_jobs_of_a_batch_and_acks_the_finished_one() {
    let queue = memory_queue();
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
            .grace(Duration::from_millis(50)),
    );
    until_counts(&queue, "batch-shutdown", LIMIT, |c| {
        HELD_STARTED.load(Ordering::SeqCst) == 3 && c.active == 2
    })
    .await;
    worker.shutdown().await.unwrap();
    assert!(queue
        .job("batch-shutdown", &ids[0])
        .await
        .unwrap()
        .is_none());
    for id in &ids[1..] {
        let info = queue.job("batch-shutdown", id).await.unwrap().unwrap();
        assert_eq!(
            (info.state, info.attempts),
            (JobState::Ready, 0),
            "requeued unspent"
        );
    }
}

static LOST_STARTED: AtomicU32 = AtomicU32::new(0);
static LOST_DROPPED: AtomicU32 = AtomicU32::new(0);
static KEPT_GATE: Semaphore = Semaphore::const_new(0);

struct CountDrop;
impl Drop for CountDrop {
    fn drop(&mut self) {
        LOST_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Job 0 runs until cancelled; job 1 waits for the gate.
#[job(queue = "batch-lease", concurrency = 2)]
async fn leased(n: u32) -> Result<(), JobError> {
    LOST_STARTED.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        let _guard = CountDrop;
        tokio::time::sleep(Duration::from_secs(60)).await;
    } else {
        KEPT_GATE.acquire().await.expect("gate open").forget();
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_one_lease_cancels_only_that_run_of_the_batch() {
    let queue = memory_queue();
    let ids: Vec<_> = queue
        .dispatch_bulk((0..2).map(leased::job))
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    // Renewals every 100 ms.
    let worker = start(
        queue
            .worker()
            .handlers(["leased"])
            .lease(Duration::from_millis(300)),
    );
    eventually(LIMIT, || async {
        (LOST_STARTED.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    assert!(queue.delete("batch-lease", &ids[0]).await.unwrap());
    eventually(LIMIT, || async {
        (LOST_DROPPED.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Its batch-mate is still running, with its lease renewed past the original 300 ms.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let info = queue.job("batch-lease", &ids[1]).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempts), (JobState::Active, 1));
    KEPT_GATE.add_permits(1);
    until_counts(&queue, "batch-lease", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(LOST_STARTED.load(Ordering::SeqCst), 2, "nothing ran twice");
}

static BUSY_NOW: AtomicU32 = AtomicU32::new(0);
static BUSY_PEAK: AtomicU32 = AtomicU32::new(0);
static BUSY_DONE: AtomicU32 = AtomicU32::new(0);

/// Works 5 ms on its thread before returning, without awaiting.
#[job(queue = "batch-busy", concurrency = 4)]
async fn busy(_n: u32) -> Result<(), JobError> {
    let now = BUSY_NOW.fetch_add(1, Ordering::SeqCst) + 1;
    BUSY_PEAK.fetch_max(now, Ordering::SeqCst);
    let until = std::time::Instant::now() + Duration::from_millis(5);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
    BUSY_NOW.fetch_sub(1, Ordering::SeqCst);
    BUSY_DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_that_work_before_awaiting_are_spread_over_the_threads() {
    let queue = memory_queue();
    queue.dispatch_bulk((0..40).map(busy::job)).await.unwrap();
    let worker = start(queue.worker().handlers(["busy"]));
    until_counts(&queue, "batch-busy", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(BUSY_DONE.load(Ordering::SeqCst), 40);
    assert_eq!(
        BUSY_PEAK.load(Ordering::SeqCst),
        2,
        "once the pool saw how long first polls take, both threads ran jobs at once"
    );
}

/// Where each run of `placed` was polled first and last: (job, first task, last task).
static PLACES: std::sync::Mutex<Vec<(u32, tokio::task::Id, tokio::task::Id)>> =
    std::sync::Mutex::new(Vec::new());

/// Job 0 waits once before it ends; the others end in their first poll.
#[job(queue = "batch-inline", concurrency = 4)]
async fn placed(n: u32) -> Result<(), JobError> {
    let first = tokio::task::id();
    if n == 0 {
        tokio::task::yield_now().await;
    }
    PLACES.lock().unwrap().push((n, first, tokio::task::id()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_runs_stay_in_the_fetch_loop_and_waiting_ones_move_to_their_own_task() {
    let queue = memory_queue();
    queue.dispatch_bulk((0..12).map(placed::job)).await.unwrap();
    let worker = start(queue.worker().handlers(["placed"]));
    until_counts(&queue, "batch-inline", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    let places = PLACES.lock().unwrap().clone();
    assert_eq!(places.len(), 12);
    let fetch_loop = places.iter().find(|p| p.0 == 1).unwrap().1;
    for &(n, first, last) in &places {
        assert_eq!(
            first, fetch_loop,
            "job {n} started in the fetch loop's task"
        );
        if n == 0 {
            assert_ne!(last, fetch_loop, "job 0 went on in a task of its own");
        } else {
            assert_eq!(last, fetch_loop, "job {n} ended where it started");
        }
    }
}
