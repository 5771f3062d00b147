use queue_core::{job, JobError};

#[job(backoff = "linear(1s)")]
pub async fn unknown_kind(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = "exponential(1s, max = 10x)")]
pub async fn bad_max(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = "exponential(0s)")]
pub async fn zero_base(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(backoff = "exponential(1s, jitter = maybe)")]
pub async fn bad_jitter(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
