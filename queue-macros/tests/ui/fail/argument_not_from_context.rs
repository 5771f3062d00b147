use queue_core::{job, JobError};

#[job]
pub async fn send(_: u32, _: String) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
