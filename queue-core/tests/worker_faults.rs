//! Timeouts and panics are failures; the worker keeps running.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, JobContext, JobError};
use support::{memory_queue, start, until_counts};

static TIMEOUT_CANCELLED: AtomicU32 = AtomicU32::new(0);

/// Drops a marker when its future is dropped before finishing.
struct DropMarker;
impl Drop for DropMarker {
    fn drop(&mut self) {
        TIMEOUT_CANCELLED.fetch_add(1, Ordering::SeqCst);
    }
}

#[job(
    queue = "faults-timeout",
    timeout = "100ms",
    attempts = 2,
    backoff = "fixed(10ms)"
)]
async fn sleeps_too_long(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    assert!(ctx.deadline().is_some());
    let _marker = DropMarker;
    tokio::time::sleep(Duration::from_secs(30)).await;
    std::mem::forget(_marker);
    Ok(())
}

#[tokio::test]
async fn a_run_past_its_timeout_is_cancelled_and_counted_as_a_failure() {
    let queue = memory_queue();
    let id = sleeps_too_long::dispatch(&queue, 1).await.unwrap().id;
    let started = std::time::Instant::now();
    let worker = start(queue.worker().handlers(["sleeps_too_long"]));
    until_counts(&queue, "faults-timeout", Duration::from_secs(10), |c| {
        c.failed == 1
    })
    .await;
    worker.shutdown().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancelled long before the sleep ended"
    );
    assert_eq!(
        TIMEOUT_CANCELLED.load(Ordering::SeqCst),
        2,
        "both runs were dropped at the timeout"
    );
    let info = queue.job("faults-timeout", &id).await.unwrap().unwrap();
    assert_eq!(info.attempts, 2);
    assert_eq!(info.last_error.as_deref(), Some("timed out after 100ms"));
}

static AFTER_PANIC: AtomicU32 = AtomicU32::new(0);

#[job(queue = "faults-panic", attempts = 1)]
async fn panics(n: u32) -> Result<(), JobError> {
    if n == 0 {
        panic!("index {n} out of range");
    }
    AFTER_PANIC.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_panic_is_caught_as_a_failure_with_its_message() {
    let queue = memory_queue();
    let id = panics::dispatch(&queue, 0).await.unwrap().id;
    panics::dispatch(&queue, 1).await.unwrap();
    let worker = start(queue.worker().handlers(["panics"]));
    until_counts(&queue, "faults-panic", Duration::from_secs(10), |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    let info = queue.job("faults-panic", &id).await.unwrap().unwrap();
    assert_eq!(
        info.last_error.as_deref(),
        Some("handler panicked: index 0 out of range")
    );
    assert_eq!(
        AFTER_PANIC.load(Ordering::SeqCst),
        1,
        "the worker kept running after the panic"
    );
}

static AFTER_BAD_BACKOFF: AtomicU32 = AtomicU32::new(0);

fn broken_backoff(_attempt: u32) -> Duration {
    panic!("backoff table has no entry")
}

#[job(queue = "faults-backoff", attempts = 5, backoff = broken_backoff)]
async fn fails_with_broken_backoff(n: u32) -> Result<(), JobError> {
    if n == 0 {
        return Err(JobError::msg("upstream refused"));
    }
    AFTER_BAD_BACKOFF.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_panicking_backoff_fails_the_job_and_the_pool_goes_on() {
    let queue = memory_queue();
    let id = fails_with_broken_backoff::dispatch(&queue, 0)
        .await
        .unwrap()
        .id;
    let worker = start(queue.worker().handlers(["fails_with_broken_backoff"]));
    until_counts(&queue, "faults-backoff", Duration::from_secs(10), |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    // The pool still fetches: a job dispatched after the panic runs.
    fails_with_broken_backoff::dispatch(&queue, 1)
        .await
        .unwrap();
    until_counts(&queue, "faults-backoff", Duration::from_secs(10), |c| {
        c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(AFTER_BAD_BACKOFF.load(Ordering::SeqCst), 1);
    let info = queue.job("faults-backoff", &id).await.unwrap().unwrap();
    assert_eq!(info.attempts, 1, "no retry without a delay");
    assert_eq!(
        info.last_error.as_deref(),
        Some("upstream refused (not retried: the backoff function panicked: backoff table has no entry)")
    );
}

/// Panics when dropped: a handler holding one panics in `Drop` whenever its future is
/// dropped before finishing.
struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("cleanup failed");
        }
    }
}

static AFTER_DROP_PANIC: AtomicU32 = AtomicU32::new(0);

#[job(queue = "faults-drop", timeout = "50ms", attempts = 1)]
async fn panics_when_dropped(n: u32) -> Result<(), JobError> {
    if n == 0 {
        let _guard = PanicsOnDrop;
        tokio::time::sleep(Duration::from_secs(30)).await;
        std::mem::forget(_guard);
    }
    AFTER_DROP_PANIC.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_future_that_panics_when_dropped_at_its_timeout_fails_only_its_job() {
    let queue = memory_queue();
    let id = panics_when_dropped::dispatch(&queue, 0).await.unwrap().id;
    let worker = start(queue.worker().handlers(["panics_when_dropped"]));
    until_counts(&queue, "faults-drop", Duration::from_secs(10), |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    panics_when_dropped::dispatch(&queue, 1).await.unwrap();
    until_counts(&queue, "faults-drop", Duration::from_secs(10), |c| {
        c.pending() == 0
    })
    .await;
    // Shutdown returns normally: no pool task died.
    worker.shutdown().await.unwrap();
    assert_eq!(AFTER_DROP_PANIC.load(Ordering::SeqCst), 1);
    let info = queue.job("faults-drop", &id).await.unwrap().unwrap();
    assert_eq!(info.last_error.as_deref(), Some("timed out after 50ms"));
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct Unprintable;
impl std::fmt::Display for Unprintable {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("no words for this")
    }
}
impl std::error::Error for Unprintable {}

static AFTER_UNPRINTABLE: AtomicU32 = AtomicU32::new(0);

#[job(queue = "faults-display", attempts = 3)]
async fn fails_unprintably(n: u32) -> Result<(), JobError> {
    if n == 0 {
        return Err(JobError::retry(Unprintable));
    }
    AFTER_UNPRINTABLE.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn an_error_that_panics_when_formatted_fails_only_its_job() {
    let queue = memory_queue();
    let id = fails_unprintably::dispatch(&queue, 0).await.unwrap().id;
    let worker = start(queue.worker().handlers(["fails_unprintably"]));
    until_counts(&queue, "faults-display", Duration::from_secs(10), |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    fails_unprintably::dispatch(&queue, 1).await.unwrap();
    until_counts(&queue, "faults-display", Duration::from_secs(10), |c| {
        c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(AFTER_UNPRINTABLE.load(Ordering::SeqCst), 1);
    let info = queue.job("faults-display", &id).await.unwrap().unwrap();
    assert_eq!(
        info.last_error.as_deref(),
        Some("the handler's error panicked while being formatted or dropped: no words for this")
    );
}
