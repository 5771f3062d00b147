//! Workflows and batches run end to end by a real worker with `#[job]` handlers: results
//! passed along typed, fan-out and fan-in, batch callbacks, failure policies, cancelling a
//! step, retrying a workflow. Shared by the memory tests (`queue-core/tests/worker_workflows.rs`)
//! and the Redis tests (`queue-redis/tests/redis_workflows.rs`), each giving a fresh queue.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use queue_core::flow::{FlowState, StepState};
use queue_core::{job, Batch, Dep, JobContext, JobError, OnFailure, Queue, Workflow};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub bytes: u32,
}

fn fail(error: queue_core::Error) -> JobError {
    JobError::retry(error)
}

#[job(queue = "flows")]
async fn wf_fetch(url: String) -> Result<Image, JobError> {
    Ok(Image { url, bytes: 1000 })
}

#[job(queue = "flows")]
async fn wf_resize(width: u32, ctx: JobContext) -> Result<String, JobError> {
    let image: Image = ctx
        .result_of("fetch")
        .await
        .map_err(fail)?
        .ok_or_else(|| JobError::fatal("no image from `fetch`"))?;
    Ok(format!("{}@{width}", image.url))
}

#[job(queue = "flows")]
async fn wf_publish(count: u32, ctx: JobContext) -> Result<Vec<Option<String>>, JobError> {
    let mut all = Vec::new();
    for i in 1..=count {
        all.push(
            ctx.result_of::<String>(&format!("resize-{i}"))
                .await
                .map_err(fail)?,
        );
    }
    Ok(all)
}

#[job(queue = "flows")]
async fn wf_split(parts: u32, ctx: JobContext) -> Result<(), JobError> {
    let mut children = Workflow::new();
    for i in 0..parts {
        children = children.step(&format!("part-{i}"), wf_part::job(i));
    }
    ctx.add_steps(children).await.map_err(fail)
}

#[job(queue = "flows")]
async fn wf_part(i: u32) -> Result<u32, JobError> {
    Ok(i * 10)
}

#[job(queue = "flows")]
async fn wf_sum(parts: u32, ctx: JobContext) -> Result<u32, JobError> {
    let mut sum = 0;
    for i in 0..parts {
        let part: Option<u32> = ctx.result_of(&format!("part-{i}")).await.map_err(fail)?;
        sum += part.ok_or_else(|| JobError::fatal(format!("part {i} has no result")))?;
    }
    Ok(sum)
}

#[job(queue = "flows", attempts = 1)]
async fn wf_item(n: u32) -> Result<u32, JobError> {
    if n == 3 {
        return Err(JobError::fatal("item 3 is bad"));
    }
    Ok(n)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub succeeded: u64,
    pub failed: u64,
    pub failed_steps: Vec<String>,
    pub failed_prerequisites: Vec<String>,
}

#[job(queue = "flows")]
async fn wf_report(_callback: String, ctx: JobContext) -> Result<Report, JobError> {
    let info = ctx.workflow_info().await.map_err(fail)?;
    Ok(Report {
        succeeded: info.succeeded,
        failed: info.failed,
        failed_steps: info.failed_steps,
        failed_prerequisites: ctx.failed_prerequisites().await.map_err(fail)?,
    })
}

/// Keys that failed once: a step with such a key fails its first run only.
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

#[job(queue = "flows", attempts = 1)]
async fn wf_once_broken(key: String) -> Result<String, JobError> {
    let mut seen = SEEN.lock().unwrap();
    if seen.get_or_insert_with(HashSet::new).insert(key.clone()) {
        return Err(JobError::fatal("broken the first time"));
    }
    Ok(key)
}

#[job(queue = "flows", attempts = 3, backoff = "fixed(10ms)")]
async fn wf_flaky(key: String, ctx: JobContext) -> Result<String, JobError> {
    if ctx.attempt() < 2 {
        return Err(JobError::msg("not yet"));
    }
    Ok(key)
}

#[job(queue = "flows")]
async fn wf_wait(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    ctx.cancelled().await;
    Ok(())
}

/// Runs per key of [`wf_count`].
static RUNS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[job(queue = "flows")]
async fn wf_count(key: String) -> Result<(), JobError> {
    RUNS.lock().unwrap().push(key);
    Ok(())
}

fn runs_of(key: &str) -> usize {
    RUNS.lock().unwrap().iter().filter(|k| *k == key).count()
}

const HANDLERS: [&str; 13] = [
    "wf_count",
    "wf_fetch",
    "wf_resize",
    "wf_publish",
    "wf_split",
    "wf_part",
    "wf_sum",
    "wf_item",
    "wf_report",
    "wf_once_broken",
    "wf_flaky",
    "wf_wait",
    "wf_wait",
];

/// A worker of every handler above, until the token is cancelled.
pub fn start_worker(queue: &Queue) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let mut names: Vec<&str> = HANDLERS.to_vec();
    names.dedup();
    let worker = queue
        .worker()
        .handlers(names)
        .lease(Duration::from_secs(3))
        .run_until(stop.clone().cancelled_owned());
    let handle = tokio::spawn(async move {
        worker.await.expect("worker");
    });
    (stop, handle)
}

fn result<T: serde::de::DeserializeOwned>(steps: &[queue_core::flow::StepInfo], name: &str) -> T {
    let step = steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("step `{name}`"));
    serde_json::from_slice(
        step.result
            .as_deref()
            .unwrap_or_else(|| panic!("`{name}` has no result")),
    )
    .expect("decodes")
}

/// fetch -> resize x3 -> publish, results passed typed; a flaky step retries in its lane while
/// its dependents wait.
pub async fn workflow_pipeline_passes_results(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let flow = Workflow::new()
        .step("fetch", wf_fetch::job("cat.png".to_string()))
        .step_after("resize-1", &["fetch"], wf_resize::job(100))
        .step_after("resize-2", &["fetch"], wf_resize::job(200))
        .step_after("resize-3", &["fetch"], wf_resize::job(300))
        .step_after("flaky", &["fetch"], wf_flaky::job("f".to_string()))
        .step_after(
            "publish",
            &["resize-1", "resize-2", "resize-3", "flaky"],
            wf_publish::job(3),
        );
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(info.state, FlowState::Succeeded, "{info:?}");
    assert_eq!((info.total, info.succeeded, info.unresolved()), (6, 6, 0));
    let steps = queue.workflow_steps(&id, 0, 100).await.unwrap();
    let published: Vec<Option<String>> = result(&steps, "publish");
    let expected: Vec<Option<String>> = ["cat.png@100", "cat.png@200", "cat.png@300"]
        .iter()
        .map(|s| Some(s.to_string()))
        .collect();
    assert_eq!(published, expected);
    let image: Image = result(&steps, "fetch");
    assert_eq!(image.bytes, 1000);
    // Every step's job was acked: nothing is left running or waiting.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let counts = queue.counts("flows").await.unwrap();
        if counts.pending() == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs left: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    worker.await.unwrap();
}

/// A step adds children at run time; the step after it sums all of their results.
pub async fn workflow_fan_out_and_fan_in(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let flow = Workflow::new().step("split", wf_split::job(5)).step_after(
        "sum",
        &["split"],
        wf_sum::job(5),
    );
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(
        (info.state, info.total),
        (FlowState::Succeeded, 7),
        "{info:?}"
    );
    let steps = queue.workflow_steps(&id, 0, 100).await.unwrap();
    let sum: u32 = result(&steps, "sum");
    assert_eq!(sum, 10 + 20 + 30 + 40);
    stop.cancel();
    worker.await.unwrap();
}

/// A batch with a failing job: on_complete runs with the counts and the failed job,
/// on_success is skipped; retrying the workflow is not needed for on_complete.
pub async fn batch_callback_receives_counts_and_failed_ids(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let batch = Batch::new()
        .jobs((0..6).map(wf_item::job))
        .on_complete(wf_report::job("complete".to_string()))
        .on_success(wf_report::job("success".to_string()));
    let id = queue.dispatch_batch(batch).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(info.state, FlowState::Failed);
    assert_eq!(
        (info.succeeded, info.failed, info.skipped),
        (6, 1, 1),
        "{info:?}"
    );
    let steps = queue.workflow_steps(&id, 0, 100).await.unwrap();
    let report: Report = result(&steps, "on_complete");
    assert_eq!(report.succeeded, 5);
    assert_eq!(
        (report.failed, report.failed_steps),
        (1, vec!["job-3".to_string()])
    );
    let on_success = steps.iter().find(|s| s.name == "on_success").unwrap();
    assert_eq!(on_success.state, StepState::Skipped);
    stop.cancel();
    worker.await.unwrap();
}

/// A batch whose jobs all succeed runs both callbacks.
pub async fn batch_callback_on_success_after_all_succeeded(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let batch = Batch::new()
        .jobs([0, 1, 2, 4].map(wf_item::job))
        .on_complete(wf_report::job("complete".to_string()))
        .on_success(wf_report::job("success".to_string()));
    let id = queue.dispatch_batch(batch).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 6),
        "{info:?}"
    );
    let steps = queue.workflow_steps(&id, 0, 100).await.unwrap();
    let report: Report = result(&steps, "on_success");
    assert!(report.failed_steps.is_empty());
    stop.cancel();
    worker.await.unwrap();
}

/// Per-dependency policies with a failing prerequisite: the default skips, `ignore_failure`
/// runs seeing the failure, `remove_on_failure` runs without it.
pub async fn depend_policies_with_a_failed_prerequisite(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let flow = Workflow::new()
        .step("bad", wf_item::job(3))
        .step_after("skipped", &["bad"], wf_report::job("s".into()))
        .step_with(
            "ignoring",
            [Dep::on("bad").ignore_failure()],
            wf_report::job("i".into()),
        )
        .step_with(
            "removing",
            [Dep::on("bad").remove_on_failure()],
            wf_report::job("r".into()),
        )
        .step_after_all("last", OnFailure::Ignore, wf_report::job("l".into()));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(info.state, FlowState::Failed);
    let steps = queue.workflow_steps(&id, 0, 100).await.unwrap();
    let state = |n: &str| steps.iter().find(|s| s.name == n).unwrap().state;
    assert_eq!(state("bad"), StepState::Failed);
    assert_eq!(state("skipped"), StepState::Skipped);
    let ignoring: Report = result(&steps, "ignoring");
    assert_eq!(ignoring.failed_prerequisites, vec!["bad".to_string()]);
    let removing: Report = result(&steps, "removing");
    assert!(removing.failed_prerequisites.is_empty());
    assert_eq!(state("last"), StepState::Succeeded);
    stop.cancel();
    worker.await.unwrap();
}

/// A cancelled running step skips its dependents; deleting a waiting step's job too.
pub async fn depend_cancelled_step_skips_dependents(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let flow = Workflow::new().step("waits", wf_wait::job(1)).step_after(
        "after",
        &["waits"],
        wf_part::job(1),
    );
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let job_id = id.step_job_id("waits");
    // Cancel once it runs.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let job = queue.job("flows", &job_id).await.unwrap();
        if job.is_some_and(|j| j.state == queue_core::JobState::Active) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the step never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    queue.cancel("flows", &job_id).await.unwrap();
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!((info.cancelled, info.skipped), (1, 1), "{info:?}");
    stop.cancel();
    worker.await.unwrap();
}

/// A failed step retried with the workflow succeeds and releases its dependents.
pub async fn workflow_retry_runs_failed_steps_again(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let key = format!("retry-{}", queue_core::flow::FlowId::generate());
    let flow = Workflow::new()
        .step("once", wf_once_broken::job(key.clone()))
        .step_after("then", &["once"], wf_part::job(7));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(
        (info.state, info.failed, info.skipped),
        (FlowState::Failed, 1, 1)
    );
    assert_eq!(queue.retry_workflow(&id).await.unwrap(), 2);
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends again");
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 2),
        "{info:?}"
    );
    let steps = queue.workflow_steps(&id, 0, 10).await.unwrap();
    let then: u32 = result(&steps, "then");
    assert_eq!(then, 70);
    assert!(queue.delete_workflow(&id).await.unwrap());
    assert!(queue.workflow(&id).await.unwrap().is_none());
    stop.cancel();
    worker.await.unwrap();
}

/// A step's job stored again after its step ended (a repeated hand-over whose store came after
/// the first job was acked), and a job of a step whose workflow does not exist (deleted while
/// a hand-over was under way), are not run: the worker acks them unrun.
pub async fn a_step_job_stored_after_its_step_ended_is_not_run(queue: Queue) {
    let (stop, worker) = start_worker(&queue);
    let key = format!("again-{}", queue_core::flow::FlowId::generate());
    let flow = Workflow::new().step("only", wf_count::job(key.clone()));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let info = queue.wait_workflow(&id, LIMIT).await.expect("ends");
    assert_eq!(info.state, FlowState::Succeeded, "{info:?}");
    assert_eq!(runs_of(&key), 1);
    // Stored through the driver, as the hand-over stores step jobs (a dispatch refuses ids
    // kept for steps).
    let again = queue
        .driver()
        .enqueue(vec![wf_count::job(key.clone()).id(id.step_job_id("only"))])
        .await
        .expect("stored again")
        .remove(0);
    assert!(again.created, "the first job was acked: the id is free");
    let orphan_key = format!("{key}-orphan");
    let gone = queue_core::flow::FlowId::generate().step_job_id("only");
    let orphan = queue
        .driver()
        .enqueue(vec![wf_count::job(orphan_key.clone()).id(gone)])
        .await
        .expect("stored")
        .remove(0);
    // A plain job after them, to know the worker reached them.
    let plain_key = format!("{key}-plain");
    let plain = wf_count::dispatch(&queue, plain_key.clone())
        .await
        .expect("stored");
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let left = [&again.id, &orphan.id, &plain.id];
        let mut any = false;
        for id in left {
            any |= queue.job("flows", id).await.unwrap().is_some();
        }
        if !any {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "jobs left");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(runs_of(&plain_key), 1, "the plain job ran");
    assert_eq!(runs_of(&key), 1, "the stored-again step job did not run");
    assert_eq!(runs_of(&orphan_key), 0, "the orphan step job did not run");
    stop.cancel();
    worker.await.unwrap();
}
