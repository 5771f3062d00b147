use queue_core::{job, JobError};

#[job]
pub async fn generic<T: serde::de::DeserializeOwned>(_: T) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn with_where(_: u32) -> Result<(), JobError>
where
    u32: Copy,
{
    Ok(())
}

fn main() {}
