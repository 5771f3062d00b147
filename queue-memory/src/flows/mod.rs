//! Workflows and batches in memory ([`Workflows`]): each workflow's state machine
//! ([`state::Flow`]) behind the store's lock.

mod state;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use queue_core::flow::{
    Ended, FlowId, FlowInfo, FlowKind, FlowState, StepEnd, StepInfo, StepOutcome, StepSpec,
    StepState,
};
use queue_core::{Error, JobId, NewJob, Result, Workflows};

use crate::MemoryDriver;
use state::Flow;

/// Every workflow of a store.
#[derive(Debug, Default)]
pub(crate) struct FlowStore {
    flows: Mutex<HashMap<FlowId, Flow>>,
}

fn missing(flow: &FlowId) -> Error {
    Error::InvalidWorkflow {
        flow: flow.to_string(),
        reason: "no such workflow".into(),
    }
}

impl MemoryDriver {
    fn with_flow<T>(&self, flow: &FlowId, f: impl FnOnce(&mut Flow) -> T) -> Result<T> {
        let mut flows = self.shared.flows.flows.lock();
        let flow_state = flows.get_mut(flow).ok_or_else(|| missing(flow))?;
        Ok(f(flow_state))
    }
}

#[async_trait]
impl Workflows for MemoryDriver {
    async fn create_flow(&self, flow: &FlowId, kind: FlowKind) -> Result<bool> {
        let mut flows = self.shared.flows.flows.lock();
        if flows.contains_key(flow) {
            return Ok(false);
        }
        flows.insert(flow.clone(), Flow::new(flow.clone(), kind));
        Ok(true)
    }

    async fn add_steps(
        &self,
        flow: &FlowId,
        parent: Option<&str>,
        steps: &[StepSpec],
    ) -> Result<()> {
        self.with_flow(flow, |f| f.add(parent, steps))?
    }

    async fn start_flow(&self, flow: &FlowId) -> Result<()> {
        self.with_flow(flow, Flow::start)
    }

    async fn take_ready(&self, flow: &FlowId, max: usize) -> Result<Vec<NewJob>> {
        Ok(self
            .with_flow(flow, |f| f.take_ready(max))
            .unwrap_or_default())
    }

    async fn handed(&self, flow: &FlowId, steps: &[String]) -> Result<()> {
        let _ = self.with_flow(flow, |f| f.handed(steps));
        Ok(())
    }

    async fn reclaim(&self, flow: &FlowId, older_than: Duration) -> Result<(usize, bool)> {
        let reclaimed = self.with_flow(flow, |f| (f.reclaim(older_than), f.has_work()));
        Ok(reclaimed.unwrap_or((0, false)))
    }

    async fn end_step(&self, flow: &FlowId, step: &str, outcome: StepOutcome) -> Result<Ended> {
        let mut flows = self.shared.flows.flows.lock();
        let Some(f) = flows.get_mut(flow) else {
            // A deleted workflow's step: nothing to record.
            return Ok(Ended::default());
        };
        let mut ended = Ended::default();
        ended.changed = f.end(step, outcome, None);
        f.propagate();
        ended.more = f.has_work();
        Ok(ended)
    }

    async fn end_steps(&self, flow: &FlowId, ends: &[StepEnd]) -> Result<(Vec<bool>, bool)> {
        let mut flows = self.shared.flows.flows.lock();
        let Some(f) = flows.get_mut(flow) else {
            // A deleted workflow's steps: nothing to record.
            return Ok((vec![false; ends.len()], false));
        };
        let changed = ends
            .iter()
            .map(|end| f.end(&end.step, end.outcome.clone(), end.token))
            .collect();
        f.propagate();
        Ok((changed, f.has_work()))
    }

    async fn propagate(&self, flow: &FlowId) -> Result<bool> {
        Ok(self.with_flow(flow, Flow::propagate).unwrap_or(false))
    }

    async fn flow(&self, flow: &FlowId) -> Result<Option<FlowInfo>> {
        Ok(self.shared.flows.flows.lock().get(flow).map(Flow::info))
    }

    async fn steps(&self, flow: &FlowId, offset: usize, limit: usize) -> Result<Vec<StepInfo>> {
        let flows = self.shared.flows.flows.lock();
        let Some(f) = flows.get(flow) else {
            return Ok(Vec::new());
        };
        Ok(f.order
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|name| f.step_info(name))
            .collect())
    }

    async fn queued_steps(&self, flow: &FlowId, steps: &[&str]) -> Result<Vec<bool>> {
        let flows = self.shared.flows.flows.lock();
        let flow = flows.get(flow);
        Ok(steps
            .iter()
            .map(|name| {
                flow.and_then(|f| f.steps.get(*name))
                    .is_some_and(|step| step.state == StepState::Queued)
            })
            .collect())
    }

    async fn step_result(&self, flow: &FlowId, step: &str) -> Result<Option<Bytes>> {
        Ok(self
            .shared
            .flows
            .flows
            .lock()
            .get(flow)
            .and_then(|f| f.result(step)))
    }

    async fn ended_badly(&self, flow: &FlowId) -> Result<Vec<(String, JobId)>> {
        self.with_flow(flow, |f| {
            f.order
                .iter()
                .filter(|n| matches!(f.steps[*n].state, StepState::Failed | StepState::Cancelled))
                .map(|n| (f.steps[n].spec.queue.clone(), flow.step_job_id(n)))
                .collect()
        })
    }

    async fn reopen(&self, flow: &FlowId, floors: &[(String, u64)]) -> Result<usize> {
        self.with_flow(flow, |f| f.reopen(floors))
    }

    async fn remove_steps(
        &self,
        flow: &FlowId,
        _max: usize,
    ) -> Result<(Vec<(String, JobId)>, bool)> {
        let Some(f) = self.shared.flows.flows.lock().remove(flow) else {
            return Ok((Vec::new(), true));
        };
        let jobs = f
            .order
            .iter()
            .filter(|n| !matches!(f.steps[*n].state, StepState::Waiting | StepState::Skipped))
            .map(|n| (f.steps[n].spec.queue.clone(), flow.step_job_id(n)))
            .collect();
        Ok((jobs, true))
    }

    async fn live_flows(&self, max: usize) -> Result<Vec<FlowId>> {
        let flows = self.shared.flows.flows.lock();
        Ok(flows
            .values()
            .filter(|f| f.state == FlowState::Running)
            .map(|f| f.id.clone())
            .take(max)
            .collect())
    }
}
