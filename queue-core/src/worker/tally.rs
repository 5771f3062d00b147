//! Run counts for storage statistics: each pool counts its runs' endings in atomics (only when
//! the driver keeps statistics), and one task of the worker sends the counts gathered since its
//! last visit to [`Stats::record`] every few seconds and once more at shutdown, so no job pays
//! a storage call for them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::{unix_minute, Lane, RunCounts};
use crate::worker::execute::Verdict;

/// How often a worker sends its run counts by default.
pub(crate) const SEND_EVERY: Duration = Duration::from_secs(5);

/// One pool's run endings since they were last sent.
#[derive(Debug, Default)]
pub(crate) struct RunTally {
    completed: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
}

impl RunTally {
    /// Counts a run that ended with `verdict` (a requeued or abandoned run is no outcome).
    #[inline]
    pub(crate) fn count(&self, verdict: &Verdict) {
        let counter = match verdict {
            Verdict::Done(_) => &self.completed,
            Verdict::Failed(failure) if failure.retry_in.is_some() => &self.retried,
            Verdict::Failed(_) => &self.failed,
            Verdict::Requeue | Verdict::Postpone(_) | Verdict::Abandoned | Verdict::Cancelled => {
                return
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` jobs failed as poison by a reserve (failures that no run of this pool ended).
    pub(crate) fn count_poisoned(&self, n: usize) {
        self.failed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The counts since the last take, leaving zero.
    fn take(&self) -> RunCounts {
        RunCounts::new(
            self.completed.swap(0, Ordering::Relaxed),
            self.failed.swap(0, Ordering::Relaxed),
            self.retried.swap(0, Ordering::Relaxed),
        )
    }

    /// Gives back counts that could not be sent, for the next try.
    fn put_back(&self, runs: RunCounts) {
        self.completed.fetch_add(runs.completed, Ordering::Relaxed);
        self.failed.fetch_add(runs.failed, Ordering::Relaxed);
        self.retried.fetch_add(runs.retried, Ordering::Relaxed);
    }
}

/// Sends the counts of `tallies` every `every` until `stop`, then once more.
pub(crate) async fn send(
    driver: Arc<dyn Driver>,
    tallies: Vec<(Lane, Arc<RunTally>)>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        send_once(driver.as_ref(), &tallies).await;
        if stopping {
            return;
        }
    }
}

/// Sends each lane's counts since the last call; counts that could not be sent are kept for
/// the next.
async fn send_once(driver: &dyn Driver, tallies: &[(Lane, Arc<RunTally>)]) {
    let Some(stats) = driver.stats() else {
        return;
    };
    let minute = unix_minute(SystemTime::now());
    for (lane, tally) in tallies {
        let runs = tally.take();
        if runs.is_zero() {
            continue;
        }
        if let Err(error) = stats.record(lane, minute, runs).await {
            tracing::warn!(%lane, %error, "could not record run statistics; keeping them for the next try");
            tally.put_back(runs);
        }
    }
}
