use queue_core::{job, JobError};

#[job(priority = 128)]
pub async fn too_high(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(priority = -129)]
pub async fn too_low(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
