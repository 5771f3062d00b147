//! Runs the scheduled `tick` job against `QUEUE_URL` until Ctrl-C or SIGTERM: any number of
//! these fire each tick once between them.

#[path = "../cron_jobs.rs"]
mod cron_jobs;

use std::time::Duration;

use queue_core::Queue;
use queue_memory as _;
use queue_redis as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::from_env().await?;
    let worker = queue
        .worker()
        .handlers([cron_jobs::tick::NAME])
        .schedule_refresh(Duration::from_secs(1))
        .build()?;
    println!("worker ready");
    worker.run_until(queue_core::shutdown_signal()).await?;
    Ok(())
}
