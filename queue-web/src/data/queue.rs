//! One queue: its counts by state, its lanes (one per job name) with their totals.

use queue_core::Counts;
use serde::Serialize;

use super::{Runs, Time};
use crate::error::WebError;
use crate::state::AppState;

/// One handler's lane of a queue.
#[derive(Debug, Serialize)]
pub(crate) struct LaneView {
    /// The job name.
    pub(crate) name: String,
    /// Its jobs by state (failed jobs are counted per queue).
    pub(crate) counts: Counts,
    /// Runs that ended, all time (when the driver keeps statistics).
    pub(crate) runs: Option<Runs>,
}

/// The queue page.
#[derive(Debug, Serialize)]
pub(crate) struct QueueView {
    pub(crate) name: String,
    pub(crate) counts: Counts,
    pub(crate) lanes: Vec<LaneView>,
    /// When the longest-waiting ready job was created.
    pub(crate) oldest_ready: Option<Time>,
}

/// Reads the page of queue `name` (404 for a queue the storage does not know).
pub(crate) async fn queue(state: &AppState, name: &str) -> Result<QueueView, WebError> {
    state.known_queue(name).await?;
    let queue = state.queue();
    let fail = |e| state.fail(e);
    let counts = queue.counts(name).await.map_err(fail)?;
    let mut lanes: Vec<LaneView> = match queue.driver().admin() {
        Some(_) => queue
            .lane_counts(name)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|(name, counts)| LaneView {
                name,
                counts,
                runs: None,
            })
            .collect(),
        None => Vec::new(),
    };
    let mut oldest_ready = None;
    if queue.driver().stats().is_some() {
        let stats = queue.stats(name).await.map_err(fail)?;
        oldest_ready = stats.oldest_ready.map(Time);
        for (job, runs) in stats.totals {
            match lanes.iter_mut().find(|l| l.name == job) {
                Some(lane) => lane.runs = Some(runs.into()),
                None => lanes.push(LaneView {
                    name: job,
                    counts: Counts::default(),
                    runs: Some(runs.into()),
                }),
            }
        }
    }
    lanes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(QueueView {
        name: name.to_string(),
        counts,
        lanes,
        oldest_ready,
    })
}
