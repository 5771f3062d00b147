//! Sharded lanes on the memory driver: a worker serves every shard of a handler's lane with the
//! handler's concurrency shared between them, a busy shard does not starve another, and a
//! handler that combines shards with a per-lane option, or a schedule, is refused.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use queue_core::{job, shard_queue, JobError, Schedule};
use support::{eventually, memory_queue, start};

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
