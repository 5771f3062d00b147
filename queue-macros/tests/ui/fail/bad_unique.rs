use queue_core::{job, JobError};

#[job(unique_for = "0s", unique_mode = "until_done")]
pub async fn dedupe(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(unique_for = 10, unique_mode = debounce)]
pub async fn typed_wrong(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
