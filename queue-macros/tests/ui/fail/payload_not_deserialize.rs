use queue_core::{job, JobError};

#[derive(serde::Serialize)]
pub struct OnlySerialize {
    pub id: u64,
}

#[job]
pub async fn send(_: OnlySerialize) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
