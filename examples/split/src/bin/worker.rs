//! Runs the handlers against `QUEUE_URL` until Ctrl-C or SIGTERM. `WORKER_LEASE_MS` sets the
//! lease (default 15 s).

#[path = "../jobs.rs"]
mod jobs;

use std::time::Duration;

use queue_core::Queue;
use queue_memory as _;
use queue_redis as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let queue = Queue::from_env().await?;
    let mut worker = queue.worker().handlers([jobs::process::NAME]);
    if let Some(ms) = std::env::var("WORKER_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        worker = worker.lease(Duration::from_millis(ms));
    }
    println!("worker ready");
    worker.run().await?;
    Ok(())
}
