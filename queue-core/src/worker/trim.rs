//! Failed jobs kept no longer than an age: with [`WorkerBuilder::trim_failed_after`], a worker
//! removes the failed jobs of the queues it serves once they are that old, through the driver's
//! `Retention::clean`, a thousand per queue at most per round (one round per heartbeat), so a
//! failed list is bounded by age as well as by the driver's count.
//!
//! [`WorkerBuilder::trim_failed_after`]: crate::WorkerBuilder::trim_failed_after

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::JobState;

/// Most failed jobs one round removes from one queue.
const PER_ROUND: usize = 1000;

/// Removes failed jobs of `queues` older than `age`, every `every`, until `stop`.
pub(crate) async fn failed(
    driver: Arc<dyn Driver>,
    queues: Vec<String>,
    age: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    let Some(retention) = driver.retention() else {
        return;
    };
    loop {
        for queue in &queues {
            match retention
                .clean(queue, JobState::Failed, age, PER_ROUND)
                .await
            {
                Ok(0) => {}
                Ok(removed) => {
                    tracing::debug!(%queue, removed, "removed failed jobs past their age")
                }
                Err(error) => tracing::warn!(%queue, %error, "could not remove old failed jobs"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
