//! A run whose lease is lost is cancelled, so it never goes on beside the job's new owner.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, Data, JobContext, JobError, Queue};
use support::{eventually, memory_queue, start_built};

static STARTED: AtomicU32 = AtomicU32::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);

struct OnDrop;
impl Drop for OnDrop {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[job(queue = "leases")]
async fn holds_on(_n: u32) -> Result<(), JobError> {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let _guard = OnDrop;
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

#[tokio::test]
async fn losing_the_lease_cancels_the_run() {
    let queue = memory_queue();
    let id = holds_on::dispatch(&queue, 1).await.unwrap().id;
    // Renewal every 100 ms.
    let built = queue
        .worker()
        .handlers(["holds_on"])
        .lease(Duration::from_millis(300))
        .build()
        .unwrap();
    let stats = built.stats();
    let worker = start_built(built);
    eventually(Duration::from_secs(5), || async {
        (STARTED.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Deleting the job makes the worker's lease stale; the next renewal finds out.
    assert!(queue.delete("leases", &id).await.unwrap());
    eventually(Duration::from_secs(5), || async {
        (DROPPED.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(STARTED.load(Ordering::SeqCst), 1);
    assert_eq!(stats.leases_lost(), 1, "the lost lease is counted");
    assert_eq!(stats.leases_expired(), 0);
    assert!(
        queue.job("leases", &id).await.unwrap().is_none(),
        "nothing was settled for the lost lease"
    );
}

#[job(queue = "leases-refused")]
async fn deletes_itself(_n: u32, ctx: JobContext, queue: Data<Queue>) -> Result<(), JobError> {
    queue
        .delete(ctx.queue(), ctx.id())
        .await
        .map_err(JobError::fatal)?;
    Ok(())
}

#[tokio::test]
async fn a_refused_ack_is_counted() {
    let queue = memory_queue();
    deletes_itself::dispatch(&queue, 1).await.unwrap();
    let worker = queue
        .worker()
        .handlers(["deletes_itself"])
        .state(queue.clone())
        .build()
        .unwrap();
    let stats = worker.stats();
    let running = start_built(worker);
    // The run succeeds after its job was deleted: its ack names a lease that no longer exists.
    eventually(Duration::from_secs(5), || async {
        (stats.settlements_refused() == 1).then_some(())
    })
    .await;
    running.shutdown().await.unwrap();
    assert_eq!(stats.settlements_dropped(), 0);
}
