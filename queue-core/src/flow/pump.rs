//! Moving ready steps into their lanes, and ending steps: the two cross-slot moves of a
//! workflow, each made of steps that are safe to repeat.

use std::sync::Arc;
use std::time::Duration;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::flow::model::{parse_step_id, FlowId, StepOutcome};
use crate::flow::store::Workflows;
use crate::job::JobId;

/// Most ready steps handed to their lanes per round.
const HAND_PER_CALL: usize = 500;

/// How old a hand-over must be before a recovery hands it again.
pub(crate) const STALE_HANDOVER: Duration = Duration::from_secs(30);

/// The driver's workflows, or an error saying it has none.
pub(crate) fn workflows(driver: &Arc<dyn Driver>) -> Result<&dyn Workflows> {
    driver.workflows().ok_or_else(|| Error::Unsupported {
        capability: "workflows and batches",
        driver: format!("{driver:?}"),
    })
}

/// Passes on the workflow's pending failures and hands its ready steps to their lanes, until
/// nothing is left. Each round takes ready steps (marking them as being handed), stores their
/// jobs (an id stored already is not stored twice) and then forgets the hand-over: a caller
/// that dies in between leaves the hand-over to [`recover`].
pub(crate) async fn pump(driver: &Arc<dyn Driver>, flow: &FlowId) -> Result<()> {
    let store = workflows(driver)?;
    loop {
        let more = store.propagate(flow).await?;
        let jobs = store.take_ready(flow, HAND_PER_CALL).await?;
        if jobs.is_empty() {
            if more {
                continue;
            }
            return Ok(());
        }
        let names: Vec<String> = jobs
            .iter()
            .filter_map(|job| {
                let id = job.id.as_ref()?;
                parse_step_id(id).map(|(_, step)| step.to_string())
            })
            .collect();
        driver.enqueue(jobs).await?;
        store.handed(flow, &names).await?;
    }
}

/// Records how the step of job `id` ended, releases what it was the last prerequisite of and
/// hands the released steps to their lanes: what a worker does when a step's run ends (before
/// it acks or fails the job in its lane), for programs that run jobs without one. A job that
/// is not a step changes nothing; a step that ended already changes nothing.
pub async fn end_step(driver: &Arc<dyn Driver>, id: &JobId, outcome: StepOutcome) -> Result<()> {
    let Some((flow, step)) = parse_step_id(id) else {
        return Ok(());
    };
    let ended = workflows(driver)?.end_step(&flow, step, outcome).await?;
    if ended.more {
        pump(driver, &flow).await?;
    }
    Ok(())
}

/// [`recover`] now and every [`STALE_HANDOVER`] until `stop`: a worker's background task.
pub(crate) async fn recover_every(
    driver: Arc<dyn Driver>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        match recover(&driver, STALE_HANDOVER).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "handed workflow steps left half handed"),
            Err(error) => {
                tracing::warn!(%error, "could not look for workflow steps left half handed")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(STALE_HANDOVER) => {}
        }
    }
}

/// Hands again what callers that died left half handed, for every workflow not ended: a
/// worker does it when it starts.
pub(crate) async fn recover(driver: &Arc<dyn Driver>, older_than: Duration) -> Result<usize> {
    let store = workflows(driver)?;
    let mut reclaimed = 0;
    for flow in store.live_flows(10_000).await? {
        // Reading an ended workflow drops it from the driver's list of live ones.
        match store.flow(&flow).await? {
            Some(info) if info.state == crate::flow::FlowState::Running => {}
            _ => continue,
        }
        reclaimed += recover_flow(driver, &flow, older_than).await?;
    }
    Ok(reclaimed)
}

/// [`recover`] for one workflow: gives back its hand-overs older than `older_than` and hands
/// its ready steps over. Returns how many hand-overs it gave back.
pub(crate) async fn recover_flow(
    driver: &Arc<dyn Driver>,
    flow: &FlowId,
    older_than: Duration,
) -> Result<usize> {
    let (given_back, work) = workflows(driver)?.reclaim(flow, older_than).await?;
    if work {
        pump(driver, flow).await?;
    }
    Ok(given_back)
}
