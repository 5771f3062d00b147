use queue_core::{job, JobError};

#[job(rate = "0/1s")]
pub async fn zero_rate(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "100")]
pub async fn no_window(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "100/1x")]
pub async fn bad_window(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "100/0s")]
pub async fn zero_window(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = 100)]
pub async fn not_a_string(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(global_concurrency = 0)]
pub async fn zero_concurrency(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
