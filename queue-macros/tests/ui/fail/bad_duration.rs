use queue_core::{job, JobError};

#[job(timeout = "30x")]
pub async fn unknown_unit(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(timeout = "0s")]
pub async fn zero(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(timeout = 30)]
pub async fn not_a_string(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
