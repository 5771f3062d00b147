use queue_core::{job, JobError};

#[job(name = "has space")]
pub async fn spaced(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "mail{1}")]
pub async fn braces(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(name = "")]
pub async fn empty(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn café(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
