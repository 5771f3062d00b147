//! Dispatches jobs: `producer [count] [ms]` to the queue at `QUEUE_URL`.

#[path = "../jobs.rs"]
mod jobs;

use queue_core::Queue;
use queue_redis as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let ms: u64 = args.next().map_or(Ok(10), |a| a.parse())?;
    let queue = Queue::from_env().await?;
    let stored = queue
        .dispatch_bulk((0..count).map(|n| jobs::process::job(jobs::Item { n, ms })))
        .await?;
    println!("dispatched {} jobs", stored.len());
    Ok(())
}
