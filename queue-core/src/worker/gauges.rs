//! With metrics on, a worker samples the depth of the queues it serves, the age of their oldest
//! ready job and the number of live workers into gauges, every [`SAMPLE_EVERY`] unless
//! configured, from the driver's inspection, statistics and presence capabilities (a driver
//! without one leaves its gauges unset).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::unix_minute;
use crate::observe::metrics;

/// How often the gauges are sampled by default.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Samples the gauges of `queues` until `stop`.
pub(crate) async fn sample(
    driver: Arc<dyn Driver>,
    queues: Vec<String>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        if let Some(admin) = driver.admin() {
            for queue in &queues {
                match admin.counts(queue).await {
                    Ok(counts) => metrics::depth(queue, &counts),
                    Err(error) => tracing::debug!(%queue, %error, "could not sample queue depth"),
                }
            }
        }
        if let Some(stats) = driver.stats() {
            let now = SystemTime::now();
            for queue in &queues {
                match stats.history(queue, unix_minute(now)).await {
                    Ok(history) => {
                        let age = history
                            .oldest_ready
                            .map(|at| now.duration_since(at).unwrap_or_default());
                        metrics::oldest_ready_age(queue, age.unwrap_or_default());
                    }
                    Err(error) => {
                        tracing::debug!(%queue, %error, "could not sample the oldest ready job")
                    }
                }
            }
        }
        if let Some(presence) = driver.presence() {
            if let Ok(workers) = presence.workers().await {
                metrics::workers(workers.len());
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
