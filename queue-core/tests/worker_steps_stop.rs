//! A worker stopped while it reads a reservation's workflow steps (before running their jobs)
//! hands those jobs back unrun, as it hands back reservations that answer after its stop,
//! rather than starting them after the stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use queue_core::flow::{
    Ended, FlowId, FlowInfo, FlowKind, StepEnd, StepInfo, StepOutcome, StepSpec,
};
use queue_core::{job, JobError, JobId, NewJob, Queue, Result, Workflow, Workflows};
use queue_memory::MemoryDriver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[job(queue = "steps-stop")]
async fn stop_step(_n: u32) -> Result<(), JobError> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The memory driver, offering workflows whose step reads wait for the worker's stop.
#[derive(Debug)]
struct Gate {
    inner: MemoryDriver,
    flows: GatedFlows,
}

impl Hooks for Gate {
    fn inner(&self) -> &MemoryDriver {
        &self.inner
    }
    fn workflows(&self) -> Option<&dyn Workflows> {
        Some(&self.flows)
    }
}

#[derive(Debug)]
struct GatedFlows {
    inner: MemoryDriver,
    /// Notified when a read of steps starts.
    reading: Notify,
    /// The worker's stop: a read answers once it is cancelled.
    stop: CancellationToken,
}

#[async_trait]
impl Workflows for GatedFlows {
    async fn queued_steps(&self, flow: &FlowId, steps: &[&str]) -> Result<Vec<bool>> {
        self.reading.notify_one();
        self.stop.cancelled().await;
        self.inner.queued_steps(flow, steps).await
    }
    async fn create_flow(&self, flow: &FlowId, kind: FlowKind) -> Result<bool> {
        self.inner.create_flow(flow, kind).await
    }
    async fn add_steps(
        &self,
        flow: &FlowId,
        parent: Option<&str>,
        steps: &[StepSpec],
    ) -> Result<()> {
        self.inner.add_steps(flow, parent, steps).await
    }
    async fn start_flow(&self, flow: &FlowId) -> Result<()> {
        self.inner.start_flow(flow).await
    }
    async fn take_ready(&self, flow: &FlowId, max: usize) -> Result<Vec<NewJob>> {
        self.inner.take_ready(flow, max).await
    }
    async fn handed(&self, flow: &FlowId, steps: &[String]) -> Result<()> {
        self.inner.handed(flow, steps).await
    }
    async fn reclaim(&self, flow: &FlowId, older_than: Duration) -> Result<(usize, bool)> {
        self.inner.reclaim(flow, older_than).await
    }
    async fn end_step(&self, flow: &FlowId, step: &str, outcome: StepOutcome) -> Result<Ended> {
        self.inner.end_step(flow, step, outcome).await
    }
    async fn end_steps(&self, flow: &FlowId, ends: &[StepEnd]) -> Result<(Vec<bool>, bool)> {
        self.inner.end_steps(flow, ends).await
    }
    async fn propagate(&self, flow: &FlowId) -> Result<bool> {
        self.inner.propagate(flow).await
    }
    async fn flow(&self, flow: &FlowId) -> Result<Option<FlowInfo>> {
        self.inner.flow(flow).await
    }
    async fn steps(&self, flow: &FlowId, offset: usize, limit: usize) -> Result<Vec<StepInfo>> {
        self.inner.steps(flow, offset, limit).await
    }
    async fn step_result(&self, flow: &FlowId, step: &str) -> Result<Option<Bytes>> {
        self.inner.step_result(flow, step).await
    }
    async fn ended_badly(&self, flow: &FlowId) -> Result<Vec<(String, JobId)>> {
        self.inner.ended_badly(flow).await
    }
    async fn reopen(&self, flow: &FlowId, floors: &[(String, u64)]) -> Result<usize> {
        self.inner.reopen(flow, floors).await
    }
    async fn remove_steps(
        &self,
        flow: &FlowId,
        max: usize,
    ) -> Result<(Vec<(String, JobId)>, bool)> {
        self.inner.remove_steps(flow, max).await
    }
    async fn live_flows(&self, max: usize) -> Result<Vec<FlowId>> {
        self.inner.live_flows(max).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_job_whose_step_is_read_when_the_worker_stops_goes_back_unrun() {
    let inner = MemoryDriver::new();
    let stop = CancellationToken::new();
    let gate = Gate {
        inner: inner.clone(),
        flows: GatedFlows {
            inner: inner.clone(),
            reading: Notify::new(),
            stop: stop.clone(),
        },
    };
    let hooked = Arc::new(Hooked(gate));
    let queue = Queue::new(hooked.clone());
    let flow = Workflow::new().step("only", stop_step::job(1));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let worker = queue
        .worker()
        .handlers(["stop_step"])
        .run_until(stop.clone().cancelled_owned());
    let worker = tokio::spawn(worker);
    // The worker reserved the step's job and reads its step; it stops meanwhile.
    tokio::time::timeout(Duration::from_secs(10), hooked.0.flows.reading.notified())
        .await
        .expect("the worker reads the step before running its job");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops")
        .expect("no panic")
        .expect("no error");
    assert_eq!(RUNS.load(Ordering::SeqCst), 0, "the job did not run");
    let plain = Queue::new(Arc::new(inner));
    let job = plain
        .job("steps-stop", &id.step_job_id("only"))
        .await
        .unwrap()
        .expect("the step's job is kept");
    assert_eq!(job.state, queue_core::JobState::Ready, "handed back");
    assert_eq!(job.attempts, 0, "without spending an attempt");
}
