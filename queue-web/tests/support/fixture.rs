//! A queue `web` with jobs in every state, made by real workers: ready (a job no worker
//! serves), scheduled (delayed an hour), active (held by a running worker), failed (one with an
//! HTML payload and an HTML error), completed (kept), and a schedule.

use std::time::Duration;

use queue_core::{job, JobContext, JobId, JobState, Queue, Schedule};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// The queue the fixture fills.
pub const QUEUE: &str = "web";

/// A payload and an error that would run script if a page inserted them as HTML.
pub const HTML_PAYLOAD: &str =
    "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">";

/// Fails at once, with the payload's `why` in its error.
#[job(queue = "web", attempts = 1)]
async fn explode(payload: Value) -> Result<(), String> {
    Err(format!(
        "boom: {}",
        payload["why"].as_str().unwrap_or("no reason")
    ))
}

/// Succeeds; the last 50 are kept.
#[job(queue = "web", keep_completed = 50)]
async fn succeed(_payload: Value) -> Result<(), String> {
    Ok(())
}

/// Runs until cancelled, so its job stays active.
#[job(queue = "web")]
async fn hold(_payload: Value, ctx: JobContext) -> Result<(), String> {
    ctx.progress(json!({"step": 1, "of": 3})).await.ok();
    ctx.cancelled().await;
    Ok(())
}

/// The jobs the fixture made, by what became of them.
#[derive(Debug)]
pub struct Fixture {
    /// Failed with a plain error.
    pub failed: JobId,
    /// Failed, with [`HTML_PAYLOAD`] as payload and error.
    pub html: JobId,
    /// Held by the running worker.
    pub active: JobId,
    /// Waiting for a worker that never comes.
    pub ready: JobId,
    /// The worker that keeps `active` running; cancelled on drop.
    pub stop: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Waits up to 20 s for `check` to hold, naming `what` if it never does.
pub async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Fills `queue` as described above. The failing and succeeding handlers' worker is stopped
/// once its jobs ended, so a failed job retried from the dashboard stays ready.
pub async fn fill(queue: &Queue) -> Fixture {
    let failed = explode::dispatch(queue, json!({"why": "the disk is full"}))
        .await
        .unwrap()
        .id;
    let html = explode::dispatch(queue, json!({"why": HTML_PAYLOAD, "note": HTML_PAYLOAD}))
        .await
        .unwrap()
        .id;
    for n in 0..3 {
        succeed::dispatch(queue, json!({"n": n})).await.unwrap();
    }
    let ready = queue
        .dispatch_named("unserved", json!({"to": "nobody"}))
        .queue(QUEUE)
        .await
        .unwrap()
        .id;
    queue
        .dispatch_named("later", json!({"in": "an hour"}))
        .queue(QUEUE)
        .delay(Duration::from_secs(3600))
        .await
        .unwrap();
    queue
        .add_schedule(Schedule::new("nightly", "unserved", "0 0 3 * * *").queue(QUEUE))
        .await
        .unwrap();

    let first = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["explode", "succeed"])
            .stats_every(Duration::from_millis(50))
            .run_until(first.clone().cancelled_owned()),
    );
    wait_for("the failed and completed jobs", || async {
        let c = queue.counts(QUEUE).await.unwrap();
        c.failed == 2 && c.completed == 3
    })
    .await;
    first.cancel();
    worker.await.unwrap().unwrap();

    let active = hold::dispatch(queue, json!({"holds": "a lease"}))
        .await
        .unwrap()
        .id;
    let stop = CancellationToken::new();
    tokio::spawn(
        queue
            .worker()
            .handlers(["hold"])
            .heartbeat_every(Duration::from_millis(50))
            .grace(Duration::from_millis(100))
            .run_until(stop.clone().cancelled_owned()),
    );
    wait_for("the held job to run", || async {
        let job = queue.job(QUEUE, &active).await.unwrap().unwrap();
        job.state == JobState::Active && job.held_by.is_some()
    })
    .await;
    Fixture {
        failed,
        html,
        active,
        ready,
        stop,
    }
}
