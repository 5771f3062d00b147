//! Workflows on a real Redis Cluster: a workflow's keys share one hash tag of their own, its
//! steps' jobs live in lanes on other primaries, and it runs to the end with its results passed
//! along; a batch's callbacks too.

#[path = "support/cluster.rs"]
mod cluster;
#[path = "../../queue-core/tests/shared/workflow_scenarios.rs"]
mod scenarios;
mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cluster::RedisCluster;
use queue_core::flow::FlowState;
use queue_core::{job, JobContext, JobError, Queue, Workflow};
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

#[job(queue = "alpha")]
async fn cl_first(n: u32) -> Result<u32, JobError> {
    Ok(n + 1)
}

#[job(queue = "bravo")]
async fn cl_double(_n: u32, ctx: JobContext) -> Result<u32, JobError> {
    let first: u32 = ctx
        .result_of("first")
        .await
        .map_err(JobError::retry)?
        .ok_or_else(|| JobError::fatal("no result from `first`"))?;
    Ok(first * 2)
}

#[job(queue = "echo")]
async fn cl_sum(_n: u32, ctx: JobContext) -> Result<u32, JobError> {
    let mut sum = 0;
    for step in ["double-1", "double-2"] {
        let value: Option<u32> = ctx.result_of(step).await.map_err(JobError::retry)?;
        sum += value.ok_or_else(|| JobError::fatal(format!("no result from `{step}`")))?;
    }
    Ok(sum)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_runs_across_cluster_slots() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let lanes: HashSet<u16> = ["alpha", "bravo", "echo"]
        .iter()
        .map(|q| cluster.port_of(&format!("{{queue:{q}}}")))
        .collect();
    assert!(
        lanes.len() >= 2,
        "the test's queues should live on several primaries"
    );
    let driver = RedisDriver::connect(&cluster.url()).await.expect("connect");
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["cl_first", "cl_double", "cl_sum"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let flow = Workflow::new()
        .id("cluster-flow")
        .step("first", cl_first::job(20))
        .step_after("double-1", &["first"], cl_double::job(0))
        .step_after("double-2", &["first"], cl_double::job(0))
        .step_after("sum", &["double-1", "double-2"], cl_sum::job(0));
    let id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let flow_port = cluster.port_of("{queue#flow:cluster-flow}");
    assert!(cluster.primary_ports().contains(&flow_port));
    let info = queue
        .wait_workflow(&id, Duration::from_secs(30))
        .await
        .expect("ends");
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 4),
        "{info:?}"
    );
    let steps = queue.workflow_steps(&id, 0, 10).await.unwrap();
    let sum = steps.iter().find(|s| s.name == "sum").unwrap();
    assert_eq!(sum.result.as_deref(), Some(b"84".as_slice()));
    assert!(queue.delete_workflow(&id).await.unwrap());
    stop.cancel();
    worker.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_on_a_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let driver = RedisDriver::connect(&cluster.url()).await.expect("connect");
    scenarios::batch_callback_receives_counts_and_failed_ids(Queue::new(Arc::new(driver))).await;
}
