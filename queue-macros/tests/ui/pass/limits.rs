#![deny(warnings)]

use std::time::Duration;

use queue_core::{job, JobError, LimitSpec, Rate};

#[job(rate = "100/1s", global_concurrency = 5)]
pub async fn call_partner(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/m")]
pub async fn per_minute(_: u64) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "plain")]
pub async fn unlimited(_: u64) -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let limits = call_partner::DEFINITION.limits;
    assert_eq!(
        limits.rate,
        Some(Rate::new(100, Duration::from_secs(1)).unwrap())
    );
    assert_eq!(limits.concurrency, Some(5));
    assert_eq!(
        per_minute::DEFINITION.limits.rate.map(|r| r.per()),
        Some(Duration::from_secs(60))
    );
    assert_eq!(unlimited::DEFINITION.limits, LimitSpec::default());
}
