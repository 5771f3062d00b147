//! Settling workflow steps' runs: a step's success, or its failure for good, is recorded in
//! its workflow (releasing its dependents there) before its job is acked or failed in its lane;
//! the released steps are handed to their lanes after that. Only jobs whose id marks them as
//! steps come here: a report without steps costs one scan of its ids' openings.

use crate::flow::{parse_step_id, FlowId, StepOutcome};
use crate::worker::execute::Verdict;
use crate::worker::outbox::{persist, Outbox, Settled};

/// Most step ends recorded per call.
const ENDS_PER_CALL: usize = 500;

/// Records in their workflows how the steps among `settled` ended (the runs of one workflow in
/// one call), noting in `released` the workflows with steps to hand over. Returns the verdicts
/// to settle in the lanes: a step whose workflow could not be reached within a lease is left
/// out, its job left to its lease to run and report again (a repeated report changes nothing).
///
/// A worker that dies after this and before the jobs' acks leaves them to run again; one that
/// dies after the acks and before the hand-over leaves the released steps among their
/// workflow's ready steps, which a worker's recovery hands over.
pub(crate) async fn record(
    outbox: &Outbox,
    settled: Settled,
    released: &mut Vec<FlowId>,
) -> Settled {
    if !settled
        .iter()
        .any(|(lease, _)| crate::flow::is_step_id(&lease.id))
    {
        return settled;
    }
    let Some(store) = outbox.scope.driver.workflows() else {
        return settled;
    };
    // Per workflow: the positions of its steps' verdicts and their ends.
    let mut groups: Vec<(FlowId, Vec<usize>, Vec<(String, StepOutcome)>)> = Vec::new();
    for (i, (lease, verdict)) in settled.iter().enumerate() {
        let outcome = match verdict {
            Verdict::Done(result) => StepOutcome::Succeeded(result.clone()),
            Verdict::Failed(failure) if failure.retry_in.is_none() => {
                StepOutcome::Failed(failure.error.clone())
            }
            _ => continue,
        };
        let Some((flow, step)) = parse_step_id(&lease.id) else {
            continue;
        };
        let end = (step.to_string(), outcome);
        match groups.iter_mut().find(|(f, _, _)| *f == flow) {
            Some((_, at, ends)) => {
                at.push(i);
                ends.push(end);
            }
            None => groups.push((flow, vec![i], vec![end])),
        }
    }
    let mut dropped = vec![false; settled.len()];
    for (flow, at, ends) in groups {
        for (positions, chunk) in at.chunks(ENDS_PER_CALL).zip(ends.chunks(ENDS_PER_CALL)) {
            let call = || store.end_steps(&flow, chunk);
            match persist(outbox, "record the workflow steps of", chunk.len(), call).await {
                Some((_, more)) => {
                    if more && !released.contains(&flow) {
                        released.push(flow.clone());
                    }
                }
                None => positions.iter().for_each(|&i| dropped[i] = true),
            }
        }
    }
    settled
        .into_iter()
        .zip(dropped)
        .filter_map(|(settled, dropped)| (!dropped).then_some(settled))
        .collect()
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
