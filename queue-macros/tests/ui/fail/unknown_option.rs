use queue_core::{job, JobError};

#[job(queue = "mail", retries = 3)]
pub async fn send(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
