//! One workflow's state machine in memory: the same rules as the Redis scripts
//! (`queue-redis/lua/flow_*.lua`), applied under the store's lock.

use std::collections::{HashMap, VecDeque};
use std::time::{Instant, SystemTime};

use queue_core::flow::{
    FlowId, FlowInfo, FlowKind, FlowState, OnFailure, StepInfo, StepOutcome, StepSpec, StepState,
};
use queue_core::{unix_ms, Error, Result};

/// Steps whose outcome is passed on per call of `propagate`.
const CASCADE_PER_CALL: usize = 1000;

#[derive(Debug)]
pub(crate) struct Step {
    pub(crate) spec: StepSpec,
    pub(crate) state: StepState,
    pending: u64,
    /// Dependents: name and policy.
    out: Vec<(String, OnFailure)>,
    /// Prerequisites: name and policy.
    deps: Vec<(String, OnFailure)>,
    ignored: Vec<String>,
    /// The step that added it at run time.
    parent: Option<String>,
    result: Option<bytes::Bytes>,
    error: Option<String>,
    /// The fencing token at or below which a run's end is refused (set when the step is
    /// reopened: runs from before may still report).
    floor: u64,
}

#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) id: FlowId,
    kind: FlowKind,
    pub(crate) state: FlowState,
    created: u64,
    ended: Option<u64>,
    pub(crate) order: Vec<String>,
    pub(crate) steps: HashMap<String, Step>,
    joins: Vec<String>,
    regular_total: u64,
    regular_ended: u64,
    roots: Vec<String>,
    ready: VecDeque<String>,
    handing: HashMap<String, Instant>,
    cascade: VecDeque<String>,
    succeeded: u64,
    failed: u64,
    cancelled: u64,
    skipped: u64,
    bad: Vec<String>,
}

fn invalid(flow: &FlowId, reason: String) -> Error {
    Error::InvalidWorkflow {
        flow: flow.to_string(),
        reason,
    }
}

fn is_bad(state: StepState) -> bool {
    matches!(
        state,
        StepState::Failed | StepState::Cancelled | StepState::Skipped
    )
}

impl Flow {
    pub(crate) fn new(id: FlowId, kind: FlowKind) -> Self {
        Flow {
            id,
            kind,
            state: FlowState::Building,
            created: unix_ms(SystemTime::now()),
            ended: None,
            order: Vec::new(),
            steps: HashMap::new(),
            joins: Vec::new(),
            regular_total: 0,
            regular_ended: 0,
            roots: Vec::new(),
            ready: VecDeque::new(),
            handing: HashMap::new(),
            cascade: VecDeque::new(),
            succeeded: 0,
            failed: 0,
            cancelled: 0,
            skipped: 0,
            bad: Vec::new(),
        }
    }

    /// Checks that steps may be added by `parent` (`None` while building).
    fn check_parent(&self, parent: Option<&str>) -> Result<()> {
        match parent {
            None if self.state != FlowState::Building => {
                return Err(invalid(
                    &self.id,
                    "steps are added to a started workflow only by a running step".into(),
                ))
            }
            Some(p) => {
                let running = self.steps.get(p).is_some_and(|s| !s.state.is_ended());
                if self.state != FlowState::Running || !running {
                    return Err(invalid(
                        &self.id,
                        format!("step `{p}` is not running: it cannot add steps"),
                    ));
                }
            }
            None => {}
        }
        Ok(())
    }

    /// Checks the steps of a call of `add_steps` before anything changes.
    fn check_add(&self, specs: &[StepSpec]) -> Result<()> {
        let mut new: Vec<&str> = Vec::with_capacity(specs.len());
        for spec in specs {
            if self.steps.contains_key(&spec.name) || new.contains(&spec.name.as_str()) {
                return Err(invalid(&self.id, format!("step `{}` exists", spec.name)));
            }
            for dep in &spec.after {
                let known = self.steps.contains_key(&dep.step) || new.contains(&dep.step.as_str());
                if !known {
                    return Err(invalid(
                        &self.id,
                        format!(
                            "step `{}` depends on `{}`, which is not a step of the workflow",
                            spec.name, dep.step
                        ),
                    ));
                }
                if self.joins.contains(&dep.step) {
                    return Err(invalid(
                        &self.id,
                        format!("step `{}` depends on join step `{}`", spec.name, dep.step),
                    ));
                }
            }
            new.push(&spec.name);
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, parent: Option<&str>, specs: &[StepSpec]) -> Result<()> {
        self.check_parent(parent)?;
        // A step that runs again adds the same children again: a call whose steps were all
        // added by the same parent was made before.
        if parent.is_some() && !specs.is_empty() {
            let again = specs.iter().all(|spec| {
                self.steps
                    .get(&spec.name)
                    .is_some_and(|s| s.parent.as_deref() == parent)
            });
            if again {
                return Ok(());
            }
        }
        self.check_add(specs)?;
        let fan_in: Vec<String> = parent
            .and_then(|p| self.steps.get(p))
            .map(|p| p.out.iter().map(|(d, _)| d.clone()).collect())
            .unwrap_or_default();
        for spec in specs {
            let name = spec.name.clone();
            let mut step = Step {
                spec: spec.clone(),
                state: StepState::Waiting,
                pending: 0,
                out: Vec::new(),
                deps: Vec::new(),
                ignored: Vec::new(),
                parent: parent.map(str::to_string),
                result: None,
                error: None,
                floor: 0,
            };
            let mut skip = None;
            if let Some(policy) = spec.after_all {
                step.pending = self.regular_total - self.regular_ended;
                if policy == OnFailure::Fail {
                    if let Some(bad) = self.bad_regular() {
                        skip = Some(format!("prerequisite `{bad}` did not succeed"));
                    }
                }
                self.joins.push(name.clone());
            } else {
                for dep in &spec.after {
                    step.deps.push((dep.step.clone(), dep.on_failure));
                    let prereq = self.steps.get_mut(&dep.step).expect("checked");
                    prereq.out.push((name.clone(), dep.on_failure));
                    match prereq.state {
                        StepState::Succeeded => {}
                        s if is_bad(s) => match dep.on_failure {
                            OnFailure::Fail => {
                                skip.get_or_insert(format!(
                                    "prerequisite `{}` did not succeed",
                                    dep.step
                                ));
                            }
                            OnFailure::Ignore => step.ignored.push(dep.step.clone()),
                            OnFailure::Remove => {}
                        },
                        _ => step.pending += 1,
                    }
                }
                for dependent in &fan_in {
                    if let Some(d) = self.steps.get_mut(dependent) {
                        if d.state == StepState::Waiting {
                            d.pending += 1;
                            step.out.push((dependent.clone(), OnFailure::Fail));
                        }
                    }
                }
                self.regular_total += 1;
                for join in &self.joins {
                    let j = self.steps.get_mut(join).expect("joins are steps");
                    if j.state == StepState::Waiting {
                        j.pending += 1;
                    }
                }
            }
            let pending = step.pending;
            self.order.push(name.clone());
            self.steps.insert(name.clone(), step);
            if let Some(reason) = skip {
                self.finish(&name, StepState::Skipped, Some(reason), None);
            } else if pending == 0 {
                self.make_ready(&name);
            }
        }
        Ok(())
    }

    fn bad_regular(&self) -> Option<&str> {
        self.bad.iter().map(String::as_str).next().or_else(|| {
            self.order
                .iter()
                .find(|n| {
                    self.steps[*n].spec.after_all.is_none()
                        && self.steps[*n].state == StepState::Skipped
                })
                .map(String::as_str)
        })
    }

    fn make_ready(&mut self, name: &str) {
        let step = self.steps.get_mut(name).expect("a step");
        step.state = StepState::Queued;
        if self.state == FlowState::Building {
            self.roots.push(name.to_string());
        } else {
            self.ready.push_back(name.to_string());
        }
    }

    /// Ends step `name` in `state` and queues its outcome to be passed on.
    fn finish(
        &mut self,
        name: &str,
        state: StepState,
        error: Option<String>,
        result: Option<bytes::Bytes>,
    ) {
        let step = self.steps.get_mut(name).expect("a step");
        step.state = state;
        step.error = error;
        step.result = result;
        let regular = step.spec.after_all.is_none();
        match state {
            StepState::Succeeded => self.succeeded += 1,
            StepState::Failed => self.failed += 1,
            StepState::Cancelled => self.cancelled += 1,
            _ => self.skipped += 1,
        }
        if matches!(state, StepState::Failed | StepState::Cancelled) {
            self.bad.push(name.to_string());
        }
        if regular {
            self.regular_ended += 1;
        }
        self.handing.remove(name);
        self.cascade.push_back(name.to_string());
        self.check_end();
    }

    fn check_end(&mut self) {
        let ended = self.succeeded + self.failed + self.cancelled + self.skipped;
        if self.state == FlowState::Running && ended == self.order.len() as u64 {
            let clean = self.failed + self.cancelled + self.skipped == 0;
            self.state = if clean {
                FlowState::Succeeded
            } else {
                FlowState::Failed
            };
            self.ended = Some(unix_ms(SystemTime::now()));
        }
    }

    /// Passes on up to [`CASCADE_PER_CALL`] outcomes; true when more remain.
    pub(crate) fn propagate(&mut self) -> bool {
        for _ in 0..CASCADE_PER_CALL {
            let Some(name) = self.cascade.pop_front() else {
                return false;
            };
            let step = &self.steps[&name];
            let state = step.state;
            let mut targets = step.out.clone();
            if step.spec.after_all.is_none() {
                for join in &self.joins {
                    let policy = self.steps[join].spec.after_all.expect("a join step");
                    targets.push((join.clone(), policy));
                }
            }
            for (dependent, policy) in targets {
                self.apply(&dependent, policy, &name, state);
            }
        }
        !self.cascade.is_empty()
    }

    /// Passes prerequisite `prereq`'s end (in `state`) to a waiting dependent.
    fn apply(&mut self, dependent: &str, policy: OnFailure, prereq: &str, state: StepState) {
        let Some(d) = self.steps.get_mut(dependent) else {
            return;
        };
        if d.state != StepState::Waiting {
            return;
        }
        if is_bad(state) {
            match policy {
                OnFailure::Fail => {
                    let reason = format!("prerequisite `{prereq}` did not succeed");
                    self.finish(dependent, StepState::Skipped, Some(reason), None);
                    return;
                }
                OnFailure::Ignore if d.spec.after_all.is_none() => {
                    d.ignored.push(prereq.to_string())
                }
                _ => {}
            }
        }
        d.pending = d.pending.saturating_sub(1);
        if d.pending == 0 {
            self.make_ready(dependent);
        }
    }

    pub(crate) fn start(&mut self) {
        if self.state != FlowState::Building {
            return;
        }
        self.state = FlowState::Running;
        self.ready.extend(self.roots.drain(..));
        self.check_end();
    }

    pub(crate) fn take_ready(&mut self, max: usize) -> Vec<queue_core::NewJob> {
        let mut jobs = Vec::new();
        if self.state == FlowState::Building {
            return jobs;
        }
        while jobs.len() < max {
            let Some(name) = self.ready.pop_front() else {
                break;
            };
            let Some(step) = self.steps.get(&name) else {
                continue;
            };
            if step.state != StepState::Queued {
                continue;
            }
            jobs.push(step.spec.new_job(&self.id));
            self.handing.insert(name, Instant::now());
        }
        jobs
    }

    pub(crate) fn handed(&mut self, names: &[String]) {
        for name in names {
            self.handing.remove(name);
        }
    }

    pub(crate) fn reclaim(&mut self, older_than: std::time::Duration) -> usize {
        let stale: Vec<String> = self
            .handing
            .iter()
            .filter(|(_, at)| at.elapsed() >= older_than)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &stale {
            self.handing.remove(name);
            if self
                .steps
                .get(name)
                .is_some_and(|s| s.state == StepState::Queued)
            {
                self.ready.push_front(name.clone());
            }
        }
        stale.len()
    }

    /// Records a step's outcome; false when it had ended already (or is unknown).
    /// Records how step `name` ended, by a run of fencing token `token` (`None`: not a run's
    /// report); false when it had ended already, or the run is from before the step was
    /// reopened (its token is at or below the step's floor).
    pub(crate) fn end(&mut self, name: &str, outcome: StepOutcome, token: Option<u64>) -> bool {
        let Some(step) = self.steps.get(name) else {
            return false;
        };
        if step.state.is_ended() || token.is_some_and(|token| token <= step.floor) {
            return false;
        }
        match outcome {
            StepOutcome::Succeeded(result) => self.finish(name, StepState::Succeeded, None, result),
            StepOutcome::Failed(error) => self.finish(name, StepState::Failed, Some(error), None),
            StepOutcome::Cancelled(error) => {
                self.finish(name, StepState::Cancelled, Some(error), None)
            }
            _ => self.finish(name, StepState::Failed, Some("ended".into()), None),
        }
        true
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.ready.is_empty() || !self.cascade.is_empty()
    }

    pub(crate) fn info(&self) -> FlowInfo {
        let mut info = FlowInfo::new(self.id.clone(), self.kind, self.state, self.created);
        info.total = self.order.len() as u64;
        info.succeeded = self.succeeded;
        info.failed = self.failed;
        info.cancelled = self.cancelled;
        info.skipped = self.skipped;
        info.ended_ms = self.ended;
        info.failed_steps = self.bad.clone();
        info
    }

    pub(crate) fn step_info(&self, name: &str) -> Option<StepInfo> {
        let step = self.steps.get(name)?;
        let mut info = StepInfo::new(&self.id, name, &step.spec.queue, &step.spec.job, step.state);
        info.error = step.error.clone();
        info.result = step.result.clone();
        info.failed_prerequisites = step.ignored.clone();
        Some(info)
    }

    pub(crate) fn result(&self, name: &str) -> Option<bytes::Bytes> {
        self.steps.get(name)?.result.clone()
    }

    /// Reopens the failed, cancelled and skipped steps (see `Workflows::reopen`).
    /// Reopens the failed, cancelled and skipped steps (see
    /// [`Workflows::reopen`](queue_core::Workflows::reopen)), setting the `floors` given.
    pub(crate) fn reopen(&mut self, floors: &[(String, u64)]) -> usize {
        for (name, floor) in floors {
            if let Some(step) = self.steps.get_mut(name).filter(|s| is_bad(s.state)) {
                step.floor = step.floor.max(*floor);
            }
        }
        let reopened: Vec<String> = self
            .order
            .iter()
            .filter(|n| is_bad(self.steps[*n].state))
            .cloned()
            .collect();
        for name in &reopened {
            let step = self.steps.get_mut(name).expect("a step");
            match step.state {
                StepState::Failed => self.failed -= 1,
                StepState::Cancelled => self.cancelled -= 1,
                _ => self.skipped -= 1,
            }
            step.state = StepState::Waiting;
            step.error = None;
            step.ignored.clear();
            if step.spec.after_all.is_none() {
                self.regular_ended -= 1;
            }
        }
        self.bad.clear();
        // Waiting dependents that counted a reopened step as ended count it again.
        for name in &reopened {
            let out = self.steps[name].out.clone();
            for (dependent, policy) in out {
                if reopened.contains(&dependent) || policy == OnFailure::Fail {
                    continue;
                }
                let d = self.steps.get_mut(&dependent).expect("a step");
                if d.state == StepState::Waiting {
                    d.pending += 1;
                    d.ignored.retain(|n| n != name);
                }
            }
        }
        let open = self.regular_total - self.regular_ended;
        for join in self.joins.clone() {
            let j = self.steps.get_mut(&join).expect("a step");
            if j.state == StepState::Waiting {
                j.pending = open;
            }
        }
        for name in &reopened {
            let step = &self.steps[name];
            let pending = if step.spec.after_all.is_some() {
                open
            } else {
                step.deps
                    .iter()
                    .filter(|(d, _)| self.steps[d].state != StepState::Succeeded)
                    .count() as u64
            };
            self.steps.get_mut(name).expect("a step").pending = pending;
        }
        if !reopened.is_empty() {
            self.state = FlowState::Running;
            self.ended = None;
        }
        for name in &reopened {
            if self.steps[name].pending == 0 {
                self.make_ready(name);
            }
        }
        reopened.len()
    }
}
