//! Settling workflow steps' runs: a step's success, or its failure for good, is recorded in
//! its workflow (releasing its dependents there) before its job is acked or failed in its lane;
//! the released steps are handed to their lanes after that. Only jobs whose id marks them as
//! steps come here.

use crate::flow::{FlowId, StepOutcome};
use crate::job::Lease;
use crate::worker::execute::Verdict;
use crate::worker::outbox::{persist, Outbox};

/// Records how a step's run ended in its workflow, noting in `released` a workflow with steps
/// to hand over. Returns the verdict to settle in the lane, or `None` when the workflow could
/// not be reached within a lease: the job is then left to its lease, to run and report again
/// (a repeated report changes nothing).
///
/// A worker that dies after this and before the job's ack leaves the job to run again; one
/// that dies after the ack and before the hand-over leaves the released steps among the
/// workflow's ready steps, which a worker's recovery hands over.
pub(crate) async fn ended(
    outbox: &Outbox,
    lease: &Lease,
    verdict: Verdict,
    released: &mut Vec<FlowId>,
) -> Option<Verdict> {
    let outcome = match &verdict {
        Verdict::Done(result) => StepOutcome::Succeeded(result.clone()),
        Verdict::Failed(failure) if failure.retry_in.is_none() => {
            StepOutcome::Failed(failure.error.clone())
        }
        _ => return Some(verdict),
    };
    let (flow, step) = crate::flow::parse_step_id(&lease.id)?;
    let store = outbox.scope.driver.workflows()?;
    let call = || store.end_step(&flow, step, outcome.clone());
    let ended = persist(outbox, "record the workflow step of", 1, call).await?;
    if ended.more && !released.contains(&flow) {
        released.push(flow);
    }
    Some(verdict)
}

/// Hands the ready steps of `released` workflows to their lanes.
pub(crate) async fn hand_over(outbox: &Outbox, released: Vec<FlowId>) {
    let driver = &outbox.scope.driver;
    for flow in released {
        let call = || crate::flow::pump::pump(driver, &flow);
        // Given up: the steps stay ready in their workflow, for a worker's recovery.
        let _ = persist(outbox, "hand the released workflow steps of", 1, call).await;
    }
}
