//! Helpers for worker tests on the memory driver.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use queue_core::{Counts, Queue, Result, Worker, WorkerBuilder};

pub mod hooked;
use queue_memory::MemoryDriver;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A queue over a fresh memory store.
pub fn memory_queue() -> Queue {
    Queue::new(Arc::new(MemoryDriver::new()))
}

/// A worker running in the background until the token is cancelled.
pub struct Running {
    pub stop: CancellationToken,
    pub handle: JoinHandle<Result<()>>,
}

impl Running {
    /// Signals shutdown and waits for the worker to return.
    pub async fn shutdown(self) -> Result<()> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("worker did not stop")
            .expect("worker task panicked")
    }
}

/// Starts `builder` in the background.
pub fn start(builder: WorkerBuilder) -> Running {
    let stop = CancellationToken::new();
    let signal = stop.clone().cancelled_owned();
    let handle = tokio::spawn(builder.run_until(signal));
    Running { stop, handle }
}

/// Starts a built worker in the background.
pub fn start_built(worker: Worker) -> Running {
    let stop = CancellationToken::new();
    let signal = stop.clone().cancelled_owned();
    let handle = tokio::spawn(worker.run_until(signal));
    Running { stop, handle }
}

/// Waits until `check` holds, polling `counts(queue)`; panics after `limit`.
pub async fn until_counts(
    queue: &Queue,
    name: &str,
    limit: Duration,
    check: impl Fn(&Counts) -> bool,
) -> Counts {
    eventually(limit, || async {
        let counts = queue.counts(name).await.unwrap();
        check(&counts).then_some(counts)
    })
    .await
}

/// Polls `probe` every 5 ms until it returns `Some`; panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
