use queue_core::{job, JobError};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Call {
    tenant: String,
}

fn wrong(_: u32) -> String {
    String::new()
}

#[job(rate = "10/1s", rate_key = "customer")]
pub async fn names_nothing(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate_key = "tenant")]
pub async fn nothing_to_split(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = "")]
pub async fn empty(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = "tenant id")]
pub async fn not_a_field(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = 3)]
pub async fn not_a_name(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = "tenant")]
pub async fn no_payload() -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = missing::function)]
pub async fn no_such_function(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = wrong)]
pub async fn wrong_function(_: Call) -> Result<(), JobError> {
    Ok(())
}

#[job(rate = "10/1s", rate_key = "tenant", unique_for = "1m")]
pub async fn unique_too(_: Call) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
