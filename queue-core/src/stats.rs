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
    ///
    /// Statistics are kept per storage queue; those of a queue with sharded lanes cover its
    /// shards (found as [`Queue::counts`] finds them): totals added up per job name, each
    /// minute's counts added up, and the oldest ready job the oldest over the shards. A
    /// shard's own name (`q@shard-1-of-3`) reads that shard alone.
    pub async fn stats(&self, queue: &str) -> Result<QueueStats> {
        crate::job::validate_name("queue name", queue)?;
        let store = self.stats_store()?;
        let minute = unix_minute(SystemTime::now());
        let names = self.storage_queues(queue).await?;
        if let [name] = names.as_slice() {
            return store.history(name, minute).await;
        }
        let mut all = QueueStats::empty(queue, minute);
        for name in &names {
            all.add(&store.history(name, minute).await?);
        }
        Ok(all)
    }

    /// The driver's statistics, or an error saying it keeps none.
    fn stats_store(&self) -> Result<&dyn Stats> {
        self.driver().stats().ok_or_else(|| Error::Unsupported {
            capability: "queue statistics",
            driver: format!("{:?}", self.driver()),
        })
    }
}
