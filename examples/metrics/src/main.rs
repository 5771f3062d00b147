//! A worker whose metrics Prometheus scrapes from `http://127.0.0.1:9464/metrics` (the port
//! from `METRICS_PORT`), which logs every job event it sees, and whose runs are tracing spans.
//!
//! `cargo run -p example-metrics`, then `curl -s localhost:9464/metrics | grep ^queue_`.
//! With `METRICS_EXAMPLE_ONCE=1` it prints the scrape after its jobs ran and exits.

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use queue_core::{job, JobContext, JobError, Queue};
use queue_memory as _;
use queue_redis as _;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Resize {
    image: u32,
}

/// Resizes an image; every fifth one is corrupt and fails for good after a retry.
#[job(queue = "images", attempts = 2, backoff = "fixed(50ms)")]
async fn resize(job: Resize, ctx: JobContext) -> Result<(), JobError> {
    tracing::info!(image = job.image, "resizing");
    ctx.progress(50).await.map_err(JobError::retry)?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    if matches!(job.image % 5, 0) {
        return Err(JobError::msg(format!("image {} is corrupt", job.image)));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("METRICS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9464);
    let once = std::env::var("METRICS_EXAMPLE_ONCE").is_ok_and(|v| v == "1");
    // Buckets make the run-time series a Prometheus histogram (without them, a summary).
    let builder = PrometheusBuilder::new().set_buckets_for_metric(
        metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
        &queue_core::observe::metrics::SECONDS_BUCKETS,
    )?;
    // One recorder for the program, installed before the queue: workers register their
    // metrics when they start.
    let handle = if once {
        Some(builder.install_recorder()?)
    } else {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        builder.with_http_listener(addr).install()?;
        tracing::info!("metrics at http://{addr}/metrics");
        None
    };

    let queue = Queue::from_env().await?.with_metrics();
    let mut events = queue.events();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            tracing::debug!(kind = ?event.kind, id = %event.id, lane = %event.lane, attempt = event.attempt, error = ?event.error, "event");
        }
    });
    queue
        .dispatch_bulk((1..=20).map(|image| resize::job(Resize { image })))
        .await?;

    if let Some(handle) = handle {
        let stop = async {
            // Done when the 20 jobs ran: 16 completed, 4 failed after their retry.
            while queue
                .counts("images")
                .await
                .map_or(true, |c| c.pending() + c.active > 0)
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        queue
            .worker()
            .sample_every(Duration::from_millis(50))
            .run_until(stop)
            .await?;
        print!("{}", handle.render());
        return Ok(());
    }
    queue.worker().run().await?;
    Ok(())
}
