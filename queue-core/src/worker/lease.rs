//! The jobs a pool is running, and the pool's task that renews their leases and stops runs
//! whose leases it cannot confirm in time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::hash::IdHashMap;
use crate::job::{Lane, Lease};
use crate::run::{why_lost, Batch, CancelReason, RunState};
use crate::worker::stats::WorkerStats;

/// The running batches of one pool. A batch stays until all its runs finish; runs that
/// finished earlier are skipped.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) lane: Lane,
    /// How long before its lease runs out a run is stopped ([`safety_margin`]).
    margin: Duration,
    batches: Mutex<Batches>,
    /// Wakes the lease task for a batch that must stop before the task next looks.
    added: Notify,
}

#[derive(Debug, Default)]
struct Batches {
    by_number: IdHashMap<u64, Arc<Batch>>,
    next: u64,
    /// Until when the lease task goes by the batches it last saw: a batch added since that
    /// must stop sooner wakes it (one whose reservation came back late). Batches reserved in
    /// time stop well after it and wake nothing.
    watched_until: Option<Instant>,
    /// The earliest stop time the lease task's next renewal is sure to confirm in time (its
    /// send time plus the call's limit). A batch added that must stop sooner (its reservation
    /// came back late) has the renewal sent at once instead, rather than being stopped while
    /// storage still holds its lease.
    confirms_from: Option<Instant>,
    /// Set by such a batch, taken by the lease task.
    renew_now: bool,
}

impl Running {
    pub(crate) fn new(lane: Lane, lease: Duration) -> Self {
        Self {
            lane,
            margin: safety_margin(lease),
            batches: Mutex::default(),
            added: Notify::new(),
        }
    }

    /// Adds a batch; returns the number to remove it by.
    pub(crate) fn insert(&self, batch: Arc<Batch>) -> u64 {
        let mut batches = self.batches.lock().unwrap();
        let number = batches.next;
        batches.next += 1;
        let stop = batch.stop_at(self.margin);
        let sooner =
            matches!((batches.watched_until, stop), (Some(until), Some(stop)) if stop < until);
        let urgent =
            matches!((batches.confirms_from, stop), (Some(from), Some(stop)) if stop < from);
        batches.renew_now |= urgent;
        batches.by_number.insert(number, batch);
        drop(batches);
        if sooner || urgent {
            self.added.notify_one();
        }
        number
    }

    /// Notes when the lease task's next renewal goes out and how long it may take: a batch
    /// added that must stop before that call can confirm it asks for a renewal at once.
    fn next_renewal(&self, at: Instant, call_limit: Duration) {
        self.batches.lock().unwrap().confirms_from = Some(at + call_limit);
    }

    /// Whether a batch added since the last renewal needs one at once (and forgets it).
    fn take_renew_now(&self) -> bool {
        std::mem::take(&mut self.batches.lock().unwrap().renew_now)
    }

    pub(crate) fn remove(&self, number: u64) {
        self.batches.lock().unwrap().by_number.remove(&number);
    }

    /// The fencing tokens of the runs still going, without repeats (a driver may give the
    /// jobs of one reservation one token, as Redis does, or one each, as memory does).
    pub(crate) fn tokens(&self) -> Vec<u64> {
        let mut tokens: Vec<u64> = self
            .batches
            .lock()
            .unwrap()
            .by_number
            .values()
            .flat_map(|batch| batch.running().map(|run| run.lease.token))
            .collect();
        tokens.sort_unstable();
        tokens.dedup();
        tokens
    }

    /// Whether no batch is registered (every batch leaves once its runs have ended).
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.lock().unwrap().by_number.is_empty()
    }

    /// Cancels every running job.
    pub(crate) fn cancel_all(&self, reason: CancelReason) {
        for batch in self.batches.lock().unwrap().by_number.values() {
            for run in batch.running() {
                run.cancel.cancel(reason);
            }
        }
    }

    /// The batches now, and the time the lease task must look again: the earliest stop time
    /// among them, or `until` if that is sooner. Batches added later that must stop before
    /// that time wake the task.
    fn watch(&self, until: Instant) -> (Vec<Arc<Batch>>, Instant) {
        let mut batches = self.batches.lock().unwrap();
        let snapshot: Vec<Arc<Batch>> = batches.by_number.values().cloned().collect();
        let wake = earliest_stop(&snapshot, self.margin).map_or(until, |at| at.min(until));
        batches.watched_until = Some(wake);
        (snapshot, wake)
    }
}

/// How long before a lease runs out (by the worker's clock) its runs are cancelled: a tenth of
/// the lease, at least 20 ms. It covers the time a cancelled run takes to stop (its task must be
/// polled) and differences between this machine's clock rate and the storage's.
pub(crate) fn safety_margin(lease: Duration) -> Duration {
    (lease / 10).max(Duration::from_millis(20))
}

/// Keeps the leases of one pool's running jobs: renews them every `lease / 3`, each renewal
/// bounded to half that period, and cancels the runs of a batch whose lease can no longer be
/// confirmed, at the send time of its last renewal that succeeded plus `lease` minus the
/// [`safety_margin`], whatever the storage call in flight is doing. Runs until `stop` is
/// cancelled.
///
/// Each pool has its own task, so a pool whose storage calls hang does not delay another's.
pub(crate) async fn keep_leases(
    driver: Arc<dyn Driver>,
    running: Arc<Running>,
    lease: Duration,
    stats: Arc<WorkerStats>,
    stop: CancellationToken,
) {
    let period = lease / 3;
    let call_limit = period / 2;
    let margin = running.margin;
    let lane = &running.lane;
    let mut next_renewal = Instant::now() + period;
    running.next_renewal(next_renewal, call_limit);
    loop {
        if running.take_renew_now() {
            next_renewal = Instant::now();
            running.next_renewal(next_renewal, call_limit);
        }
        // Until the next renewal, stop runs whose leases are about to run out.
        let (batches, wake) = running.watch(next_renewal);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(wake) => {}
            _ = running.added.notified() => continue,
        }
        expire(&batches, margin, lane, &stats);
        let now = Instant::now();
        if now < next_renewal {
            continue;
        }
        next_renewal = now + period;
        running.next_renewal(next_renewal, call_limit);
        // The batches now: one added while this task slept is renewed with the others, so a
        // run learns within one period that storage no longer holds its lease (a cancelled
        // job, say), not two.
        let (batches, _) = running.watch(next_renewal);

        // The runs still going, each with its batch, in the order their leases are sent.
        let runs: Vec<(&Batch, &RunState)> = batches
            .iter()
            .filter(|batch| batch.stop_at(margin).is_some())
            .flat_map(|batch| batch.running().map(move |run| (&**batch, run)))
            .collect();
        if runs.is_empty() {
            continue;
        }
        let leases: Vec<Lease> = runs.iter().map(|(_, run)| run.lease.clone()).collect();
        let sent = Instant::now();
        let call = tokio::time::timeout(call_limit, driver.renew(lane, &leases, lease));
        tokio::pin!(call);
        // While the call is out, leases keep running out on time, those of batches added
        // meanwhile too.
        let outcome = loop {
            let (watched, wake) = running.watch(sent + call_limit);
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                outcome = &mut call => break outcome,
                _ = tokio::time::sleep_until(wake) => expire(&watched, margin, lane, &stats),
                _ = running.added.notified() => {}
            }
        };
        match outcome {
            Ok(Ok(held)) => {
                for batch in &batches {
                    batch.renewed(sent + lease);
                }
                let lost: Vec<&RunState> = runs
                    .iter()
                    .zip(held)
                    .filter(|((_, run), held)| {
                        !held && !run.is_finished() && !run.cancel.is_cancelled()
                    })
                    .map(|((_, run), _)| *run)
                    .collect();
                if !lost.is_empty() {
                    let stopping = Stopping {
                        driver: driver.as_ref(),
                        running: &running,
                        limit: call_limit,
                        stats: &stats,
                    };
                    if !stopping.stop_lost(&lost, &stop).await {
                        return;
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%lane, %error, "could not renew leases; retrying next period");
            }
            Err(_) => {
                tracing::warn!(%lane, limit = ?call_limit, "renewing leases took too long; retrying next period");
            }
        }
    }
}

/// Most lookups of why a lease was lost in flight at once.
const LOOKUPS_AT_ONCE: usize = 32;

/// What stopping the runs whose leases a renewal found gone needs.
struct Stopping<'a> {
    driver: &'a dyn Driver,
    running: &'a Running,
    /// How long the lookups take at most, all of them together.
    limit: Duration,
    stats: &'a WorkerStats,
}

impl Stopping<'_> {
    /// Cancels each run of `lost`, whose lease storage no longer holds, told why: its job was
    /// cancelled, or its lease was lost. The reasons are looked up together
    /// ([`LOOKUPS_AT_ONCE`] at a time) within the limit in all, and a run is cancelled as its
    /// reason comes; a run whose reason has not come by then is told its lease was lost.
    /// Meanwhile the other batches' leases keep running out on time: however many leases were
    /// lost and however slow the storage, no run outlives its lease. Returns false when `stop`
    /// was cancelled first.
    async fn stop_lost(&self, lost: &[&RunState], stop: &CancellationToken) -> bool {
        use futures_util::StreamExt;

        let lane = &self.running.lane;
        let margin = self.running.margin;
        let deadline = Instant::now() + self.limit;
        let mut waiting = lost.iter();
        let mut lookups = futures_util::stream::FuturesUnordered::new();
        for run in waiting.by_ref().take(LOOKUPS_AT_ONCE) {
            lookups.push(lookup(self.driver, lane, run, self.limit));
        }
        loop {
            let (watched, wake) = self.running.watch(deadline);
            tokio::select! {
                biased;
                _ = stop.cancelled() => return false,
                looked_up = lookups.next() => match looked_up {
                    Some((run, reason)) => {
                        self.stop_run(run, reason);
                        if let Some(run) = waiting.next() {
                            lookups.push(lookup(self.driver, lane, run, self.limit));
                        }
                    }
                    None => return true,
                },
                _ = tokio::time::sleep_until(wake) => {
                    expire(&watched, margin, lane, self.stats);
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                _ = self.running.added.notified() => {}
            }
        }
        for run in lost {
            self.stop_run(run, CancelReason::LeaseLost);
        }
        true
    }

    /// Cancels `run` for `reason`, unless it ended or was cancelled already.
    fn stop_run(&self, run: &RunState, reason: CancelReason) {
        if run.is_finished() || run.cancel.is_cancelled() {
            return;
        }
        let lane = &self.running.lane;
        if reason == CancelReason::Cancelled {
            tracing::info!(%lane, id = %run.lease.id, "job cancelled; stopping the run");
            self.stats.cancelled_run();
        } else {
            tracing::warn!(%lane, id = %run.lease.id, "lease lost (the job was reaped, deleted or purged); cancelling the run");
            self.stats.lease_lost();
        }
        run.cancel.cancel(reason);
    }
}

/// Why `run`'s lease was lost (see [`why_lost`]), with the run.
async fn lookup<'a>(
    driver: &dyn Driver,
    lane: &Lane,
    run: &'a RunState,
    limit: Duration,
) -> (&'a RunState, CancelReason) {
    (run, why_lost(driver, lane, &run.lease.id, limit).await)
}

/// The earliest time a batch of `batches` must stop, if any still holds its lease.
fn earliest_stop(batches: &[Arc<Batch>], margin: Duration) -> Option<Instant> {
    batches
        .iter()
        .filter(|batch| batch.running().next().is_some())
        .filter_map(|batch| batch.stop_at(margin))
        .min()
}

/// Cancels the runs of batches whose leases run out within `margin` from now.
fn expire(batches: &[Arc<Batch>], margin: Duration, lane: &Lane, stats: &WorkerStats) {
    let now = Instant::now();
    for batch in batches {
        if batch.stop_at(margin).is_none_or(|at| at > now) || batch.running().next().is_none() {
            continue;
        }
        let ids: Vec<String> = batch
            .running()
            .map(|run| run.lease.id.to_string())
            .collect();
        let cancelled = batch.expire(now, margin);
        if cancelled > 0 {
            tracing::warn!(%lane, ids = ?ids, "lease could not be confirmed before it ran out; cancelling the runs before another worker can take the jobs");
            stats.add_leases_expired(cancelled);
        }
    }
}
