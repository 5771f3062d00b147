//! Workflows and batches run by a worker on the memory driver (the scenarios are shared with
//! the Redis driver's `redis_workflows.rs`).

#[path = "shared/workflow_scenarios.rs"]
mod scenarios;
mod support;

use support::memory_queue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_pipeline_passes_results() {
    scenarios::workflow_pipeline_passes_results(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_fan_out_and_fan_in() {
    scenarios::workflow_fan_out_and_fan_in(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_retry_runs_failed_steps_again() {
    scenarios::workflow_retry_runs_failed_steps_again(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_receives_counts_and_failed_ids() {
    scenarios::batch_callback_receives_counts_and_failed_ids(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_on_success_after_all_succeeded() {
    scenarios::batch_callback_on_success_after_all_succeeded(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depend_policies_with_a_failed_prerequisite() {
    scenarios::depend_policies_with_a_failed_prerequisite(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depend_cancelled_step_skips_dependents() {
    scenarios::depend_cancelled_step_skips_dependents(memory_queue()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_job_stored_after_its_step_ended_is_not_run() {
    scenarios::a_step_job_stored_after_its_step_ended_is_not_run(memory_queue()).await;
}
