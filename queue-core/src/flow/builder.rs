//! The builders users write: [`Workflow`] (steps with dependencies) and [`Batch`] (jobs with
//! callbacks), checked and put in storage order before anything is stored.

use std::collections::{HashMap, VecDeque};

use crate::error::{Error, Result};
use crate::flow::model::{Dep, FlowId, OnFailure, StepSpec};
use crate::job::{name_problem, NewJob};

/// A set of jobs with dependencies forming a DAG, dispatched in one call with
/// [`Queue::dispatch_workflow`](crate::Queue::dispatch_workflow):
///
/// ```ignore
/// let flow = Workflow::new()
///     .step("fetch", fetch::job(Fetch { url }))
///     .step_after("resize-1", &["fetch"], resize::job(Resize { width: 100 }))
///     .step_with("publish", [Dep::on("resize-1").ignore_failure()], publish::job(Publish {}));
/// let id = queue.dispatch_workflow(flow).await?;
/// ```
///
/// Each job is built as for any dispatch (`my_job::job(payload)`, typed, or
/// [`NewJob::named`]); its queue, priority and attempts are kept. A step's job id is the
/// workflow's ([`FlowId::step_job_id`]), so a job with a chosen id, a delay or a unique key is
/// refused.
#[derive(Debug, Default)]
pub struct Workflow {
    id: Option<String>,
    steps: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    name: String,
    job: NewJob,
    after: Vec<Dep>,
    after_all: Option<OnFailure>,
}

impl Workflow {
    /// An empty workflow with a generated id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the workflow's id (checked at dispatch: [`FlowId::new`]).
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// Adds step `name`, with no prerequisite.
    pub fn step(self, name: &str, job: NewJob) -> Self {
        self.step_with(name, [], job)
    }

    /// Adds step `name`, run once every step of `after` succeeded (a failure of one skips it).
    pub fn step_after(self, name: &str, after: &[&str], job: NewJob) -> Self {
        self.step_with(name, after.iter().map(|s| Dep::on(s)), job)
    }

    /// Adds step `name` with its dependencies, each with its failure policy.
    pub fn step_with(
        mut self,
        name: &str,
        after: impl IntoIterator<Item = Dep>,
        job: NewJob,
    ) -> Self {
        self.steps.push(Entry {
            name: name.to_string(),
            job,
            after: after.into_iter().collect(),
            after_all: None,
        });
        self
    }

    /// Adds a join step: it waits for every other step of the workflow (those added at run
    /// time too), each with `on_failure`. `Fail` makes it a callback on success, `Ignore` a
    /// callback on completion.
    pub fn step_after_all(mut self, name: &str, on_failure: OnFailure, job: NewJob) -> Self {
        self.steps.push(Entry {
            name: name.to_string(),
            job,
            after: Vec::new(),
            after_all: Some(on_failure),
        });
        self
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True without steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Checks the steps and returns the id and the steps in storage order: every step after its
    /// prerequisites, join steps last. `known` tells whether a name is a step stored already
    /// (for steps added at run time). `check` checks each job as a dispatch would.
    pub(crate) fn into_specs(
        self,
        known: &dyn Fn(&str) -> bool,
        check: &mut dyn FnMut(&mut NewJob) -> Result<()>,
    ) -> Result<(FlowId, Vec<StepSpec>)> {
        let id = match &self.id {
            Some(id) => FlowId::new(id)?,
            None => FlowId::generate(),
        };
        let invalid = |reason: String| Error::InvalidWorkflow {
            flow: id.to_string(),
            reason,
        };
        let mut index = HashMap::with_capacity(self.steps.len());
        for (i, entry) in self.steps.iter().enumerate() {
            if let Some(reason) = name_problem(&entry.name) {
                return Err(invalid(format!("step name `{}` {reason}", entry.name)));
            }
            if index.insert(entry.name.as_str(), i).is_some() {
                return Err(invalid(format!("step `{}` is added twice", entry.name)));
            }
        }
        let joins: Vec<&str> = self
            .steps
            .iter()
            .filter(|e| e.after_all.is_some())
            .map(|e| e.name.as_str())
            .collect();
        // Kahn's order over the steps of this call; prerequisites stored already count as met.
        let mut waiting = vec![0usize; self.steps.len()];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); self.steps.len()];
        for (i, entry) in self.steps.iter().enumerate() {
            for dep in &entry.after {
                if joins.contains(&dep.step.as_str()) {
                    return Err(invalid(format!(
                        "step `{}` depends on join step `{}`; a join step cannot be a prerequisite",
                        entry.name, dep.step
                    )));
                }
                match index.get(dep.step.as_str()) {
                    Some(&p) => {
                        waiting[i] += 1;
                        dependents[p].push(i);
                    }
                    None if known(&dep.step) => {}
                    None => {
                        return Err(invalid(format!(
                            "step `{}` depends on `{}`, which is not a step of the workflow",
                            entry.name, dep.step
                        )))
                    }
                }
            }
        }
        let mut queue: VecDeque<usize> = (0..self.steps.len())
            .filter(|&i| waiting[i] == 0 && self.steps[i].after_all.is_none())
            .collect();
        let mut order = Vec::with_capacity(self.steps.len());
        while let Some(i) = queue.pop_front() {
            order.push(i);
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    queue.push_back(d);
                }
            }
        }
        let regular = self.steps.iter().filter(|e| e.after_all.is_none()).count();
        if order.len() < regular {
            let mut cycle: Vec<&str> = (0..self.steps.len())
                .filter(|&i| waiting[i] > 0)
                .map(|i| self.steps[i].name.as_str())
                .collect();
            cycle.truncate(10);
            return Err(invalid(format!(
                "the dependencies form a cycle through {}",
                cycle.join(", ")
            )));
        }
        order.extend((0..self.steps.len()).filter(|&i| self.steps[i].after_all.is_some()));
        let mut slots: Vec<Option<Entry>> = self.steps.into_iter().map(Some).collect();
        let mut specs = Vec::with_capacity(order.len());
        for i in order {
            let mut entry = slots[i].take().expect("each step once");
            let name = entry.name.clone();
            let step_problem = |what: &str| invalid(format!("step `{name}`: {what}"));
            if entry.job.id.is_some() {
                return Err(step_problem(
                    "its job has a chosen id; a step's job id is the workflow's",
                ));
            }
            if entry.job.unique.is_some() {
                return Err(step_problem("its job is unique; a workflow step cannot be"));
            }
            if !entry.job.delay.is_zero() {
                return Err(step_problem(
                    "its job has a delay; a step runs when its prerequisites are done",
                ));
            }
            check(&mut entry.job)?;
            specs.push(StepSpec {
                name: entry.name,
                queue: entry.job.queue.to_string(),
                job: entry.job.name.to_string(),
                payload: entry.job.payload.clone(),
                priority: entry.job.priority,
                attempts: entry.job.max_attempts,
                after: entry.after,
                after_all: entry.after_all,
            });
        }
        Ok((id, specs))
    }
}

/// Many jobs dispatched together, with callback jobs run once all of them ended (on complete)
/// or all of them succeeded (on success), as Sidekiq Pro's batches:
/// [`Queue::dispatch_batch`](crate::Queue::dispatch_batch). A batch is a workflow whose jobs
/// are the steps `job-0`, `job-1`, ... and whose callbacks are the join steps `on_complete`
/// and `on_success`; a callback reads the counts and failed steps with
/// `JobContext::workflow_info`.
#[derive(Debug, Default)]
pub struct Batch {
    id: Option<String>,
    jobs: Vec<NewJob>,
    on_complete: Option<NewJob>,
    on_success: Option<NewJob>,
}

impl Batch {
    /// An empty batch with a generated id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the batch's id.
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_string());
        self
    }

    /// Adds a job.
    pub fn job(mut self, job: NewJob) -> Self {
        self.jobs.push(job);
        self
    }

    /// Adds jobs.
    pub fn jobs(mut self, jobs: impl IntoIterator<Item = NewJob>) -> Self {
        self.jobs.extend(jobs);
        self
    }

    /// The callback run once every job ended, however (step `on_complete`).
    pub fn on_complete(mut self, job: NewJob) -> Self {
        self.on_complete = Some(job);
        self
    }

    /// The callback run once every job succeeded (step `on_success`); skipped when one fails
    /// for good, is cancelled or deleted (until the failed ones are retried and succeed).
    pub fn on_success(mut self, job: NewJob) -> Self {
        self.on_success = Some(job);
        self
    }

    /// The batch as a workflow.
    pub(crate) fn into_workflow(self) -> Workflow {
        let mut flow = Workflow {
            id: self.id,
            steps: Vec::with_capacity(self.jobs.len() + 2),
        };
        for (i, job) in self.jobs.into_iter().enumerate() {
            flow = flow.step(&format!("job-{i}"), job);
        }
        if let Some(job) = self.on_complete {
            flow = flow.step_after_all("on_complete", OnFailure::Ignore, job);
        }
        if let Some(job) = self.on_success {
            flow = flow.step_after_all("on_success", OnFailure::Fail, job);
        }
        flow
    }
}
