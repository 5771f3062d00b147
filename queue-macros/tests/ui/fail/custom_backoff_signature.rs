use queue_core::{job, JobError};

pub fn not_a_policy(_: u64) -> u32 {
    0
}

#[job(backoff = not_a_policy)]
pub async fn send(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
