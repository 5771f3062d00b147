use queue_core::{job, JobError};

#[derive(serde::Deserialize)]
pub struct OnlyDeserialize {
    pub id: u64,
}

#[job]
pub async fn send(_: OnlyDeserialize) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
