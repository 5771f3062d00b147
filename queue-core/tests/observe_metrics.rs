//! Metrics through the `metrics` facade, read back from a real Prometheus recorder: counters of
//! dispatches and of each way a run ends, the run-time histogram, and the depth gauges a worker
//! samples. Its own test binary: a process has one global recorder.

mod support;

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use queue_core::{job, JobError, Queue};
use support::{eventually, memory_queue, start};

#[job(queue = "metered")]
async fn metered_ok(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "metered", attempts = 2, backoff = "fixed(5ms)")]
async fn metered_bad(_n: u32) -> Result<(), JobError> {
    Err(JobError::msg("broken"))
}

/// The value of the series whose line starts with `series` (name and labels, as rendered).
fn value(handle: &PrometheusHandle, series: &str) -> Option<f64> {
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_histograms_and_gauges_reach_the_recorder() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the test binary's only recorder");
    let queue: Queue = memory_queue().with_metrics();
    queue
        .dispatch_bulk((0..5).map(metered_ok::job))
        .await
        .unwrap();
    metered_bad::dispatch(&queue, 1).await.unwrap();
    // A job no handler of this worker runs: it stays ready and ages.
    queue
        .dispatch_named("unhandled", serde_json::json!({}))
        .queue("metered")
        .await
        .unwrap();
    let worker = start(
        queue
            .worker()
            .handlers(["metered_ok", "metered_bad"])
            .sample_every(Duration::from_millis(20)),
    );
    let ok = r#"queue_jobs_completed_total{queue="metered",job="metered_ok"}"#;
    eventually(Duration::from_secs(10), || async {
        let failed = value(
            &handle,
            r#"queue_jobs_failed_total{queue="metered",job="metered_bad"}"#,
        );
        (value(&handle, ok) == Some(5.0) && failed == Some(1.0)).then_some(())
    })
    .await;
    // The worker samples the queue's depth every 20 ms: the failed job shows in the next sample.
    eventually(Duration::from_secs(10), || async {
        value(&handle, r#"queue_jobs{queue="metered",state="failed"}"#).filter(|v| *v == 1.0)
    })
    .await;
    // ...and the age of the ready job nobody runs, in seconds, growing from sample to sample.
    let age = r#"queue_oldest_ready_age_seconds{queue="metered"}"#;
    let first = eventually(Duration::from_secs(10), || async {
        value(&handle, age).filter(|v| *v > 0.0)
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        value(&handle, age).filter(|v| *v > first)
    })
    .await;
    assert!(first < 10.0, "the job is seconds old at most: {first}");
    worker.shutdown().await.unwrap();

    assert_eq!(
        value(
            &handle,
            r#"queue_jobs_dispatched_total{queue="metered",job="metered_ok"}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            &handle,
            r#"queue_jobs_retried_total{queue="metered",job="metered_bad"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &handle,
            r#"queue_job_run_seconds_count{queue="metered",job="metered_ok"}"#
        ),
        Some(5.0),
        "one run-time sample per run"
    );
    assert_eq!(
        value(
            &handle,
            r#"queue_job_wait_seconds_count{queue="metered",job="metered_ok"}"#
        ),
        Some(5.0),
        "one wait sample per job taken"
    );
    assert_eq!(
        value(
            &handle,
            r#"queue_job_wait_seconds_count{queue="metered",job="metered_bad"}"#
        ),
        Some(2.0),
        "a retried job waits again"
    );
    assert!(value(&handle, "queue_workers_live").is_some());
}
