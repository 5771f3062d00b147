#![deny(warnings)]

use std::time::Duration;

use queue_core::{job, Backoff, JobError};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub id: u64,
}

#[job(
    name = "reports.build:v2/eu@1",
    queue = "reports",
    concurrency = 8,
    attempts = 5,
    backoff = "exponential(1s, max = 10m)",
    timeout = "1h30m",
    priority = -3,
    crate = "::queue_core",
)]
pub async fn build_report(report: Report) -> Result<(), JobError> {
    let _ = report.id;
    Ok(())
}

#[job(priority = -128, backoff = "fixed(250ms)", attempts = 1, concurrency = 1)]
pub async fn lowest(_: Report) -> Result<(), JobError> {
    Ok(())
}

#[job(
    priority = 127,
    backoff = "exponential(500ms, jitter = false, max = 1h)",
    timeout = "2d"
)]
pub async fn highest(_: Report) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = "exponential(1s)")]
pub async fn default_max(_: Report) -> Result<(), JobError> {
    Ok(())
}

const _: () = {
    assert!(build_report::DEFINITION.attempts == 5);
    assert!(build_report::DEFINITION.concurrency == 8);
    assert!(build_report::DEFINITION.priority == -3);
    assert!(lowest::DEFINITION.priority == -128);
    assert!(highest::DEFINITION.priority == 127);
};

fn main() {
    assert_eq!(build_report::NAME, "reports.build:v2/eu@1");
    assert_eq!(build_report::DEFINITION.queue, "reports");
    assert_eq!(
        build_report::DEFINITION.timeout,
        Some(Duration::from_secs(5400))
    );
    assert!(matches!(
        build_report::DEFINITION.backoff,
        Backoff::Exponential { base, max, jitter: true }
            if base == Duration::from_secs(1) && max == Duration::from_secs(600)
    ));
    assert!(matches!(
        lowest::DEFINITION.backoff,
        Backoff::Fixed(d) if d == Duration::from_millis(250)
    ));
    assert!(matches!(
        highest::DEFINITION.backoff,
        Backoff::Exponential { jitter: false, .. }
    ));
    assert_eq!(
        highest::DEFINITION.timeout,
        Some(Duration::from_secs(172_800))
    );
    assert!(matches!(
        default_max::DEFINITION.backoff,
        Backoff::Exponential { max, .. } if max == Duration::from_secs(3600)
    ));
}
