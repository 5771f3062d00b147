//! Telling the storage that a worker is alive and which lanes it serves.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::presence::{WorkerPresence, HEARTBEAT_EVERY, HEARTBEAT_TTL};
use crate::worker::retry::retry_pause;

/// Records `worker` every [`HEARTBEAT_EVERY`] until `stop`, then retires it. A failed
/// heartbeat is logged and retried sooner; it never stops the worker. A driver that keeps no
/// records of workers gets none.
pub(crate) async fn beat(driver: Arc<dyn Driver>, worker: WorkerPresence, stop: CancellationToken) {
    let Some(records) = driver.presence() else {
        return;
    };
    let mut failures = 0;
    loop {
        let pause = match records.heartbeat(&worker, HEARTBEAT_TTL).await {
            Ok(()) => {
                failures = 0;
                HEARTBEAT_EVERY
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(worker = %worker.id, %error, "could not record the worker's heartbeat");
                retry_pause(failures).min(HEARTBEAT_EVERY)
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
