//! What a running step reads and does through its [`JobContext`]: its prerequisites' results,
//! its workflow's counts, and steps added at run time (fan-out).

use serde::de::DeserializeOwned;

use crate::context::JobContext;
use crate::error::{Error, Result};
use crate::flow::builder::Workflow;
use crate::flow::model::{parse_step_id, FlowId, FlowInfo};
use crate::flow::pump::{pump, workflows};

impl JobContext {
    /// The workflow and step this job is, or `None` for a job outside workflows.
    pub fn workflow_step(&self) -> Option<(FlowId, &str)> {
        parse_step_id(self.id())
    }

    fn step_or_error(&self) -> Result<(FlowId, &str)> {
        self.workflow_step().ok_or_else(|| Error::InvalidWorkflow {
            flow: String::new(),
            reason: format!("job `{}` is not a workflow step", self.id()),
        })
    }

    /// The value step `step` of this job's workflow succeeded with, decoded as `T`: `None`
    /// when that step has not succeeded (it failed and this step runs past it by its policy)
    /// or returned nothing storable. Steps keep their values for their dependents whatever
    /// their handler's `keep_result`.
    pub async fn result_of<T: DeserializeOwned>(&self, step: &str) -> Result<Option<T>> {
        let (flow, _) = self.step_or_error()?;
        let store = workflows(self.driver())?;
        let Some(bytes) = store.step_result(&flow, step).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|source| {
            Error::storage(format!(
                "the result of step `{step}` of workflow `{flow}` does not decode as {}: {source}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// This step's prerequisites that failed (or were cancelled or skipped) and that it runs
    /// past by [`OnFailure::Ignore`](crate::flow::OnFailure::Ignore).
    pub async fn failed_prerequisites(&self) -> Result<Vec<String>> {
        let (flow, step) = self.step_or_error()?;
        let store = workflows(self.driver())?;
        let mut offset = 0;
        loop {
            let page = store.steps(&flow, offset, 500).await?;
            if page.is_empty() {
                return Ok(Vec::new());
            }
            if let Some(info) = page.iter().find(|s| s.name == step) {
                return Ok(info.failed_prerequisites.clone());
            }
            offset += page.len();
        }
    }

    /// This job's workflow's state and counts: what a batch callback reads (how many jobs
    /// succeeded and failed, and which failed).
    pub async fn workflow_info(&self) -> Result<FlowInfo> {
        let (flow, _) = self.step_or_error()?;
        workflows(self.driver())?
            .flow(&flow)
            .await?
            .ok_or_else(|| Error::InvalidWorkflow {
                flow: flow.to_string(),
                reason: "the workflow no longer exists".into(),
            })
    }

    /// Adds steps to this job's workflow while it runs (fan-out): they may depend on each
    /// other and on steps of the workflow, and every dependent of this step also waits for
    /// each of them (fan-in: a step after this one sees all of their results). Steps without
    /// prerequisites among themselves start at once. The builder's id is ignored.
    pub async fn add_steps(&self, steps: Workflow) -> Result<()> {
        let (flow, step) = self.step_or_error()?;
        let store = workflows(self.driver())?;
        let queue = crate::queue::Queue::new(self.driver().clone());
        let (_, specs) = steps.into_specs(&|_| true, &mut |job| queue.check_job(job))?;
        for chunk in specs.chunks(crate::flow::model::STEPS_PER_CALL) {
            store.add_steps(&flow, Some(step), chunk).await?;
        }
        pump(self.driver(), &flow).await
    }
}
