//! Conformance cases of workflows and batches ([`Workflows`](crate::Workflows)): steps run in
//! dependency order, a dependent is released by the call that ends its last prerequisite,
//! failure policies, fan-out and fan-in, batch callbacks, retry, deletion and recovery of a
//! half-done hand-over. Steps are driven as a worker does: reserved from their lanes, ended in
//! their workflow, then acked.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::{job, reserve_n, unique_queue};
use crate::driver::Driver;
use crate::flow::pump::{end_step, pump};
use crate::flow::{
    parse_step_id, Batch, Dep, FlowId, FlowState, OnFailure, StepEnd, StepOutcome, StepSpec,
    StepState, Workflow, Workflows,
};
use crate::job::{Lane, ReservedJob};
use crate::queue::Queue;

const LEASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(5);

fn store(driver: &Arc<dyn Driver>) -> &dyn Workflows {
    driver
        .workflows()
        .expect("this case needs the driver's workflows (Driver::capabilities().workflows)")
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "step").expect("valid lane")
}

fn step_job(lane: &Lane, n: u32) -> crate::NewJob {
    job(lane, json!({ "n": n }))
}

/// Reserves the next step job of `lane` and returns it with its step's name.
async fn next(driver: &Arc<dyn Driver>, lane: &Lane) -> (ReservedJob, String) {
    let job = reserve_n(driver, lane, 1, LEASE, LIMIT).await.remove(0);
    let (_, step) = parse_step_id(&job.id).expect("a step's job");
    let step = step.to_string();
    (job, step)
}

/// Ends a reserved step as a worker does: in its workflow first, then in its lane.
async fn finish(driver: &Arc<dyn Driver>, lane: &Lane, job: &ReservedJob, outcome: StepOutcome) {
    end_step(driver, &job.id, outcome).await.expect("end step");
    let acked = driver.ack(lane, &[job.lease()]).await.expect("ack");
    assert_eq!(acked, vec![true]);
}

fn ok(value: serde_json::Value) -> StepOutcome {
    StepOutcome::Succeeded(Some(Bytes::from(value.to_string())))
}

async fn state_of(driver: &Arc<dyn Driver>, flow: &FlowId, step: &str) -> StepState {
    let steps = store(driver).steps(flow, 0, 1000).await.expect("steps");
    steps
        .into_iter()
        .find(|s| s.name == step)
        .unwrap_or_else(|| panic!("no step `{step}`"))
        .state
}

async fn assert_empty(driver: &Arc<dyn Driver>, lane: &Lane) {
    let r = driver.reserve(lane, 10, LEASE).await.expect("reserve");
    let ids: Vec<String> = r.jobs.iter().map(|j| j.id.to_string()).collect();
    assert!(ids.is_empty(), "no step should be ready, found {ids:?}");
}

pub(super) async fn workflow_runs_steps_in_dependency_order(driver: Arc<dyn Driver>) {
    let lane = lane("wf-order");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("fetch", step_job(&lane, 0))
        .step_after("resize-1", &["fetch"], step_job(&lane, 1))
        .step_after("resize-2", &["fetch"], step_job(&lane, 2))
        .step_after("resize-3", &["fetch"], step_job(&lane, 3))
        .step_after(
            "publish",
            &["resize-1", "resize-2", "resize-3"],
            step_job(&lane, 4),
        );
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.workflow(&id).await.unwrap().expect("stored");
    assert_eq!(
        (info.state, info.total, info.unresolved()),
        (FlowState::Running, 5, 5)
    );

    let (fetch, name) = next(&driver, &lane).await;
    assert_eq!(name, "fetch");
    assert_empty(&driver, &lane).await;
    finish(&driver, &lane, &fetch, ok(json!({"image": "cat.png"}))).await;
    let mut resized = Vec::new();
    for _ in 0..3 {
        resized.push(next(&driver, &lane).await);
    }
    let mut names: Vec<&str> = resized.iter().map(|(_, n)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["resize-1", "resize-2", "resize-3"]);
    let fetched = store(&driver).step_result(&id, "fetch").await.unwrap();
    assert_eq!(
        fetched.as_deref(),
        Some(br#"{"image":"cat.png"}"#.as_slice())
    );
    for (i, (job, _)) in resized.iter().enumerate() {
        finish(&driver, &lane, job, ok(json!(i))).await;
        if i < 2 {
            assert_empty(&driver, &lane).await;
        }
    }
    let (publish, name) = next(&driver, &lane).await;
    assert_eq!(name, "publish");
    finish(&driver, &lane, &publish, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().expect("stored");
    assert_eq!(info.state, FlowState::Succeeded);
    assert_eq!((info.succeeded, info.unresolved()), (5, 0));
    assert!(info.ended_ms.is_some());
    assert_eq!(info.progress(), 1.0);
}

/// `queued_steps` is true only for a step released to its lane and not ended: not for a step
/// waiting for prerequisites, one that ended, an unknown step, or any step of a workflow that
/// does not exist.
pub(super) async fn queued_steps_are_released_and_not_ended(driver: Arc<dyn Driver>) {
    let lane = lane("wf-queued");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("first", step_job(&lane, 0))
        .step_after("second", &["first"], step_job(&lane, 1));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let names = ["first", "second", "nope"];
    let read = |flow: FlowId| {
        let driver = driver.clone();
        async move { store(&driver).queued_steps(&flow, &names).await.unwrap() }
    };
    assert_eq!(read(id.clone()).await, [true, false, false]);
    let (first, _) = next(&driver, &lane).await;
    assert_eq!(read(id.clone()).await, [true, false, false], "running");
    finish(&driver, &lane, &first, StepOutcome::Succeeded(None)).await;
    assert_eq!(read(id.clone()).await, [false, true, false]);
    assert_eq!(read(FlowId::generate()).await, [false, false, false]);
    assert!(store(&driver)
        .queued_steps(&id, &[])
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn workflow_releases_dependent_in_the_ending_step(driver: Arc<dyn Driver>) {
    let lane = lane("wf-release");
    let queue = Queue::new(driver.clone());
    let flow =
        Workflow::new()
            .step("a", step_job(&lane, 0))
            .step_after("b", &["a"], step_job(&lane, 1));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (a, _) = next(&driver, &lane).await;
    // The call that ends `a` makes `b` ready: no propagation round is needed to find it.
    let ended = store(&driver)
        .end_step(&id, "a", ok(json!(1)))
        .await
        .unwrap();
    assert!(ended.changed && ended.more);
    assert_eq!(state_of(&driver, &id, "b").await, StepState::Queued);
    let taken = store(&driver).take_ready(&id, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].spec().id, Some(&id.step_job_id("b")));
    // A second report of the same end changes nothing.
    let again = store(&driver)
        .end_step(&id, "a", ok(json!(2)))
        .await
        .unwrap();
    assert!(!again.changed);
    let kept = store(&driver).step_result(&id, "a").await.unwrap();
    assert_eq!(kept.as_deref(), Some(b"1".as_slice()));
    driver.ack(&lane, &[a.lease()]).await.unwrap();
}

pub(super) async fn workflow_building_runs_nothing_until_started(driver: Arc<dyn Driver>) {
    let lane = lane("wf-building");
    let id = FlowId::generate();
    let s = store(&driver);
    assert!(s
        .create_flow(&id, crate::flow::FlowKind::Workflow)
        .await
        .unwrap());
    assert!(
        !s.create_flow(&id, crate::flow::FlowKind::Workflow)
            .await
            .unwrap(),
        "id in use"
    );
    let spec = |name: &str, after: &[&str]| StepSpec {
        name: name.into(),
        queue: lane.queue().into(),
        job: lane.job().into(),
        payload: Bytes::from_static(b"{}"),
        priority: 0,
        attempts: 1,
        after: after.iter().map(|a| Dep::on(a)).collect(),
        after_all: None,
    };
    s.add_steps(&id, None, &[spec("a", &[])]).await.unwrap();
    assert!(s.take_ready(&id, 10).await.unwrap().is_empty(), "building");
    // Bad input stores nothing of its call.
    let bad = s
        .add_steps(&id, None, &[spec("b", &["a"]), spec("c", &["nope"])])
        .await;
    assert!(
        matches!(bad, Err(crate::Error::InvalidWorkflow { .. })),
        "{bad:?}"
    );
    let dup = s.add_steps(&id, None, &[spec("a", &[])]).await;
    assert!(
        matches!(dup, Err(crate::Error::InvalidWorkflow { .. })),
        "{dup:?}"
    );
    assert_eq!(s.steps(&id, 0, 10).await.unwrap().len(), 1);
    s.add_steps(&id, None, &[spec("b", &["a"])]).await.unwrap();
    s.start_flow(&id).await.unwrap();
    s.start_flow(&id).await.unwrap();
    let taken = s.take_ready(&id, 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    // A hand-over left unfinished is given back by a reclaim, and handed again.
    assert!(s.take_ready(&id, 10).await.unwrap().is_empty());
    assert_eq!(s.reclaim(&id, Duration::ZERO).await.unwrap(), (1, true));
    let again = s.take_ready(&id, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    s.handed(&id, &["a".to_string()]).await.unwrap();
    assert_eq!(s.reclaim(&id, Duration::ZERO).await.unwrap(), (0, false));
    assert!(s.live_flows(100_000).await.unwrap().contains(&id));
    // The hand-over stores the job under its fixed id once, however often it is repeated.
    let queue = Queue::new(driver.clone());
    let stored = driver.enqueue(again).await.unwrap();
    assert!(stored[0].created);
    let twice = driver
        .enqueue(vec![spec("a", &[]).new_job(&id)])
        .await
        .unwrap();
    assert!(!twice[0].created);
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Running);
}

pub(super) async fn depend_failure_skips_dependents_by_default(driver: Arc<dyn Driver>) {
    let lane = lane("dep-fail");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("a", step_job(&lane, 0))
        .step("side", step_job(&lane, 1))
        .step_after("b", &["a"], step_job(&lane, 2))
        .step_after("c", &["b", "side"], step_job(&lane, 3));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (first, name) = next(&driver, &lane).await;
    assert_eq!(name, "a");
    finish(&driver, &lane, &first, StepOutcome::Failed("boom".into())).await;
    // `b` and `c` are skipped at once: nothing waits on a failed step.
    assert_eq!(state_of(&driver, &id, "b").await, StepState::Skipped);
    assert_eq!(state_of(&driver, &id, "c").await, StepState::Skipped);
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Running, "`side` still runs");
    let (side, name) = next(&driver, &lane).await;
    assert_eq!(name, "side");
    finish(&driver, &lane, &side, StepOutcome::Succeeded(None)).await;
    assert_empty(&driver, &lane).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Failed);
    assert_eq!((info.failed, info.skipped, info.succeeded), (1, 2, 1));
    assert_eq!(info.failed_steps, vec!["a".to_string()]);
    let steps = queue.workflow_steps(&id, 0, 10).await.unwrap();
    let a = steps.iter().find(|s| s.name == "a").unwrap();
    assert_eq!(a.error.as_deref(), Some("boom"));
    let b = steps.iter().find(|s| s.name == "b").unwrap();
    assert!(b.error.as_deref().unwrap_or("").contains("`a`"), "{b:?}");
}

pub(super) async fn depend_ignore_failure_runs_the_dependent(driver: Arc<dyn Driver>) {
    for policy in [OnFailure::Ignore, OnFailure::Remove] {
        let lane = lane("dep-ignore");
        let queue = Queue::new(driver.clone());
        let dep = match policy {
            OnFailure::Ignore => Dep::on("a").ignore_failure(),
            _ => Dep::on("a").remove_on_failure(),
        };
        let flow = Workflow::new()
            .step("a", step_job(&lane, 0))
            .step("ok", step_job(&lane, 1))
            .step_with("b", [dep, Dep::on("ok")], step_job(&lane, 2));
        let id = queue.dispatch_workflow(flow).await.expect("dispatch");
        let (a, _) = next(&driver, &lane).await;
        let (good, _) = next(&driver, &lane).await;
        finish(&driver, &lane, &a, StepOutcome::Failed("boom".into())).await;
        assert_eq!(
            state_of(&driver, &id, "b").await,
            StepState::Waiting,
            "waits for `ok`"
        );
        finish(&driver, &lane, &good, ok(json!("fine"))).await;
        let (b, name) = next(&driver, &lane).await;
        assert_eq!(name, "b");
        let steps = queue.workflow_steps(&id, 0, 10).await.unwrap();
        let info = steps.iter().find(|s| s.name == "b").unwrap();
        let expected: Vec<String> = match policy {
            OnFailure::Ignore => vec!["a".into()],
            _ => Vec::new(),
        };
        assert_eq!(info.failed_prerequisites, expected, "{policy:?}");
        assert!(store(&driver)
            .step_result(&id, "a")
            .await
            .unwrap()
            .is_none());
        finish(&driver, &lane, &b, StepOutcome::Succeeded(None)).await;
        let info = queue.workflow(&id).await.unwrap().unwrap();
        assert_eq!(
            (info.state, info.succeeded, info.failed),
            (FlowState::Failed, 2, 1)
        );
    }
}

pub(super) async fn depend_cancelled_prerequisite_counts_as_failed(driver: Arc<dyn Driver>) {
    let lane = lane("dep-cancel");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("a", step_job(&lane, 0))
        .step_after("b", &["a"], step_job(&lane, 1))
        .step_with("c", [Dep::on("a").ignore_failure()], step_job(&lane, 2));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (a, _) = next(&driver, &lane).await;
    end_step(&driver, &a.id, StepOutcome::Cancelled("cancelled".into()))
        .await
        .unwrap();
    assert_eq!(state_of(&driver, &id, "a").await, StepState::Cancelled);
    assert_eq!(state_of(&driver, &id, "b").await, StepState::Skipped);
    let (c, name) = next(&driver, &lane).await;
    assert_eq!(name, "c");
    finish(&driver, &lane, &c, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.cancelled, info.skipped, info.state),
        (1, 1, FlowState::Failed)
    );
    assert_eq!(info.failed_steps, vec!["a".to_string()]);
}

pub(super) async fn workflow_fan_out_joins_children_into_dependents(driver: Arc<dyn Driver>) {
    let lane = lane("wf-fan");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("split", step_job(&lane, 0))
        .step_after("merge", &["split"], step_job(&lane, 1))
        .step_after_all("done", OnFailure::Ignore, step_job(&lane, 2));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (split, _) = next(&driver, &lane).await;
    let children: Vec<StepSpec> = (0..3)
        .map(|i| StepSpec {
            name: format!("part-{i}"),
            queue: lane.queue().into(),
            job: lane.job().into(),
            payload: Bytes::from(json!({ "part": i }).to_string()),
            priority: 0,
            attempts: 1,
            after: Vec::new(),
            after_all: None,
        })
        .collect();
    store(&driver)
        .add_steps(&id, Some("split"), &children)
        .await
        .unwrap();
    // Added again by a second run of the same step: nothing changes.
    store(&driver)
        .add_steps(&id, Some("split"), &children)
        .await
        .unwrap();
    let clash = store(&driver)
        .add_steps(&id, Some("merge"), &children[..1])
        .await;
    assert!(clash.is_err(), "another step cannot add a name in use");
    pump(&driver, &id).await.unwrap();
    finish(&driver, &lane, &split, StepOutcome::Succeeded(None)).await;
    let mut parts = Vec::new();
    for _ in 0..3 {
        parts.push(next(&driver, &lane).await);
    }
    assert!(parts.iter().all(|(_, n)| n.starts_with("part-")));
    for (i, (job, _)) in parts.iter().enumerate() {
        assert_eq!(
            state_of(&driver, &id, "merge").await,
            StepState::Waiting,
            "fan-in waits"
        );
        finish(&driver, &lane, job, ok(json!(i))).await;
    }
    let (merge, name) = next(&driver, &lane).await;
    assert_eq!(name, "merge");
    assert_eq!(
        state_of(&driver, &id, "done").await,
        StepState::Waiting,
        "join waits for merge"
    );
    finish(&driver, &lane, &merge, StepOutcome::Succeeded(None)).await;
    let (done, name) = next(&driver, &lane).await;
    assert_eq!(name, "done");
    finish(&driver, &lane, &done, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.state, info.total, info.succeeded),
        (FlowState::Succeeded, 6, 6)
    );
    // A step that ended cannot add steps.
    let late = store(&driver)
        .add_steps(&id, Some("split"), &children[..1])
        .await;
    assert!(
        matches!(late, Err(crate::Error::InvalidWorkflow { .. })),
        "{late:?}"
    );
}

pub(super) async fn batch_callback_on_complete_runs_and_on_success_is_skipped(
    driver: Arc<dyn Driver>,
) {
    let lane = lane("batch-fail");
    let cb = Lane::new(lane.queue(), "callback").unwrap();
    let queue = Queue::new(driver.clone());
    let batch = Batch::new()
        .jobs((0..3).map(|i| step_job(&lane, i)))
        .on_complete(step_job(&cb, 10))
        .on_success(step_job(&cb, 11));
    let id = queue.dispatch_batch(batch).await.expect("dispatch");
    for i in 0..3 {
        let (job, _) = next(&driver, &lane).await;
        let outcome = if i == 1 {
            StepOutcome::Failed("bad row".into())
        } else {
            StepOutcome::Succeeded(None)
        };
        if i < 2 {
            assert_empty(&driver, &cb).await;
        }
        finish(&driver, &lane, &job, outcome).await;
    }
    let (complete, name) = next(&driver, &cb).await;
    assert_eq!(name, "on_complete");
    assert_empty(&driver, &cb).await;
    assert_eq!(
        state_of(&driver, &id, "on_success").await,
        StepState::Skipped
    );
    let info = store(&driver).flow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.kind, info.succeeded, info.failed),
        (crate::flow::FlowKind::Batch, 2, 1)
    );
    assert_eq!(info.failed_steps, vec!["job-1".to_string()]);
    finish(&driver, &cb, &complete, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Failed);
    // Retrying the failed job: it succeeds, and on_success runs.
    assert_eq!(queue.retry_workflow(&id).await.unwrap(), 2);
    let (again, name) = next(&driver, &lane).await;
    assert_eq!(name, "job-1");
    assert_eq!(again.attempt, 1, "a fresh job");
    finish(&driver, &lane, &again, StepOutcome::Succeeded(None)).await;
    let (success, name) = next(&driver, &cb).await;
    assert_eq!(name, "on_success");
    finish(&driver, &cb, &success, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!((info.state, info.succeeded), (FlowState::Succeeded, 5));
}

/// A step cancelled while it ran, then retried with its workflow: the cancelled run may still
/// report its end (its worker learns of the cancel at its next renewal) and that end is
/// refused, by its lease's token, so the step's new run decides it, and its dependent waits
/// for that run. The new run is handed out once the cancelled run's lease would have ended.
pub(super) async fn a_reopened_steps_earlier_run_cannot_end_it(driver: Arc<dyn Driver>) {
    let lane = lane("wf-reopen-stale");
    let queue = Queue::new(driver.clone());
    let workflow =
        Workflow::new()
            .step("a", step_job(&lane, 0))
            .step_after("b", &["a"], step_job(&lane, 1));
    let id = queue.dispatch_workflow(workflow).await.expect("dispatch");
    let short = Duration::from_millis(500);
    let old = reserve_n(&driver, &lane, 1, short, LIMIT).await.remove(0);
    assert_eq!(
        queue.cancel(lane.queue(), &old.id).await.unwrap(),
        crate::CancelOutcome::Stopped
    );
    assert!(queue.retry_workflow(&id).await.unwrap() >= 1);
    let late = StepEnd::new("a", ok(json!("old")), Some(old.token));
    let (changed, _) = store(&driver).end_steps(&id, &[late]).await.unwrap();
    assert_eq!(changed, [false], "the cancelled run's end is refused");
    assert_ne!(state_of(&driver, &id, "a").await, StepState::Succeeded);
    assert_eq!(state_of(&driver, &id, "b").await, StepState::Waiting);

    let (new, step) = next(&driver, &lane).await;
    assert_eq!(step, "a");
    assert!(new.token > old.token);
    let end = StepEnd::new("a", ok(json!("new")), Some(new.token));
    let (changed, _) = store(&driver).end_steps(&id, &[end]).await.unwrap();
    assert_eq!(changed, [true], "the new run's end is recorded");
    assert!(driver.ack(&lane, &[new.lease()]).await.unwrap()[0]);
    pump(&driver, &id).await.unwrap();
    let (b, step) = next(&driver, &lane).await;
    assert_eq!(step, "b");
    finish(&driver, &lane, &b, StepOutcome::Succeeded(None)).await;
    let result = store(&driver).step_result(&id, "a").await.unwrap();
    assert_eq!(result, Some(Bytes::from(json!("new").to_string())));
}

pub(super) async fn batch_callback_on_success_runs_when_all_succeed(driver: Arc<dyn Driver>) {
    let lane = lane("batch-ok");
    let cb = Lane::new(lane.queue(), "callback").unwrap();
    let queue = Queue::new(driver.clone());
    let batch = Batch::new()
        .jobs((0..5).map(|i| step_job(&lane, i)))
        .on_complete(step_job(&cb, 10))
        .on_success(step_job(&cb, 11));
    let id = queue.dispatch_batch(batch).await.expect("dispatch");
    for _ in 0..5 {
        let (job, _) = next(&driver, &lane).await;
        finish(&driver, &lane, &job, StepOutcome::Succeeded(None)).await;
    }
    let callbacks = reserve_n(&driver, &cb, 2, LEASE, LIMIT).await;
    let mut names: Vec<String> = callbacks
        .iter()
        .map(|j| parse_step_id(&j.id).unwrap().1.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["on_complete", "on_success"]);
    for job in &callbacks {
        finish(&driver, &cb, job, StepOutcome::Succeeded(None)).await;
    }
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.state, info.total, info.succeeded),
        (FlowState::Succeeded, 7, 7)
    );
    assert!(info.failed_steps.is_empty());
}

pub(super) async fn workflow_retry_releases_dependents_of_a_retried_step(driver: Arc<dyn Driver>) {
    let lane = lane("wf-retry");
    let queue = Queue::new(driver.clone());
    let flow =
        Workflow::new()
            .step("a", step_job(&lane, 0))
            .step_after("b", &["a"], step_job(&lane, 1));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (a, _) = next(&driver, &lane).await;
    end_step(&driver, &a.id, StepOutcome::Failed("boom".into()))
        .await
        .unwrap();
    let failure = crate::job::Failure::fail("boom");
    assert!(driver.fail(&lane, &a.lease(), failure).await.unwrap());
    assert_eq!(
        queue.workflow(&id).await.unwrap().unwrap().state,
        FlowState::Failed
    );
    assert_eq!(queue.retry_workflow(&id).await.unwrap(), 2);
    assert_eq!(
        queue.workflow(&id).await.unwrap().unwrap().state,
        FlowState::Running
    );
    let (a, name) = next(&driver, &lane).await;
    assert_eq!(name, "a");
    finish(&driver, &lane, &a, StepOutcome::Succeeded(None)).await;
    let (b, name) = next(&driver, &lane).await;
    assert_eq!(name, "b");
    finish(&driver, &lane, &b, StepOutcome::Succeeded(None)).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.state, info.failed, info.skipped),
        (FlowState::Succeeded, 0, 0)
    );
}

pub(super) async fn workflow_delete_removes_steps_and_their_jobs(driver: Arc<dyn Driver>) {
    let lane = lane("wf-delete");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("a", step_job(&lane, 0))
        .step("b", step_job(&lane, 1))
        .step_after("c", &["a"], step_job(&lane, 2));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (a, _) = next(&driver, &lane).await;
    assert!(queue.delete_workflow(&id).await.unwrap());
    assert!(queue.workflow(&id).await.unwrap().is_none());
    assert!(!queue.delete_workflow(&id).await.unwrap());
    assert_empty(&driver, &lane).await;
    // The running step's lease is gone, and its late report changes nothing.
    assert_eq!(
        driver.renew(&lane, &[a.lease()], LEASE).await.unwrap(),
        vec![false]
    );
    end_step(&driver, &a.id, StepOutcome::Succeeded(None))
        .await
        .unwrap();
    assert!(queue.workflow(&id).await.unwrap().is_none());
}

pub(super) async fn workflow_rejects_bad_input_storing_nothing(driver: Arc<dyn Driver>) {
    let lane = lane("wf-bad");
    let queue = Queue::new(driver.clone());
    let cycle = Workflow::new()
        .step_after("a", &["b"], step_job(&lane, 0))
        .step_after("b", &["a"], step_job(&lane, 1));
    let error = queue.dispatch_workflow(cycle).await.unwrap_err();
    assert!(error.to_string().contains("cycle"), "{error}");
    let unknown = Workflow::new().step_after("a", &["nope"], step_job(&lane, 0));
    let error = queue.dispatch_workflow(unknown).await.unwrap_err();
    assert!(error.to_string().contains("`nope`"), "{error}");
    let twice = Workflow::new()
        .step("a", step_job(&lane, 0))
        .step("a", step_job(&lane, 1));
    let error = queue.dispatch_workflow(twice).await.unwrap_err();
    assert!(error.to_string().contains("twice"), "{error}");
    let chosen = Workflow::new().step("a", step_job(&lane, 0).id("mine"));
    assert!(queue.dispatch_workflow(chosen).await.is_err());
    let bad_id = Workflow::new().id("a/b").step("a", step_job(&lane, 0));
    assert!(queue.dispatch_workflow(bad_id).await.is_err());
    let taken = Workflow::new()
        .id("wf-taken-x")
        .step("a", step_job(&lane, 0));
    let _ = queue
        .delete_workflow(&FlowId::new("wf-taken-x").unwrap())
        .await;
    queue.dispatch_workflow(taken).await.expect("first");
    let again = Workflow::new()
        .id("wf-taken-x")
        .step("a", step_job(&lane, 0));
    assert!(queue.dispatch_workflow(again).await.is_err());
    queue
        .delete_workflow(&FlowId::new("wf-taken-x").unwrap())
        .await
        .unwrap();
    let plain = job(&lane, json!(1)).id("@wf:x/y");
    assert!(
        queue.dispatch(plain).await.is_err(),
        "step ids are kept for steps"
    );
}

pub(super) async fn workflow_recovery_hands_over_what_a_dead_caller_left(driver: Arc<dyn Driver>) {
    let lane = lane("wf-recover");
    let queue = Queue::new(driver.clone());
    let flow = Workflow::new()
        .step("a", step_job(&lane, 0))
        .step_after("b", &["a"], step_job(&lane, 1))
        .step_after("c", &["a"], step_job(&lane, 2));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let (a, _) = next(&driver, &lane).await;
    // A worker records `a`'s end and acks it, then dies before handing `b` and `c` over; and
    // a caller took `b` for its hand-over and died too.
    let ended = store(&driver)
        .end_step(&id, "a", ok(json!(1)))
        .await
        .unwrap();
    assert!(ended.more);
    driver.ack(&lane, &[a.lease()]).await.unwrap();
    assert_eq!(store(&driver).take_ready(&id, 1).await.unwrap().len(), 1);
    assert_empty(&driver, &lane).await;
    // A worker's recovery hands both over, each once (here of this workflow only: other
    // cases' hand-overs in the same storage are theirs).
    let recover = || crate::flow::pump::recover_flow(&driver, &id, Duration::ZERO);
    let reclaimed = recover().await.unwrap();
    assert_eq!(reclaimed, 1);
    let jobs = reserve_n(&driver, &lane, 2, LEASE, LIMIT).await;
    let mut names: Vec<String> = jobs
        .iter()
        .map(|j| parse_step_id(&j.id).unwrap().1.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "c"]);
    recover().await.unwrap();
    assert_empty(&driver, &lane).await;
    for job in &jobs {
        finish(&driver, &lane, job, StepOutcome::Succeeded(None)).await;
    }
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Succeeded);
}
