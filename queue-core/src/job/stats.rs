//! Queue statistics kept in storage: run totals per job name and a per-minute series.

use std::time::SystemTime;

/// How many minutes of per-minute counts storage keeps, and a history holds.
pub const STATS_MINUTES: u64 = 60;

/// Runs that ended, by how: completed, failed for good, or failed with a retry to come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RunCounts {
    /// Runs whose handler succeeded.
    pub completed: u64,
    /// Runs that failed and moved their job to the failed list.
    pub failed: u64,
    /// Runs that failed and scheduled a retry.
    pub retried: u64,
}

impl RunCounts {
    /// Counts of `completed`, `failed` and `retried` runs.
    pub fn new(completed: u64, failed: u64, retried: u64) -> Self {
        Self {
            completed,
            failed,
            retried,
        }
    }

    /// Whether every count is zero.
    pub fn is_zero(&self) -> bool {
        self.completed == 0 && self.failed == 0 && self.retried == 0
    }

    /// Adds `other` to these counts (saturating).
    pub fn add(&mut self, other: RunCounts) {
        self.completed = self.completed.saturating_add(other.completed);
        self.failed = self.failed.saturating_add(other.failed);
        self.retried = self.retried.saturating_add(other.retried);
    }
}

/// The runs that ended in one minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinuteCounts {
    /// The minute, as whole minutes since the Unix epoch.
    pub minute: u64,
    /// The runs that ended in it.
    pub runs: RunCounts,
}

impl MinuteCounts {
    /// The counts of `minute`.
    pub fn new(minute: u64, runs: RunCounts) -> Self {
        Self { minute, runs }
    }
}

/// A queue's statistics as storage keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// All-time totals per job name, in name order.
    pub totals: Vec<(String, RunCounts)>,
    /// The last [`STATS_MINUTES`] minutes up to and including the one asked for, oldest first,
    /// summed over the queue's job names; a minute without runs counts zero.
    pub minutes: Vec<MinuteCounts>,
    /// When the longest-waiting job at the head of a lane's ready jobs was created (each
    /// lane's next job in line, and its next job of a non-zero priority); `None` when nothing
    /// is ready.
    pub oldest_ready: Option<SystemTime>,
}

impl QueueStats {
    /// The statistics of `queue` holding nothing: no totals, and zero for each minute of the
    /// window ending at `minute`.
    pub fn empty(queue: &str, minute: u64) -> Self {
        Self {
            queue: queue.to_string(),
            totals: Vec::new(),
            minutes: Self::window(minute)
                .map(|m| MinuteCounts::new(m, RunCounts::default()))
                .collect(),
            oldest_ready: None,
        }
    }

    /// Adds `other`'s statistics (of another storage queue, e.g. a shard) to these: totals
    /// per job name (kept in name order), the counts of each minute both windows hold, and
    /// the older of the two oldest ready jobs. The queue's name and window stay these.
    pub fn add(&mut self, other: &QueueStats) {
        for (job, runs) in &other.totals {
            match self
                .totals
                .binary_search_by(|(name, _)| name.as_str().cmp(job))
            {
                Ok(at) => self.totals[at].1.add(*runs),
                Err(at) => self.totals.insert(at, (job.clone(), *runs)),
            }
        }
        for minute in &other.minutes {
            if let Some(mine) = self.minutes.iter_mut().find(|m| m.minute == minute.minute) {
                mine.runs.add(minute.runs);
            }
        }
        self.oldest_ready = match (self.oldest_ready, other.oldest_ready) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The totals over every job name.
    pub fn total(&self) -> RunCounts {
        let mut all = RunCounts::default();
        for (_, counts) in &self.totals {
            all.add(*counts);
        }
        all
    }

    /// The window of minutes a history ending at `minute` covers, oldest first.
    pub fn window(minute: u64) -> std::ops::RangeInclusive<u64> {
        minute.saturating_sub(STATS_MINUTES - 1)..=minute
    }
}

/// The current minute of `time`, as whole minutes since the Unix epoch.
pub fn unix_minute(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statistics_of_storage_queues_add_up() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut all = QueueStats::empty("q", 1000);
        assert_eq!(all.minutes.len(), STATS_MINUTES as usize);
        let mut one = QueueStats::empty("q@shard-0-of-2", 1000);
        one.totals = vec![("b".into(), RunCounts::new(1, 2, 3))];
        one.minutes[59].runs = RunCounts::new(1, 0, 0);
        one.oldest_ready = Some(at(50));
        let mut two = QueueStats::empty("q@shard-1-of-2", 1000);
        two.totals = vec![
            ("a".into(), RunCounts::new(5, 0, 0)),
            ("b".into(), RunCounts::new(1, 1, 1)),
        ];
        two.minutes[59].runs = RunCounts::new(2, 1, 0);
        two.minutes[0].runs = RunCounts::new(0, 0, 4);
        two.oldest_ready = Some(at(40));
        all.add(&one);
        all.add(&two);
        assert_eq!(all.queue, "q");
        assert_eq!(
            all.totals,
            vec![
                ("a".to_string(), RunCounts::new(5, 0, 0)),
                ("b".to_string(), RunCounts::new(2, 3, 4)),
            ]
        );
        assert_eq!(
            all.minutes[59],
            MinuteCounts::new(1000, RunCounts::new(3, 1, 0))
        );
        assert_eq!(all.minutes[0].runs, RunCounts::new(0, 0, 4));
        assert_eq!(all.oldest_ready, Some(at(40)));
        all.add(&QueueStats::empty("q@shard-2-of-3", 1000));
        assert_eq!(
            all.oldest_ready,
            Some(at(40)),
            "nothing ready changes nothing"
        );
    }
}
