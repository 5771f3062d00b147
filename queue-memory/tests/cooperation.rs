//! The memory driver never waits on I/O, so it spends Tokio's cooperative budget instead: a task
//! dispatching in a loop lets workers on its thread run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, JobError, Queue};
use queue_memory::MemoryDriver;

static DONE: AtomicU64 = AtomicU64::new(0);

#[job(queue = "coop", concurrency = 50)]
async fn counted(_n: u64) -> Result<(), JobError> {
    DONE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn workers_run_while_a_task_dispatches_in_a_loop_on_the_same_thread() {
    let queue = Queue::new(Arc::new(MemoryDriver::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["counted"])
            .run_until(stop.clone().cancelled_owned()),
    );
    // Let the worker start and wait for jobs.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let producer = tokio::spawn({
        let queue = queue.clone();
        async move {
            for start in (0..20_000u64).step_by(100) {
                queue
                    .dispatch_bulk((start..start + 100).map(counted::job))
                    .await
                    .unwrap();
            }
            DONE.load(Ordering::SeqCst)
        }
    });
    let done_when_dispatched = producer.await.unwrap();
    assert!(
        done_when_dispatched > 0,
        "the worker ran jobs before the producer finished"
    );
    while DONE.load(Ordering::SeqCst) < 20_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
}
