//! A run whose lease is lost is cancelled, so it never goes on beside the job's new owner.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, JobError};
use support::{eventually, memory_queue, start};

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
    let worker = start(
        queue
            .worker()
            .handlers(["holds_on"])
            .lease(Duration::from_millis(300)),
    );
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
    assert!(
        queue.job("leases", &id).await.unwrap().is_none(),
        "nothing was settled for the lost lease"
    );
}
