//! A storage that answers every firing with "the definition changed" (a definition stored in a
//! form this version cannot match, say) makes the scheduler read the schedules again, and after
//! two such rounds in a row it waits before reading again, rather than reading and firing in a
//! busy loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Fired, JobError, NewJob, Queue, Result, Schedule, ScheduleInfo, Schedules};
use queue_memory::MemoryDriver;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

/// The memory driver, whose schedules answer every firing with `Changed`; counts the reads of
/// the schedules.
#[derive(Debug, Default)]
struct AlwaysChanged {
    inner: MemoryDriver,
    reads: AtomicU64,
}

impl Hooks for AlwaysChanged {
    fn inner(&self) -> &MemoryDriver {
        &self.inner
    }
    fn schedules(&self) -> Option<&dyn Schedules> {
        Some(self)
    }
}

#[async_trait]
impl Schedules for AlwaysChanged {
    async fn put_schedule(&self, schedule: &Schedule, replace: bool) -> Result<bool> {
        self.inner.put_schedule(schedule, replace).await
    }
    async fn remove_schedule(&self, queue: &str, name: &str) -> Result<bool> {
        self.inner.remove_schedule(queue, name).await
    }
    async fn pause_schedule(&self, queue: &str, name: &str, paused: bool) -> Result<bool> {
        self.inner.pause_schedule(queue, name, paused).await
    }
    async fn schedules(&self, queue: &str) -> Result<Vec<ScheduleInfo>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.schedules(queue).await
    }
    async fn fire(&self, _schedule: &Schedule, _ticks: Vec<(u64, NewJob)>) -> Result<Fired> {
        // A storage call waits on the network at least once.
        tokio::task::yield_now().await;
        Ok(Fired::Changed)
    }
}

#[job(queue = "sched-changed", cron = "* * * * * *")]
async fn ticking(_: ()) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_that_keeps_reading_changed_is_read_again_after_a_pause() {
    let driver = Arc::new(Hooked(AlwaysChanged::default()));
    let queue = Queue::new(driver.clone());
    let worker = queue
        .worker()
        .handlers(["ticking"])
        .build()
        .expect("a worker");
    let stop = CancellationToken::new();
    let running = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    // A tick is due every second, so every round fires and reads `Changed`; the scheduler
    // reads again at once after the first such round, then waits a second (the pause) before
    // each later one. Over 2.5 s that is a handful of reads; a loop without the pause reads
    // thousands of times.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let reads = driver.0.reads.load(Ordering::SeqCst);
    assert!(reads >= 2, "the schedules were read again: {reads} reads");
    assert!(reads <= 10, "{reads} reads of the schedules in 2.5 s");
    stop.cancel();
    running.await.unwrap().expect("the worker stops");
}
