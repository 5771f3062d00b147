//! What [`Queue`] offers for workflows and batches: dispatch, inspection, deletion and retry.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::flow::builder::{Batch, Workflow};
use crate::flow::model::{
    parse_step_id, FlowId, FlowInfo, FlowKind, FlowState, StepInfo, STEPS_PER_CALL,
};
use crate::flow::pump::{pump, workflows};
use crate::queue::Queue;

/// Steps removed per call when a workflow is deleted.
const REMOVE_PER_CALL: usize = 500;

impl Queue {
    /// Dispatches a workflow: stores its steps (in calls of at most
    /// [`STEPS_PER_CALL`](crate::flow::STEPS_PER_CALL)), then starts it, handing the steps
    /// without prerequisites to their lanes. No step runs before every step is stored. Returns
    /// the workflow's id.
    ///
    /// Bad input (a cycle, an unknown prerequisite, a duplicate step name, a job that does not
    /// pass dispatch's checks) is an error naming it, and nothing is stored. A workflow whose
    /// chosen id exists is [`Error::InvalidWorkflow`].
    pub async fn dispatch_workflow(&self, flow: Workflow) -> Result<FlowId> {
        self.store_flow(flow, FlowKind::Workflow).await
    }

    /// Dispatches a batch: its jobs at once, its callbacks once they ended (see [`Batch`]).
    pub async fn dispatch_batch(&self, batch: Batch) -> Result<FlowId> {
        self.store_flow(batch.into_workflow(), FlowKind::Batch)
            .await
    }

    async fn store_flow(&self, flow: Workflow, kind: FlowKind) -> Result<FlowId> {
        let store = workflows(self.driver())?;
        let (id, steps) = flow.into_specs(&|_| false, &mut |job| self.check_job(job))?;
        if !store.create_flow(&id, kind).await? {
            return Err(Error::InvalidWorkflow {
                flow: id.to_string(),
                reason: "a workflow with this id exists".into(),
            });
        }
        for chunk in steps.chunks(STEPS_PER_CALL) {
            store.add_steps(&id, None, chunk).await?;
        }
        store.start_flow(&id).await?;
        pump(self.driver(), &id).await?;
        Ok(id)
    }

    /// Workflow `id`'s state, counts, progress and elapsed time; `None` when there is none.
    pub async fn workflow(&self, id: &FlowId) -> Result<Option<FlowInfo>> {
        workflows(self.driver())?.flow(id).await
    }

    /// Workflow `id`'s steps in the order they were added, with their states and results,
    /// skipping `offset`, at most `limit`.
    pub async fn workflow_steps(
        &self,
        id: &FlowId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<StepInfo>> {
        workflows(self.driver())?.steps(id, offset, limit).await
    }

    /// Deletes workflow `id` with all its steps' jobs (waiting, running or failed; a running
    /// one's worker finds its lease gone). Returns false when there was no such workflow.
    pub async fn delete_workflow(&self, id: &FlowId) -> Result<bool> {
        let store = workflows(self.driver())?;
        if store.flow(id).await?.is_none() {
            return Ok(false);
        }
        let admin = self.driver().admin().ok_or_else(|| Error::Unsupported {
            capability: "inspection and administration",
            driver: format!("{:?}", self.driver()),
        })?;
        loop {
            let (jobs, gone) = store.remove_steps(id, REMOVE_PER_CALL).await?;
            for (queue, job) in &jobs {
                admin.delete(queue, job).await?;
            }
            if gone {
                return Ok(true);
            }
        }
    }

    /// Retries workflow `id`'s failed and cancelled steps, and the steps skipped because of
    /// them: their jobs leave the failed lists, and each step runs again once its
    /// prerequisites succeeded (a retried step that succeeds releases its dependents). A step
    /// cancelled while it ran starts again once that run's lease would have ended, and that
    /// run's own report of its end, should it still come, is refused. Returns how many steps
    /// were reopened.
    pub async fn retry_workflow(&self, id: &FlowId) -> Result<usize> {
        let store = workflows(self.driver())?;
        let admin = self.driver().admin().ok_or_else(|| Error::Unsupported {
            capability: "inspection and administration",
            driver: format!("{:?}", self.driver()),
        })?;
        // The old jobs leave first: a step handed again finds its id free. A run of one may
        // still be going (a cancelled one, until its worker's next renewal): every lease its
        // queue issues from now on has a higher token than the step's floor, read after the
        // delete, so that run's late end is refused once the step is reopened.
        let mut floors = Vec::new();
        for (queue, job) in store.ended_badly(id).await? {
            admin.delete(&queue, &job).await?;
            if let Some((_, step)) = parse_step_id(&job) {
                floors.push((step.to_string(), admin.lease_floor(&queue).await?));
            }
        }
        let reopened = store.reopen(id, &floors).await?;
        pump(self.driver(), id).await?;
        Ok(reopened)
    }

    /// Waits up to `timeout` for workflow `id` to end and returns its final state (looking
    /// every few milliseconds at first, then every 100 ms). An unknown workflow is
    /// [`Error::InvalidWorkflow`]; one still running at the end is [`Error::ResultTimeout`].
    pub async fn wait_workflow(&self, id: &FlowId, timeout: Duration) -> Result<FlowInfo> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            let info = self
                .workflow(id)
                .await?
                .ok_or_else(|| Error::InvalidWorkflow {
                    flow: id.to_string(),
                    reason: "no such workflow".into(),
                })?;
            if matches!(info.state, FlowState::Succeeded | FlowState::Failed) {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::ResultTimeout {
                    queue: String::new(),
                    id: id.to_string(),
                    waited: timeout,
                    state: info.state.code().to_string(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}
