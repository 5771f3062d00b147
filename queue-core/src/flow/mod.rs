//! Jobs made of steps: workflows (a DAG of jobs whose results flow to their dependents) and
//! batches (jobs with callbacks on complete and on success).
//!
//! ```ignore
//! let id = queue
//!     .dispatch_workflow(
//!         Workflow::new()
//!             .step("fetch", fetch::job(Fetch { url }))
//!             .step_after("resize-1", &["fetch"], resize::job(Resize { width: 100 }))
//!             .step_after("resize-2", &["fetch"], resize::job(Resize { width: 400 }))
//!             .step_with("publish", [Dep::on("resize-1"), Dep::on("resize-2").ignore_failure()],
//!                        publish::job(Publish {})),
//!     )
//!     .await?;
//! // in `resize`: let image: Image = ctx.result_of("fetch").await?.expect("fetch succeeded");
//! ```
//!
//! # Semantics
//!
//! - **Steps are jobs.** A step's job is an ordinary job of its handler's lane with the id
//!   `@wf:<workflow>/<step>` ([`FlowId::step_job_id`]): it is reserved, retried with backoff,
//!   leased, reaped and listed like any job. Plain dispatch refuses ids opening with `@wf:`.
//! - **A step runs when all its prerequisites ended in a way its policies accept**: each
//!   prerequisite succeeded, or failed (or was cancelled, deleted or skipped) under
//!   [`OnFailure::Ignore`] or [`OnFailure::Remove`]. Under the default, [`OnFailure::Fail`],
//!   a failed prerequisite makes the dependent *skipped* at once (it never runs), and the
//!   skip is passed on to its own dependents by their policies; so every step of a workflow
//!   ends, and no step waits forever on a failed one (BullMQ's parents stuck in
//!   waiting-children, #3362, #2229).
//! - **"Failed" means failed for good**: a step whose handler fails while attempts remain is
//!   retried in its lane and its dependents keep waiting. A cancelled step's job, or a
//!   deleted one, ends the step as cancelled, which its dependents treat as a failure.
//! - **Once per success path.** A step's job is handed to its lane once per time its
//!   prerequisites are met (the hand-over stores the job under its fixed id, so repeating it
//!   stores nothing new while the job exists). Like any job it runs at least once: a worker
//!   killed mid-run leaves it to run again after its lease ends. A worker records a step's
//!   outcome in the workflow (releasing its dependents there), *then* acks or fails its job in
//!   its lane, *then* hands the released steps to their lanes: killed between the first two,
//!   the step runs again and its second report changes nothing; killed between the last two,
//!   the released steps wait in the workflow's ready list until a worker's recovery (at its
//!   start and every 30 s) hands them over.
//! - **Retrying a step's job from its lane's failed list** (`queue retry`) does not run it: its
//!   step ended, and a worker acks unrun the job of a step that is not queued. Retry steps
//!   with [`Queue::retry_workflow`](crate::Queue::retry_workflow).
//! - **A step that adds steps and runs again** (after a lost lease) adds the same children
//!   again: a call whose steps were all added by that step before changes nothing (children
//!   named differently on the second run are added as new steps).
//! - **Building.** A dispatch stores the steps in calls of
//!   [`STEPS_PER_CALL`] while the workflow is *building* (nothing runs), then starts it; a
//!   dispatcher that dies meanwhile leaves a building workflow that never runs, removed with
//!   [`Queue::delete_workflow`](crate::Queue::delete_workflow).
//! - **Results.** A step's handler's `Ok` value is stored with the step as JSON whether or not
//!   the handler keeps results (values that do not serialize are stored as nothing).
//!   Dependents read them with `JobContext::result_of`.
//! - **Fan-out and fan-in.** A running step adds steps with `JobContext::add_steps`; its
//!   dependents then also wait for each added step (default policy), so a step after the
//!   parent is a fan-in over all the children, and join steps (batch callbacks) wait for them
//!   too. The counts are raised before the parent ends, so no callback runs early (Sidekiq's
//!   batch race).
//! - **Batches** are workflows whose jobs have no dependencies and whose callbacks are join
//!   steps: `on_complete` waits for every job with [`OnFailure::Ignore`] (runs once all
//!   ended), `on_success` with [`OnFailure::Fail`] (skipped when one fails). A callback reads
//!   the counts and the failed steps with `JobContext::workflow_info`.
//! - **The workflow's state** is building (being stored: no step runs), running, then
//!   succeeded when every step succeeded, or failed when every step ended and one did not
//!   succeed. Retrying ([`Queue::retry_workflow`](crate::Queue::retry_workflow)) reopens the
//!   failed, cancelled and skipped steps and makes the workflow running again; a retried step
//!   that succeeds releases its dependents. Deleting a workflow deletes its steps' jobs.
//!
//! # Storage and its costs
//!
//! Everything of one workflow is kept together ([`Workflows`]: on Redis, one hash tag
//! `{<prefix>#flow:<id>}`), so each release is one atomic step in one Cluster slot: the
//! step's outcome, its dependents' counters and the ready list change together. A ready step
//! is then moved into its lane (another slot) by a hand-over made of repeatable steps (see
//! [`Workflows`]). Jobs that are not steps pay nothing: the worker tells a step by its id's
//! opening when it settles a run, and only steps take the workflow path.

mod builder;
mod context;
mod dispatch;
mod model;
pub(crate) mod pump;
mod store;

pub use builder::{Batch, Workflow};
pub(crate) use model::group_by_flow;
pub use model::{
    is_step_id, parse_step_id, Dep, Ended, FlowId, FlowInfo, FlowKind, FlowState, OnFailure,
    StepEnd, StepInfo, StepOutcome, StepSpec, StepState, STEPS_PER_CALL, STEP_ID_MARK,
};
pub use pump::end_step;
pub use store::Workflows;
