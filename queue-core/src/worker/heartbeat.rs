//! Telling the storage that a worker is alive, which lanes it serves and how busy each is.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::presence::{LaneLoad, WorkerPresence, HEARTBEAT_TTL};
use crate::worker::pool::Pool;
use crate::worker::retry::retry_pause;

/// Records `worker` every `every` until `stop`, then retires it; each record carries the
/// pools' concurrency and running jobs at that moment (`pools` in the order of the worker's
/// lanes). A record lives three heartbeats, at least [`HEARTBEAT_TTL`]. A failed heartbeat is
/// logged and retried sooner; it never stops the worker. A driver that keeps no records of
/// workers gets none.
pub(crate) async fn beat(
    driver: Arc<dyn Driver>,
    worker: WorkerPresence,
    pools: Vec<Arc<Pool>>,
    every: Duration,
    stop: CancellationToken,
) {
    let Some(records) = driver.presence() else {
        return;
    };
    let ttl = HEARTBEAT_TTL.max(every * 3);
    let mut worker = worker;
    let mut failures = 0;
    loop {
        worker.load = pools
            .iter()
            .map(|pool| LaneLoad::new(pool.concurrency, pool.running_now()))
            .collect();
        worker.tokens = pools.iter().map(|pool| pool.running.tokens()).collect();
        let pause = match records.heartbeat(&worker, ttl).await {
            Ok(()) => {
                failures = 0;
                every
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(worker = %worker.id, %error, "could not record the worker's heartbeat");
                retry_pause(failures).min(every)
            }
        };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    if let Err(error) = records.retire(&worker.id).await {
        tracing::warn!(worker = %worker.id, %error, "could not retire the worker's record; it expires by itself");
    }
}
