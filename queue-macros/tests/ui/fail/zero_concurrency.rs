use queue_core::{job, JobError};

#[job(concurrency = 0)]
pub async fn zero_concurrency(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(attempts = 0)]
pub async fn zero_attempts(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
