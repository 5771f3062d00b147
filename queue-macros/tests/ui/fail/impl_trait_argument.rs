use queue_core::{job, JobError};

#[job]
pub async fn send(_: u32, _: impl std::fmt::Display) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
