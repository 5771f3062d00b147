use queue_core::{job, JobError};

#[job]
pub fn not_async(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
