#![deny(warnings)]

use queue_core::{job, JobError, Missed};

#[job(cron = "0 */5 * * * *", tz = "Europe/Berlin")]
pub async fn every_five_minutes() -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "reports", cron = "30 2 * * *", missed = "each(3)")]
pub async fn nightly(_: Option<u32>) -> Result<(), JobError> {
    Ok(())
}

#[job(cron = "@hourly", missed = "once")]
pub async fn hourly() -> Result<(), JobError> {
    Ok(())
}

fn main() {
    let cron = every_five_minutes::DEFINITION.cron.unwrap();
    assert_eq!(
        (cron.expr, cron.tz, cron.missed),
        ("0 */5 * * * *", "Europe/Berlin", Missed::Skip)
    );
    let cron = nightly::DEFINITION.cron.unwrap();
    assert_eq!((cron.tz, cron.missed), ("UTC", Missed::Each { max: 3 }));
    assert_eq!(hourly::DEFINITION.cron.unwrap().missed, Missed::Once);
}
