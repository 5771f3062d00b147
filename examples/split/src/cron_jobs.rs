//! A scheduled job for the cron worker binary: every second, missed ticks caught up (the
//! latest 60), so a restart of every worker loses no tick.

use queue_core::{job, JobContext, JobError};

/// Prints `tick <id>`; the id is `tick@<the tick's time in ms>`.
#[job(queue = "split-cron", cron = "* * * * * *", missed = "each(60)")]
pub(crate) async fn tick(_: (), ctx: JobContext) -> Result<(), JobError> {
    println!("tick {}", ctx.id());
    Ok(())
}
