//! Jobs handed back at shutdown run again in the order they were dispatched, also when they
//! come from several reservations (on Redis a reserve takes at most 1,000 jobs) whose batches
//! end at different times; and a pool running one job at a time runs its lane in order. Shared
//! by the memory tests (`queue-core/tests/worker_shutdown.rs`), the Redis tests
//! (`queue-redis/tests/redis_shutdown.rs`) and the cluster tests (`cluster_order.rs`), each
//! giving a fresh queue.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use queue_core::{job, JobError, Queue, WorkerBuilder};
use tokio_util::sync::CancellationToken;

/// Jobs dispatched: `holds` has 1200 running when the worker stops (two reservations' worth on
/// Redis) and the rest waiting.
const JOBS: u32 = 1500;

static HELD: AtomicU32 = AtomicU32::new(0);
/// The order jobs of `holds` started in once `RELEASED`.
static ORDER: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Whether a run of the second reservation was slow to end at shutdown.
static LINGERED: AtomicBool = AtomicBool::new(false);

/// Ends a run of `holds`: the first run of the second reservation (from job 1000: a reserve
/// takes at most 1,000 jobs on Redis) to be cancelled holds its thread for 200 ms, so its
/// batch ends after batches of the first reservation, as a slow handler's would.
struct Linger(u32);

impl Drop for Linger {
    fn drop(&mut self) {
        if self.0 >= 1000
            && !RELEASED.load(Ordering::SeqCst)
            && !LINGERED.swap(true, Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Holds its slot until the worker stops, or records its number once released.
#[job(queue = "shutdown-order", concurrency = 1200)]
async fn holds(n: u32) -> Result<(), JobError> {
    if RELEASED.load(Ordering::SeqCst) {
        ORDER.lock().unwrap().push(n);
        return Ok(());
    }
    let _linger = Linger(n);
    HELD.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

/// Runs `builder` until `until` holds, then stops it and waits for it.
async fn run_until(builder: WorkerBuilder, until: impl Fn() -> bool) {
    let stop = CancellationToken::new();
    let worker = tokio::spawn(builder.run_until(stop.clone().cancelled_owned()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !until() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), worker)
        .await
        .expect("the worker stopped")
        .expect("the worker task ended")
        .expect("the worker ran");
}

/// The scenario: a full pool running and more reserved ahead when the worker stops; all of
/// them are handed back, and a worker taking one job at a time then runs them in dispatch order.
pub async fn requeued_at_shutdown_keep_dispatch_order(queue: Queue) {
    let jobs: Vec<_> = (0..JOBS).map(holds::job).collect();
    queue.dispatch_bulk(jobs).await.unwrap();
    let first = queue
        .worker()
        .handlers(["holds"])
        .grace(Duration::from_millis(10));
    run_until(first, || HELD.load(Ordering::SeqCst) >= 1200).await;
    let counts = queue.counts("shutdown-order").await.unwrap();
    assert_eq!((counts.ready, counts.active), (u64::from(JOBS), 0));

    RELEASED.store(true, Ordering::SeqCst);
    let second = queue.worker().handlers(["holds"]).concurrency("holds", 1);
    run_until(second, || ORDER.lock().unwrap().len() == JOBS as usize).await;
    assert_in_order(&ORDER.lock().unwrap());
}

/// The order jobs of `in_turn` ran in.
static TURNS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Records its number.
#[job(queue = "one-at-a-time", concurrency = 1)]
async fn in_turn(n: u32) -> Result<(), JobError> {
    TURNS.lock().unwrap().push(n);
    Ok(())
}

/// Jobs of a pool that runs one at a time start in dispatch order, while the pool reserves
/// ahead (its handler ends at once, so every slot is free when a reply comes).
pub async fn one_at_a_time_in_dispatch_order(queue: Queue) {
    let jobs: Vec<_> = (0..JOBS).map(in_turn::job).collect();
    queue.dispatch_bulk(jobs).await.unwrap();
    let worker = queue.worker().handlers(["in_turn"]);
    run_until(worker, || TURNS.lock().unwrap().len() == JOBS as usize).await;
    assert_in_order(&TURNS.lock().unwrap());
}

/// Asserts that `order` is 0, 1, 2, ..., showing where it is not.
fn assert_in_order(order: &[u32]) {
    if let Some(at) = order.iter().zip(0..).position(|(ran, n)| *ran != n) {
        let near = &order[at.saturating_sub(3)..(at + 12).min(order.len())];
        panic!("jobs ran out of dispatch order: first wrong at {at}, around it {near:?}");
    }
    assert_eq!(order.len(), JOBS as usize);
}
