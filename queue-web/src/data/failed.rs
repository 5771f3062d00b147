//! Failed jobs across queues: per queue its count and its newest failures (one page each).

use queue_core::{JobQuery, JobState, Order};
use serde::Serialize;

use super::JobRow;
use crate::error::WebError;
use crate::state::AppState;

/// How many of each queue's newest failures the page shows.
pub(crate) const PER_QUEUE: usize = 20;

/// One queue's failures.
#[derive(Debug, Serialize)]
pub(crate) struct FailedQueue {
    pub(crate) queue: String,
    /// All its failed (and cancelled) jobs.
    pub(crate) failed: u64,
    /// The newest of them.
    pub(crate) jobs: Vec<JobRow>,
    /// Where the list of the next ones starts.
    pub(crate) next: Option<String>,
}

/// The failed page.
#[derive(Debug, Serialize)]
pub(crate) struct FailedView {
    /// Queues with failed jobs, by name.
    pub(crate) queues: Vec<FailedQueue>,
}

/// Reads the newest failures of every queue that has some.
pub(crate) async fn failed(state: &AppState) -> Result<FailedView, WebError> {
    let queue = state.queue();
    let fail = |e| state.fail(e);
    let mut queues = Vec::new();
    for name in state.queue_names().await? {
        let failed = queue.counts(&name).await.map_err(fail)?.failed;
        if failed == 0 {
            continue;
        }
        let query = JobQuery::new(JobState::Failed)
            .order(Order::Newest)
            .limit(PER_QUEUE);
        let page = queue.jobs(&name, query).await.map_err(fail)?;
        queues.push(FailedQueue {
            queue: name,
            failed,
            jobs: page.jobs.iter().map(JobRow::of).collect(),
            next: page.next,
        });
    }
    Ok(FailedView { queues })
}
