use queue_core::{job, JobError};

#[job(queue = "mail", attempts = 3, queue = "other")]
pub async fn send(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
