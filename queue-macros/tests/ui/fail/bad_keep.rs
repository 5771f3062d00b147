use queue_core::{job, JobError};

#[job(keep_completed = 0, keep_completed_for = "0s", keep_result = "soon")]
pub async fn keeps(_: u32) -> Result<u32, JobError> {
    Ok(1)
}

/// A kept result must serialize.
pub struct Opaque;

#[job(keep_result = "1h")]
pub async fn opaque(_: u32) -> Result<Opaque, JobError> {
    Ok(Opaque)
}

fn main() {}
