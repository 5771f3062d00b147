//! A worker of the pipeline's steps only, until stopped (used by the fault tests, which kill it
//! mid-workflow): `QUEUE_URL=redis://... cargo run -p example-pipeline --bin pipeline_worker`.
//! `WORKER_LEASE_MS` sets its lease.

#[path = "../jobs.rs"]
#[allow(dead_code)] // the workflow is dispatched by other programs
mod jobs;

use std::time::Duration;

use queue_core::{shutdown_signal, Queue};
use queue_memory as _;
use queue_redis as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Warnings and errors on stderr (`RUST_LOG` to choose).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let queue = Queue::from_env().await?;
    let lease = std::env::var("WORKER_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis);
    println!("worker ready");
    queue
        .worker()
        .handlers(["fetch", "resize", "publish"])
        .lease(lease)
        .run_until(shutdown_signal())
        .await?;
    Ok(())
}
