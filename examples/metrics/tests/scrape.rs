//! Runs the example as a process and reads its scrape: the counters carry the jobs' real
//! outcomes.

use std::process::Command;

fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn the_scrape_counts_what_the_worker_did() {
    let output = Command::new(env!("CARGO_BIN_EXE_example-metrics"))
        .env("METRICS_EXAMPLE_ONCE", "1")
        .env("QUEUE_URL", "memory://")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the example");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let scrape = String::from_utf8(output.stdout).unwrap();
    let series = |name: &str| format!(r#"{name}{{queue="images",job="resize"}}"#);
    assert_eq!(
        value(&scrape, &series("queue_jobs_dispatched_total")),
        Some(20.0),
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &series("queue_jobs_completed_total")),
        Some(16.0),
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &series("queue_jobs_retried_total")),
        Some(4.0),
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &series("queue_jobs_failed_total")),
        Some(4.0),
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &series("queue_job_run_seconds_count")),
        Some(24.0),
        "{scrape}"
    );
}
