//! Publishing events to the storage's event log: runs and dispatches of a queue with
//! `with_event_log` reach the log (all of them by the time the worker stopped), and a log that
//! fails or hangs never slows the worker: its events are dropped and counted.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::testing::HotPathOnly;
use queue_core::{
    job, Capabilities, Dispatched, Driver, Error, Event, EventKind, EventLog, Failure, JobError,
    Lane, Lease, NewJob, Queue, Reservation, Result,
};
use queue_memory::MemoryDriver;
use support::{eventually, start, until_counts};

#[job(queue = "logged")]
async fn logged_ok(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "logged", attempts = 2, backoff = "fixed(10ms)")]
async fn logged_fails(_n: u32) -> Result<(), JobError> {
    Err(JobError::msg("no luck"))
}

#[job(queue = "unlogged", concurrency = 16)]
async fn quick(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_dispatches_reach_the_log() {
    let driver = Arc::new(MemoryDriver::new());
    let queue = Queue::new(driver.clone()).with_event_log(1000).unwrap();
    // Another handle on the same storage follows the log, as another process would.
    let reader = Queue::new(driver.clone());
    let mut stream = reader.follow_events("logged").await.unwrap();
    for n in 0..3 {
        logged_ok::dispatch(&queue, n).await.unwrap();
    }
    let bad = logged_fails::dispatch(&queue, 9).await.unwrap().id;
    let worker = start(queue.worker().handlers(["logged_ok", "logged_fails"]));
    // 4 dispatched, 3 completed, 1 retrying, 1 failed.
    let mut seen = Vec::new();
    while seen.len() < 9 {
        let (_, event) = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of 9 events in the log: {seen:?}", seen.len()))
            .unwrap();
        seen.push(event);
    }
    worker.shutdown().await.unwrap();
    let count = |kind| seen.iter().filter(|e: &&Event| e.kind == kind).count();
    assert_eq!(count(EventKind::Dispatched), 4);
    assert_eq!(count(EventKind::Completed), 3);
    let failed: Vec<&Event> = seen.iter().filter(|e| e.id == bad).collect();
    let kinds: Vec<EventKind> = failed.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Dispatched,
            EventKind::Retrying,
            EventKind::Failed
        ]
    );
    assert_eq!(failed[2].attempt, 2);
    assert_eq!(failed[2].error.as_deref(), Some("no luck"));
    assert!(failed[2].duration.is_some());
    let stats = queue.event_log_stats().unwrap();
    assert_eq!(stats.written(), 9);
    assert_eq!(stats.dropped(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_has_written_its_events() {
    let driver = Arc::new(MemoryDriver::new());
    let queue = Queue::new(driver.clone()).with_event_log(1000).unwrap();
    queue
        .dispatch_bulk((0..50).map(|n| quick::job(n).queue("flushed")))
        .await
        .unwrap();
    let worker = start(
        queue
            .worker()
            .handlers(["quick"])
            .queues("quick", ["flushed"]),
    );
    until_counts(&queue, "flushed", Duration::from_secs(10), |c| {
        c.ready == 0 && c.active == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    // No waiting here: the worker flushed its events before it returned.
    let log: &dyn EventLog = driver.as_ref();
    let all = log.read("flushed", None, 1000, None).await.unwrap();
    let completed = all
        .iter()
        .filter(|(_, e)| e.kind == EventKind::Completed)
        .count();
    assert_eq!(completed, 50, "every run's end is in the log");
    assert_eq!(all.len(), 100, "50 dispatches and 50 completions");
}

/// A memory driver whose event log fails every append, or hangs in it.
#[derive(Debug)]
struct BrokenLog {
    inner: MemoryDriver,
    hang: bool,
}

#[async_trait]
impl EventLog for BrokenLog {
    async fn append(&self, _queue: &str, _events: &[Event], _max_len: usize) -> Result<()> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Err(Error::Storage {
            source: "the event log is unreachable".into(),
        })
    }

    async fn read(
        &self,
        _queue: &str,
        _after: Option<&str>,
        _limit: usize,
        _block: Option<Duration>,
    ) -> Result<Vec<(String, Event)>> {
        Ok(Vec::new())
    }

    async fn last_position(&self, _queue: &str) -> Result<Option<String>> {
        Ok(None)
    }
}

#[async_trait]
impl Driver for BrokenLog {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.inner.enqueue(jobs).await
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.inner.ack_and_reserve(lane, done, max, lease).await
    }
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        self.inner.wait(lane, timeout).await
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        self.inner.renew(lane, leases, lease).await
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner.ack(lane, leases).await
    }
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        self.inner.fail(lane, lease, failure).await
    }
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner.requeue(lane, leases).await
    }
    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        self.inner.progress(lane, lease, progress).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.inner.reap(lane).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        self.inner.capabilities().with_event_log(self)
    }
}

const JOBS: u32 = 3000;

async fn run_all(queue: &Queue, name: &str) {
    queue
        .dispatch_bulk((0..JOBS).map(|n| quick::job(n).queue(name)))
        .await
        .unwrap();
    let worker = start(queue.worker().handlers(["quick"]).queues("quick", [name]));
    until_counts(queue, name, Duration::from_secs(20), |c| {
        c.ready == 0 && c.active == 0
    })
    .await;
    worker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_appends_are_dropped_and_counted() {
    let driver = Arc::new(BrokenLog {
        inner: MemoryDriver::new(),
        hang: false,
    });
    let queue = Queue::new(driver).with_event_log(100).unwrap();
    run_all(&queue, "broken").await;
    let stats = queue.event_log_stats().unwrap();
    // Every dispatch and every completion was lost, none written, and the worker ran them all.
    eventually(Duration::from_secs(10), || async {
        (stats.dropped() == 2 * u64::from(JOBS)).then_some(())
    })
    .await;
    assert_eq!(stats.written(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_log_does_not_hold_up_the_worker() {
    let driver = Arc::new(BrokenLog {
        inner: MemoryDriver::new(),
        hang: true,
    });
    let queue = Queue::new(driver)
        .with_event_buffer(64)
        .with_event_log(100)
        .unwrap();
    let started = std::time::Instant::now();
    // Every append hangs until its timeout (5 s): a worker that waited for them would take
    // minutes for 3000 jobs; this one runs them as fast as without a log.
    run_all(&queue, "hung").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the worker waited for the log: {:?}",
        started.elapsed()
    );
    assert_eq!(queue.event_log_stats().unwrap().written(), 0);
}

#[tokio::test]
async fn a_driver_without_an_event_log_is_refused() {
    let queue = Queue::new(Arc::new(HotPathOnly(MemoryDriver::new())));
    let err = queue.clone().with_event_log(10).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                capability: "event log",
                ..
            }
        ),
        "{err}"
    );
    let err = queue.follow_events("mail").await.unwrap_err();
    assert!(
        err.to_string().contains("event log is not supported"),
        "{err}"
    );
}
