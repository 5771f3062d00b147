use queue_core::{job, JobError};

#[job]
pub async fn borrowing(_: &str) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn anonymous(_: std::borrow::Cow<'_, str>) -> Result<(), JobError> {
    Ok(())
}

#[job]
pub async fn static_str(_: &'static str) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
