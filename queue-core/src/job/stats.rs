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
