//! Sharded lanes on the memory driver: a worker serves every shard of a handler's lane with the
//! handler's concurrency shared between them, a busy shard does not starve another, a shard's
//! successes are acked while the other shards hold the shared slots, and a handler that
//! combines shards with a per-lane option, or a schedule, is refused.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::{job, shard_queue, Driver, JobError, Lane, Queue, Schedule};
use queue_memory::MemoryDriver;
use support::{eventually, memory_queue, start, start_built};
use tokio_util::sync::CancellationToken;

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
static LONE_DONE_AT: AtomicUsize = AtomicUsize::new(usize::MAX);
static LONE_SEEN: AtomicBool = AtomicBool::new(false);

/// `n` below 1000 is a slow job; 1000 is the lone job of the quiet shard.
#[job(queue = "split", shards = 3, concurrency = 2)]
async fn split(n: u32) -> Result<(), JobError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    if n == 1000 {
        LONE_SEEN.store(true, Ordering::SeqCst);
        LONE_DONE_AT.store(DONE.load(Ordering::SeqCst), Ordering::SeqCst);
    } else {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_serves_every_shard_without_starving_one() {
    let queue = memory_queue();
    // A busy shard: 30 slow jobs in shard 0, sent there by name.
    let busy = shard_queue("split", 0, 3);
    for n in 0..30 {
        queue.dispatch(split::job(n).queue(&busy)).await.unwrap();
    }
    let running = start(queue.worker().handlers(["split"]));
    // Once the busy shard holds the worker's slots, a job of a quiet shard comes.
    eventually(Duration::from_secs(5), || async {
        (RUNNING.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    let quiet = shard_queue("split", 2, 3);
    let lone = queue
        .dispatch(split::job(1000).queue(&quiet))
        .await
        .unwrap();
    assert!(lone.id.as_str().starts_with("s2."), "{}", lone.id);
    eventually(Duration::from_secs(10), || async {
        (DONE.load(Ordering::SeqCst) == 31).then_some(())
    })
    .await;
    running.shutdown().await.unwrap();
    assert!(LONE_SEEN.load(Ordering::SeqCst));
    let at = LONE_DONE_AT.load(Ordering::SeqCst);
    assert!(
        at < 10,
        "the quiet shard's job took the next free slot, not the busy shard's last: ran after {at} jobs"
    );
    assert!(
        PEAK.load(Ordering::SeqCst) <= 2,
        "the shards share the handler's concurrency of 2"
    );
    let counts = queue.counts("split").await.unwrap();
    assert_eq!(counts.pending() + counts.failed, 0);
}

#[job(queue = "rated_shards", rate = "5/1s")]
async fn rated_shards(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test]
async fn bad_shard_counts_and_shards_with_a_per_lane_option_are_refused() {
    let queue = memory_queue();
    let error = queue.clone().shard("split", 0).unwrap_err();
    assert!(error.to_string().contains("1 to 256 shards"), "{error}");
    let error = queue
        .clone()
        .shard("rated_shards", 2)
        .unwrap()
        .worker()
        .handlers(["rated_shards"])
        .build()
        .unwrap_err();
    assert!(
        error.to_string().contains("limits across workers"),
        "{error}"
    );
    // A schedule's ticks would land where no shard's worker looks.
    let error = queue
        .add_schedule(Schedule::new("hourly", "split", "@hourly"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("split into 3 shards"), "{error}");
}

static TURNS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Takes 180 ms of a 300 ms lease.
#[job(queue = "turns", shards = 3, concurrency = 1)]
async fn turns(n: u32) -> Result<(), JobError> {
    TURNS.lock().unwrap().push(n);
    tokio::time::sleep(Duration::from_millis(180)).await;
    Ok(())
}

/// The shards of a lane take the one shared slot in turn, so a shard's pool waits two other
/// jobs' runs (360 ms) for its next reserve, longer than the lease its success is no longer
/// renewed under. Another process reaps the lanes meanwhile (as its reserves would): a
/// success left for that reserve to ack would be reaped, run again and refused its ack. Each
/// job runs once and every ack lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shards_successes_are_acked_while_the_other_shards_hold_the_slots() {
    let driver = Arc::new(MemoryDriver::new());
    let queue = Queue::new(driver.clone());
    for n in 0..9 {
        turns::dispatch(&queue, n).await.unwrap();
    }
    let lanes: Vec<Lane> = (0..3)
        .map(|shard| Lane::new(&shard_queue("turns", shard, 3), "turns").unwrap())
        .collect();
    let reaping = CancellationToken::new();
    let reaper = tokio::spawn({
        let (driver, lanes, stop) = (driver.clone(), lanes.clone(), reaping.clone());
        async move {
            let mut reaped = 0;
            while !stop.is_cancelled() {
                for lane in &lanes {
                    reaped += driver.reap(lane).await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reaped
        }
    });
    let worker = queue
        .worker()
        .handlers(["turns"])
        .lease(Duration::from_millis(300))
        .build()
        .unwrap();
    let stats = worker.stats();
    let running = start_built(worker);
    eventually(Duration::from_secs(20), || async {
        let mut left = 0;
        for shard in 0..3 {
            let counts = queue.counts(&shard_queue("turns", shard, 3)).await.unwrap();
            left += counts.pending() + counts.failed;
        }
        (left == 0).then_some(())
    })
    .await;
    running.shutdown().await.unwrap();
    reaping.cancel();
    let reaped = reaper.await.unwrap();
    let mut ran = TURNS.lock().unwrap().clone();
    ran.sort_unstable();
    assert_eq!(ran, (0..9).collect::<Vec<_>>(), "each job ran once");
    assert_eq!(reaped, 0, "no finished job's lease ran out");
    assert_eq!(stats.settlements_refused(), 0);
}
