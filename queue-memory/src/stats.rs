//! Queue statistics: run totals per job name and the per-minute counts of the last hour.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use parking_lot::Mutex;
use queue_core::{Lane, MinuteCounts, QueueStats, Result, RunCounts, Stats};

use crate::MemoryDriver;

/// Every queue's statistics.
#[derive(Debug, Default)]
pub(crate) struct StatsStore {
    queues: Mutex<HashMap<String, History>>,
}

/// One queue's statistics.
#[derive(Debug, Default)]
struct History {
    /// All-time totals by job name.
    totals: BTreeMap<String, RunCounts>,
    /// Counts by minute and job name, the last [`queue_core::STATS_MINUTES`] minutes.
    minutes: BTreeMap<(u64, String), RunCounts>,
}

impl StatsStore {
    /// How many (minute, job name) counts `queue` keeps.
    #[cfg(test)]
    fn kept(&self, queue: &str) -> usize {
        self.queues.lock().get(queue).map_or(0, |h| h.minutes.len())
    }
}

#[async_trait]
impl Stats for MemoryDriver {
    async fn record(&self, lane: &Lane, minute: u64, runs: RunCounts) -> Result<()> {
        let mut queues = self.shared.stats.queues.lock();
        let history = queues.entry(lane.queue().to_string()).or_default();
        history
            .totals
            .entry(lane.job().to_string())
            .or_default()
            .add(runs);
        let start = *QueueStats::window(minute).start();
        if minute >= start {
            history
                .minutes
                .entry((minute, lane.job().to_string()))
                .or_default()
                .add(runs);
        }
        history.minutes = history.minutes.split_off(&(start, String::new()));
        Ok(())
    }

    async fn history(&self, queue: &str, minute: u64) -> Result<QueueStats> {
        let mut stats = QueueStats::default();
        stats.queue = queue.to_string();
        {
            let queues = self.shared.stats.queues.lock();
            let history = queues.get(queue);
            stats.totals = history.map_or_else(Vec::new, |h| {
                h.totals.iter().map(|(k, v)| (k.clone(), *v)).collect()
            });
            stats.minutes = QueueStats::window(minute)
                .map(|m| {
                    let mut runs = RunCounts::default();
                    if let Some(h) = history {
                        let from = (m, String::new());
                        for ((_, _), counts) in h.minutes.range(from..(m + 1, String::new())) {
                            runs.add(*counts);
                        }
                    }
                    MinuteCounts::new(m, runs)
                })
                .collect();
        }
        stats.oldest_ready = self.existing(queue).and_then(|q| q.lock().oldest_ready());
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_at_most_an_hour_of_minutes_per_job() {
        let driver = MemoryDriver::new();
        let lanes = [Lane::new("q", "a").unwrap(), Lane::new("q", "b").unwrap()];
        for minute in 1_000..1_300 {
            for lane in &lanes {
                driver
                    .record(lane, minute, RunCounts::new(1, 0, 0))
                    .await
                    .unwrap();
            }
        }
        assert_eq!(driver.shared.stats.kept("q"), 120);
        let history = driver.history("q", 1_299).await.unwrap();
        assert_eq!(history.total(), RunCounts::new(600, 0, 0));
        assert!(history.minutes.iter().all(|m| m.runs.completed == 2));
    }
}
