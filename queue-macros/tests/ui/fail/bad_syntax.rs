use queue_core::{job, JobError};

#[job(queue = "mail" attempts = 3)]
pub fn send(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job("mail")]
pub async fn positional(_: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue)]
pub async fn no_value(_: u32) -> Result<(), JobError> {
    Ok(())
}

fn main() {}
