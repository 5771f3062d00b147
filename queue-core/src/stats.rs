//! Queue statistics kept in storage, read through [`Queue`].

use std::time::SystemTime;

use crate::driver::Stats;
use crate::error::{Error, Result};
use crate::job::{unix_minute, QueueStats};
use crate::queue::Queue;

impl Queue {
    /// The statistics `queue`'s workers recorded: run totals per job name, the per-minute
    /// counts of the last hour ending now (oldest first), and when the oldest ready job at a
    /// lane's head was created. Workers send their counts every few seconds, so the latest
    /// runs may be missing for that long. [`Error::Unsupported`] when the driver keeps no
    /// statistics.
    pub async fn stats(&self, queue: &str) -> Result<QueueStats> {
        crate::job::validate_name("queue name", queue)?;
        self.stats_store()?
            .history(queue, unix_minute(SystemTime::now()))
            .await
    }

    /// The driver's statistics, or an error saying it keeps none.
    fn stats_store(&self) -> Result<&dyn Stats> {
        self.driver().stats().ok_or_else(|| Error::Unsupported {
            capability: "queue statistics",
            driver: format!("{:?}", self.driver()),
        })
    }
}
