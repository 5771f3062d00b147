//! Workflows and batches run by a worker on a real Redis (the scenarios are shared with the
//! memory driver's `queue-core/tests/worker_workflows.rs`), and the sizes a workflow and a
//! batch must reach without any script call growing with them.

#[path = "../../queue-core/tests/shared/workflow_scenarios.rs"]
mod scenarios;
mod support;

use std::sync::Arc;

use queue_core::Queue;
use queue_redis::RedisDriver;
use support::RedisServer;

async fn queue(server: &RedisServer) -> Queue {
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    Queue::new(Arc::new(driver))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_pipeline_passes_results() {
    let server = RedisServer::start();
    scenarios::workflow_pipeline_passes_results(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_fan_out_and_fan_in() {
    let server = RedisServer::start();
    scenarios::workflow_fan_out_and_fan_in(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_retry_runs_failed_steps_again() {
    let server = RedisServer::start();
    scenarios::workflow_retry_runs_failed_steps_again(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_receives_counts_and_failed_ids() {
    let server = RedisServer::start();
    scenarios::batch_callback_receives_counts_and_failed_ids(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_on_success_after_all_succeeded() {
    let server = RedisServer::start();
    scenarios::batch_callback_on_success_after_all_succeeded(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depend_policies_with_a_failed_prerequisite() {
    let server = RedisServer::start();
    scenarios::depend_policies_with_a_failed_prerequisite(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depend_cancelled_step_skips_dependents() {
    let server = RedisServer::start();
    scenarios::depend_cancelled_step_skips_dependents(queue(&server).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_job_stored_after_its_step_ended_is_not_run() {
    let server = RedisServer::start();
    scenarios::a_step_job_stored_after_its_step_ended_is_not_run(queue(&server).await).await;
}
