use queue_core::{job, JobError};

#[job(cron = "61 * * * *")]
pub async fn minute_out_of_range() -> Result<(), JobError> {
    Ok(())
}

#[job(cron = "every five minutes")]
pub async fn not_cron() -> Result<(), JobError> {
    Ok(())
}

#[job(cron = "0 */5 * * * *", tz = "Europe/Berlinn")]
pub async fn unknown_zone() -> Result<(), JobError> {
    Ok(())
}

#[job(cron = "@hourly", missed = "each(0)")]
pub async fn no_catch_up() -> Result<(), JobError> {
    Ok(())
}

#[job(cron = "@hourly", missed = "all")]
pub async fn unknown_policy() -> Result<(), JobError> {
    Ok(())
}

#[job(tz = "UTC")]
pub async fn zone_without_cron() -> Result<(), JobError> {
    Ok(())
}

#[job(cron = 5)]
pub async fn not_a_string() -> Result<(), JobError> {
    Ok(())
}

fn main() {}
