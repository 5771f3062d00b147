//! What a handler sees through its `JobContext`: identity, its run's start, progress
//! reporting, cancellation.

mod support;

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use queue_core::{job, JobContext, JobError, JobId, JobState};
use support::{eventually, memory_queue, start};

/// What the handler saw: id, name, queue, attempt, max attempts, the run's start.
type Seen = (JobId, String, String, u32, u32, Option<SystemTime>);

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Reports progress, then waits for cancellation the way a handler driving blocking work would.
#[job(queue = "context", attempts = 4)]
async fn long_task(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    SEEN.lock().unwrap().push((
        ctx.id().clone(),
        ctx.name().to_string(),
        ctx.queue().to_string(),
        ctx.attempt(),
        ctx.max_attempts(),
        ctx.started_at(),
    ));
    ctx.progress(serde_json::json!({"done": 50}))
        .await
        .map_err(JobError::retry)?;
    ctx.cancelled().await;
    Ok(())
}

#[tokio::test]
async fn handlers_see_their_identity_report_progress_and_observe_cancellation() {
    let queue = memory_queue();
    let id = long_task::dispatch(&queue, 1).await.unwrap().id;
    let worker = start(
        queue
            .worker()
            .handlers(["long_task"])
            .grace(Duration::from_millis(50)),
    );
    let info = eventually(Duration::from_secs(5), || async {
        queue
            .job("context", &id)
            .await
            .unwrap()
            .filter(|j| j.progress.is_some())
    })
    .await;
    assert_eq!(info.state, JobState::Active);
    assert_eq!(info.progress, Some(serde_json::json!({"done": 50})));
    assert!(info.started_at.is_some(), "a running job's start is known");
    assert_eq!(
        *SEEN.lock().unwrap(),
        [(
            id.clone(),
            "long_task".to_string(),
            "context".to_string(),
            1,
            4,
            // The start the storage recorded for the run.
            info.started_at,
        )]
    );
    // Shutdown past the grace period cancels the run: the job goes back unspent.
    worker.shutdown().await.unwrap();
    let info = queue.job("context", &id).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempts), (JobState::Ready, 0));
}
