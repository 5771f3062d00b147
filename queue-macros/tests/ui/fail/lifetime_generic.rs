use queue_core::{job, JobError};

#[job]
pub async fn borrowing<'a>(_: &'a str) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
