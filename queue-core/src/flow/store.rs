//! The storage capability behind workflows and batches: [`Workflows`].

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::Result;
use crate::flow::model::{
    Ended, FlowId, FlowInfo, FlowKind, StepEnd, StepInfo, StepOutcome, StepSpec,
};
use crate::job::{JobId, NewJob};

/// Workflows and batches kept in storage: steps with prerequisites, released in the same atomic
/// step that ends their last prerequisite. A driver offers it in
/// [`Driver::capabilities`](crate::Driver::capabilities); without it
/// [`Queue::dispatch_workflow`](crate::Queue::dispatch_workflow) and the like answer
/// [`Error::Unsupported`](crate::Error::Unsupported). The semantics are in the
/// [`flow`](crate::flow) module's documentation; what each call must do is below.
///
/// # Behavior
///
/// - **One place.** Everything of one workflow lives together (one Redis hash tag), apart from
///   its steps' jobs, which live in their lanes as any job with the id
///   [`FlowId::step_job_id`]. Moving a ready step into its lane is two calls:
///   [`take_ready`](Workflows::take_ready) marks it as being handed, the caller enqueues the
///   job (an existing id is not stored twice), then [`handed`](Workflows::handed) forgets the
///   hand-over. [`reclaim`](Workflows::reclaim) gives back hand-overs left unfinished by a
///   caller that died.
/// - **Releases.** [`end_step`](Workflows::end_step) records a step's outcome and, in the same
///   atomic step, releases every dependent whose last prerequisite it was (it joins the ready
///   steps) and applies failure policies, up to a bounded amount of work; what is left is
///   done by [`propagate`](Workflows::propagate), which the caller repeats while `more`.
/// - **Bounded calls.** No call's work grows with the workflow: steps are stored at most
///   [`STEPS_PER_CALL`](crate::flow::STEPS_PER_CALL) at a time, ready steps are taken `max` at a
///   time, and failures are passed on in bounded rounds.
#[async_trait]
pub trait Workflows: Send + Sync {
    /// Creates workflow `flow` in state building. Returns false (changing nothing) when a
    /// workflow of that id exists.
    async fn create_flow(&self, flow: &FlowId, kind: FlowKind) -> Result<bool>;

    /// Adds steps, each after its prerequisites (which are stored already or come earlier in
    /// `steps`); join steps come after the steps they wait for. While the workflow is
    /// building, `parent` is `None`. On a running workflow, `parent` is a step that has not
    /// ended (the step adding children at run time): every dependent of `parent` then also
    /// waits for each new step ([`OnFailure::Fail`](crate::flow::OnFailure::Fail)), and every
    /// join step waits for them. A name already used, an unknown prerequisite or an ended
    /// parent is an [`Error::InvalidWorkflow`](crate::Error::InvalidWorkflow) and stores
    /// nothing of this call. A call whose steps were all added by the same `parent` before (a
    /// step that runs again after a lost lease) changes nothing and succeeds.
    async fn add_steps(
        &self,
        flow: &FlowId,
        parent: Option<&str>,
        steps: &[StepSpec],
    ) -> Result<()>;

    /// Ends the building: the steps without prerequisites become ready (nothing of the
    /// workflow runs before). Repeating it changes nothing.
    async fn start_flow(&self, flow: &FlowId) -> Result<()>;

    /// Takes up to `max` ready steps, oldest first, marking each as being handed to its lane,
    /// and returns their jobs. Nothing for a building workflow.
    async fn take_ready(&self, flow: &FlowId, max: usize) -> Result<Vec<NewJob>>;

    /// Forgets the hand-over of `steps` (their jobs are stored in their lanes).
    async fn handed(&self, flow: &FlowId, steps: &[String]) -> Result<()>;

    /// Puts hand-overs older than `older_than` back among the ready steps (for steps still
    /// queued), so that the next [`take_ready`](Workflows::take_ready) hands them again.
    /// Returns how many, and whether the workflow has work for a caller (ready steps, or ends
    /// to pass on).
    async fn reclaim(&self, flow: &FlowId, older_than: Duration) -> Result<(usize, bool)>;

    /// Records how step `step` ended (see the trait): a step that has ended already changes
    /// nothing (`changed: false`).
    async fn end_step(&self, flow: &FlowId, step: &str, outcome: StepOutcome) -> Result<Ended>;

    /// [`end_step`](Workflows::end_step) for several steps of the workflow, in order, each
    /// with the fencing token of the run that ended it (a worker settles its runs of one
    /// workflow together). An end whose token is at or below the step's floor (set by
    /// [`reopen`](Workflows::reopen): a run from before the step was reopened, whose lease
    /// was revoked) changes nothing. Returns, per step, whether it changed, and whether work
    /// remains. Drivers may do it in one atomic step.
    async fn end_steps(&self, flow: &FlowId, ends: &[StepEnd]) -> Result<(Vec<bool>, bool)>;

    /// Passes on failures left by [`end_step`](Workflows::end_step) or
    /// [`reopen`](Workflows::reopen), a bounded amount at a time. Returns whether work remains.
    async fn propagate(&self, flow: &FlowId) -> Result<bool>;

    /// The workflow's state and counts, `None` when there is no such workflow.
    async fn flow(&self, flow: &FlowId) -> Result<Option<FlowInfo>>;

    /// Whether each of `steps` is queued: released to its lane and not ended, so a run of its
    /// job may still decide it. False for a step that ended or waits for prerequisites, for an
    /// unknown step and for every step of a workflow that does not exist (a worker does not
    /// run such a step's job: it is a copy stored again after the step ended, or left over
    /// from a deleted workflow).
    async fn queued_steps(&self, flow: &FlowId, steps: &[&str]) -> Result<Vec<bool>>;

    /// Its steps in the order they were added, skipping `offset`, at most `limit`.
    async fn steps(&self, flow: &FlowId, offset: usize, limit: usize) -> Result<Vec<StepInfo>>;

    /// The stored value of step `step` (its handler's `Ok` value as JSON), if it succeeded
    /// with one.
    async fn step_result(&self, flow: &FlowId, step: &str) -> Result<Option<Bytes>>;

    /// The failed, cancelled and skipped steps' jobs (queue and id): what must leave the lanes
    /// before [`reopen`](Workflows::reopen) hands them again.
    async fn ended_badly(&self, flow: &FlowId) -> Result<Vec<(String, JobId)>>;

    /// Reopens the failed, cancelled and skipped steps: each waits again for its prerequisites
    /// that have not succeeded (those with none are ready), and the workflow runs again. Each
    /// step named in `floors` gets that floor: a run's end with a token at or below it is
    /// refused (the step's runs from before, whose jobs the caller deleted, may still report).
    /// Returns how many steps were reopened.
    async fn reopen(&self, flow: &FlowId, floors: &[(String, u64)]) -> Result<usize>;

    /// Removes up to `max` steps of the workflow and returns their jobs (queue and id), for the
    /// caller to delete from their lanes; once no step is left, removes the workflow itself.
    /// Returns the jobs and whether the workflow is gone.
    async fn remove_steps(&self, flow: &FlowId, max: usize)
        -> Result<(Vec<(String, JobId)>, bool)>;

    /// Ids of workflows that have not ended (for [`reclaim`](Workflows::reclaim) after a
    /// crash), at most `max`.
    async fn live_flows(&self, max: usize) -> Result<Vec<FlowId>>;
}
