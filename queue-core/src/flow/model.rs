//! What a workflow is made of, as storage keeps it: ids, steps, dependencies and their failure
//! policies, and the states a step and a workflow go through.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::{name_problem, JobId, NewJob};

/// Opening of the job id of every workflow step's job: `@wf:<flow>/<step>`. A worker tells a
/// step's job from any other by this opening alone (no storage read), and plain dispatch refuses
/// ids that open with it.
pub const STEP_ID_MARK: &str = "@wf:";

/// Most steps one storage call of a dispatch carries; bigger workflows take several calls.
pub const STEPS_PER_CALL: usize = 500;

/// A workflow's (or batch's) id: unique within the storage, chosen or generated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(String);

impl FlowId {
    /// A checked id: the characters of job names (`A-Za-z0-9_-.:@`), no `/`, at most 100 bytes.
    pub fn new(id: &str) -> Result<Self> {
        let problem = if id.len() > 100 {
            Some("longer than 100 bytes")
        } else if id.contains('/') {
            Some("must not contain `/` (it separates the workflow from the step in job ids)")
        } else {
            name_problem(id)
        };
        match problem {
            Some(reason) => Err(Error::InvalidName {
                what: "workflow id",
                value: id.chars().take(80).collect(),
                reason,
            }),
            None => Ok(FlowId(id.to_string())),
        }
    }

    /// A fresh id: `wf-` then the time and random bits, in hex.
    pub fn generate() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(nanos);
        hasher.write_u32(std::process::id());
        FlowId(format!("wf-{nanos:x}-{:016x}", hasher.finish()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The job id of step `step` of this workflow: `@wf:<flow>/<step>`.
    pub fn step_job_id(&self, step: &str) -> JobId {
        JobId::from(format!("{STEP_ID_MARK}{}/{step}", self.0).as_str())
    }
}

impl std::fmt::Display for FlowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The workflow and step of a step's job id, or `None` for any other job.
pub fn parse_step_id(id: &JobId) -> Option<(FlowId, &str)> {
    let rest = id.as_str().strip_prefix(STEP_ID_MARK)?;
    let (flow, step) = rest.split_once('/')?;
    Some((FlowId(flow.to_string()), step))
}

/// Items of several workflows' steps, grouped by workflow in the order each first appears:
/// per workflow, the positions of its items (as given) and the items.
pub(crate) type ByFlow<T> = Vec<(FlowId, Vec<usize>, Vec<T>)>;

/// Groups `items` (position, workflow, item) by workflow. A worker's reservation or report
/// holds few workflows, so each item looks its workflow up among the groups made so far.
pub(crate) fn group_by_flow<T>(items: impl IntoIterator<Item = (usize, FlowId, T)>) -> ByFlow<T> {
    let mut groups: ByFlow<T> = Vec::new();
    for (i, flow, item) in items {
        match groups.iter_mut().find(|(f, _, _)| *f == flow) {
            Some((_, at, group)) => {
                at.push(i);
                group.push(item);
            }
            None => groups.push((flow, vec![i], vec![item])),
        }
    }
    groups
}

/// True when job `id` is a workflow step's (one compare of its opening).
#[inline]
pub fn is_step_id(id: &JobId) -> bool {
    id.as_bytes().starts_with(STEP_ID_MARK.as_bytes())
}

/// What a dependent does when one of its prerequisites fails, is cancelled or is skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The dependent is skipped (never runs), and so are its own dependents by their policies.
    /// The default.
    #[default]
    Fail,
    /// The dependent runs once its other prerequisites are done; the failure is visible to it
    /// ([`StepInfo::failed_prerequisites`], `JobContext::failed_prerequisites`).
    Ignore,
    /// The dependency is dropped: the dependent runs as if it never had it (the failure is not
    /// listed among its failed prerequisites).
    Remove,
}

impl OnFailure {
    /// The policy's code in storage.
    pub fn code(self) -> &'static str {
        match self {
            OnFailure::Fail => "f",
            OnFailure::Ignore => "i",
            OnFailure::Remove => "r",
        }
    }

    /// The policy of a storage code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "f" => Some(OnFailure::Fail),
            "i" => Some(OnFailure::Ignore),
            "r" => Some(OnFailure::Remove),
            _ => None,
        }
    }
}

/// One dependency of a step: the prerequisite's name and what a failure of it does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dep {
    /// The prerequisite step.
    pub step: String,
    /// What its failure does to the dependent.
    pub on_failure: OnFailure,
}

impl Dep {
    /// A dependency on `step` with the default policy ([`OnFailure::Fail`]).
    pub fn on(step: &str) -> Self {
        Dep {
            step: step.to_string(),
            on_failure: OnFailure::Fail,
        }
    }

    /// Runs the dependent even when `step` fails ([`OnFailure::Ignore`]).
    pub fn ignore_failure(mut self) -> Self {
        self.on_failure = OnFailure::Ignore;
        self
    }

    /// Drops the dependency when `step` fails ([`OnFailure::Remove`]).
    pub fn remove_on_failure(mut self) -> Self {
        self.on_failure = OnFailure::Remove;
        self
    }
}

impl From<&str> for Dep {
    fn from(step: &str) -> Self {
        Dep::on(step)
    }
}

/// A step as drivers store it: its job (checked) and its prerequisites.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StepSpec {
    /// The step's name, unique in its workflow.
    pub name: String,
    /// The queue its job goes to.
    pub queue: String,
    /// Its job's name (the handler's).
    pub job: String,
    /// Its job's payload.
    pub payload: Bytes,
    /// Its job's priority.
    pub priority: i8,
    /// Its job's attempts.
    pub attempts: u32,
    /// Its prerequisites (already stored steps of the workflow).
    pub after: Vec<Dep>,
    /// For a join step (a batch callback): it waits for every step of the workflow that is not
    /// a join step, including those added later, each with this policy.
    pub after_all: Option<OnFailure>,
}

impl StepSpec {
    /// The step's job, to hand to its lane: the stored fields and the id
    /// [`FlowId::step_job_id`].
    pub fn new_job(&self, flow: &FlowId) -> NewJob {
        NewJob::named(&self.job, self.payload.clone())
            .queue(&self.queue)
            .priority(self.priority)
            .attempts(self.attempts)
            .id(flow.step_job_id(&self.name))
    }
}

/// Where a step stands in its workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepState {
    /// Waiting for prerequisites.
    Waiting,
    /// Its prerequisites are done: handed (or being handed) to its lane, where it waits, runs
    /// or retries as any job.
    Queued,
    /// Its handler succeeded.
    Succeeded,
    /// Its handler failed for good.
    Failed,
    /// It was cancelled or its job deleted.
    Cancelled,
    /// It never ran: a prerequisite failed under [`OnFailure::Fail`].
    Skipped,
}

impl StepState {
    /// The state's code in storage.
    pub fn code(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::Queued => "queued",
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Cancelled => "cancelled",
            StepState::Skipped => "skipped",
        }
    }

    /// The state of a storage code.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "waiting" => StepState::Waiting,
            "queued" => StepState::Queued,
            "succeeded" => StepState::Succeeded,
            "failed" => StepState::Failed,
            "cancelled" => StepState::Cancelled,
            "skipped" => StepState::Skipped,
            _ => return None,
        })
    }

    /// True once the step will not change on its own (only a retry reopens it).
    pub fn is_ended(self) -> bool {
        !matches!(self, StepState::Waiting | StepState::Queued)
    }
}

/// How a step's run ended, as the worker (or a cancel) reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepOutcome {
    /// The handler succeeded, with its value as JSON when it has one.
    Succeeded(Option<Bytes>),
    /// The handler failed for good, with its last error.
    Failed(String),
    /// The step's job was cancelled or deleted.
    Cancelled(String),
}

/// How a run of a step ended, as a worker reports it to
/// [`Workflows::end_steps`](crate::Workflows::end_steps).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepEnd {
    /// The step's name.
    pub step: String,
    /// How its run ended.
    pub outcome: StepOutcome,
    /// The fencing token of the run's lease (`None`: an end not reported by a run, always
    /// recorded while the step is open).
    pub token: Option<u64>,
}

impl StepEnd {
    /// The end of step `step`'s run under the lease of fencing token `token`.
    pub fn new(step: impl Into<String>, outcome: StepOutcome, token: Option<u64>) -> Self {
        Self {
            step: step.into(),
            outcome,
            token,
        }
    }
}

/// What [`Workflows::end_step`](crate::Workflows::end_step) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ended {
    /// False when the step had ended already (a repeated report): nothing changed.
    pub changed: bool,
    /// True when work remains for the caller: steps became ready, or failures are still to be
    /// passed on ([`Workflows::propagate`](crate::Workflows::propagate)).
    pub more: bool,
}

/// Whether a set of jobs was dispatched as a workflow or a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowKind {
    /// A workflow: steps with dependencies.
    Workflow,
    /// A batch: jobs with callbacks on complete and on success.
    Batch,
}

impl FlowKind {
    /// The kind's code in storage.
    pub fn code(self) -> &'static str {
        match self {
            FlowKind::Workflow => "workflow",
            FlowKind::Batch => "batch",
        }
    }

    /// The kind of a storage code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "workflow" => Some(FlowKind::Workflow),
            "batch" => Some(FlowKind::Batch),
            _ => None,
        }
    }
}

/// Where a workflow stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FlowState {
    /// Being stored: no step runs before the dispatch ends.
    Building,
    /// Some steps have not ended.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// Every step ended, and at least one failed, was cancelled or was skipped.
    Failed,
}

impl FlowState {
    /// The state's code in storage.
    pub fn code(self) -> &'static str {
        match self {
            FlowState::Building => "building",
            FlowState::Running => "running",
            FlowState::Succeeded => "succeeded",
            FlowState::Failed => "failed",
        }
    }

    /// The state of a storage code.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "building" => FlowState::Building,
            "running" => FlowState::Running,
            "succeeded" => FlowState::Succeeded,
            "failed" => FlowState::Failed,
            _ => return None,
        })
    }
}

/// A workflow's state and counts ([`Queue::workflow`](crate::Queue::workflow)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlowInfo {
    /// Its id.
    pub id: FlowId,
    /// Workflow or batch.
    pub kind: FlowKind,
    /// Where it stands.
    pub state: FlowState,
    /// Its steps, including those added while it ran.
    pub total: u64,
    /// Steps that succeeded.
    pub succeeded: u64,
    /// Steps whose handlers failed for good.
    pub failed: u64,
    /// Steps cancelled or deleted.
    pub cancelled: u64,
    /// Steps skipped for a failed prerequisite.
    pub skipped: u64,
    /// When it was dispatched, ms since the Unix epoch.
    pub created_ms: u64,
    /// When its last step ended, while it has ended.
    pub ended_ms: Option<u64>,
    /// Names of its failed and cancelled steps.
    pub failed_steps: Vec<String>,
}

impl FlowInfo {
    /// A workflow's record with no step counted yet (for drivers).
    pub fn new(id: FlowId, kind: FlowKind, state: FlowState, created_ms: u64) -> Self {
        FlowInfo {
            id,
            kind,
            state,
            total: 0,
            succeeded: 0,
            failed: 0,
            cancelled: 0,
            skipped: 0,
            created_ms,
            ended_ms: None,
            failed_steps: Vec::new(),
        }
    }

    /// Steps that have not ended (TaskDB's "unresolved").
    pub fn unresolved(&self) -> u64 {
        self.total
            .saturating_sub(self.succeeded + self.failed + self.cancelled + self.skipped)
    }

    /// The share of steps ended, 0.0 to 1.0 (1.0 for an empty workflow).
    pub fn progress(&self) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        (self.total - self.unresolved()) as f64 / self.total as f64
    }

    /// Time from dispatch to the end, or to now while it runs.
    pub fn elapsed(&self) -> Duration {
        let end = self
            .ended_ms
            .unwrap_or_else(|| crate::job::unix_ms(std::time::SystemTime::now()));
        Duration::from_millis(end.saturating_sub(self.created_ms))
    }
}

/// One step's state, job and outcome ([`Queue::workflow_steps`](crate::Queue::workflow_steps)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepInfo {
    /// The step's name.
    pub name: String,
    /// Its job's queue.
    pub queue: String,
    /// Its job's name.
    pub job: String,
    /// Its job's id in the queue ([`FlowId::step_job_id`]).
    pub job_id: JobId,
    /// Where it stands.
    pub state: StepState,
    /// The last error, for a failed or cancelled step, or why it was skipped.
    pub error: Option<String>,
    /// The handler's value as JSON, for a succeeded step whose handler returned one.
    pub result: Option<Bytes>,
    /// Prerequisites that failed under [`OnFailure::Ignore`] (not kept for join steps: see the
    /// workflow's [`FlowInfo::failed_steps`]).
    pub failed_prerequisites: Vec<String>,
}

impl StepInfo {
    /// A step's record with no outcome yet (for drivers).
    pub fn new(flow: &FlowId, name: &str, queue: &str, job: &str, state: StepState) -> Self {
        StepInfo {
            name: name.to_string(),
            queue: queue.to_string(),
            job: job.to_string(),
            job_id: flow.step_job_id(name),
            state,
            error: None,
            result: None,
            failed_prerequisites: Vec::new(),
        }
    }
}
