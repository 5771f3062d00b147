//! The outbox: reporting verdicts to the driver (acks, requeues and failures), with retries
//! while the storage is unreachable. It owns what reporting needs (the lane, the driver, the
//! lease, the counters) and never looks at the pool that fills it.
//!
//! Successes wait in [`Finished`] for the fetch loop's next reserve, which acks them in the same
//! storage call; while the fetch loop waits for work, after a reserve failed, while a shard's
//! pool waits long for a slot its lane's other shards hold, or after it stopped, the settling
//! task acks them instead, so a finished job never waits for the next dispatch to be acked. A
//! reserve sent ahead carries at most [`SETTLE_BATCH`] of them; the older rest are acked by a
//! task of their own, which a stopping pool waits for. Other verdicts are reported as follows.
//!
//! A batch task whose runs have all ended reports the waiting verdicts itself, so the common
//! case needs no hand-over to another task (each hand-over can wake a parked thread). Verdicts
//! left while a report is in flight go in its reporter's next call, so reports still merge under
//! load. A batch with runs still going leaves its verdicts to the pool's settling task instead:
//! a report can wait on the storage (retrying for up to a lease), and the batch's other runs
//! would not be polled meanwhile. A report of many acks or completions goes out in several
//! calls at once, started in order, so that it takes one round trip per several batches
//! rather than per batch.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use bytes::Bytes;

use crate::flow::{group_by_flow, parse_step_id, FlowId, StepEnd, StepOutcome};
use crate::job::{Completion, Failure, Keep, Lane, Lease, LimitSpec};
use crate::run::Scope;
use crate::worker::execute::Verdict;
use crate::worker::retry::retry_pause;
use crate::worker::stats::WorkerStats;
use crate::Retention;

/// Largest number of leases sent to the driver in one call.
const SETTLE_BATCH: usize = 512;

/// Most calls of one report in flight at once (see [`in_flight`]).
const CALLS_IN_FLIGHT: usize = 8;

/// The verdicts of runs, with their leases.
pub(crate) type Settled = Vec<(Lease, Verdict)>;

/// One pool's outbox: where its runs leave their verdicts, and everything needed to report them.
#[derive(Debug)]
pub(crate) struct Outbox {
    /// The lane and the driver.
    pub(crate) scope: Arc<Scope>,
    /// How long a lease lasts: how long a report is retried.
    pub(crate) lease: Duration,
    /// The worker's counters of refused and dropped settlements.
    pub(crate) stats: Arc<WorkerStats>,
    /// Failures and requeues waiting to be reported.
    pub(crate) settlements: Settlements,
    /// Successes waiting to be acked with the next reserve.
    pub(crate) finished: Finished,
    /// What storage keeps of the handler's successes; when anything, they are completed
    /// through the driver's [`Retention`](crate::Retention).
    pub(crate) keep: Keep,
    /// Whether successes the handler keeps are completed with the next reserve (the driver
    /// does both in one step) rather than with the other reports.
    pub(crate) completes_with_reserve: bool,
    /// The handler's limits when they bound its jobs running at once: settling its jobs then
    /// frees slots that workers held back by the limit wait for, so they are woken.
    release_limits: Option<LimitSpec>,
    /// Whether the handler's limits hold per rate key: a rate-limited job then pauses its key
    /// ([`KeyedLimits::postpone_key`](crate::KeyedLimits::postpone_key)), not the lane.
    keyed: bool,
}

impl Outbox {
    pub(crate) fn new(
        scope: Arc<Scope>,
        lease: Duration,
        stats: Arc<WorkerStats>,
        keep: Keep,
    ) -> Self {
        let mut outbox = Self {
            keep: Keep::default(),
            completes_with_reserve: false,
            release_limits: None,
            keyed: false,
            scope,
            lease,
            stats,
            settlements: Settlements::default(),
            finished: Finished::default(),
        };
        outbox.set_keep(keep);
        outbox
    }

    /// Sets what is kept of the handler's successes, and so how they are completed.
    pub(crate) fn set_keep(&mut self, keep: Keep) {
        self.keep = keep;
        self.completes_with_reserve = !keep.is_nothing()
            && self
                .scope
                .driver
                .retention()
                .is_some_and(|r| r.completes_with_reserve());
    }

    pub(crate) fn lane(&self) -> &Lane {
        &self.scope.lane
    }

    /// For a pool that reserves with `limits`: its successes are acked by its limited
    /// reserves (never completed with them), and, when `limits` bound the jobs running at once,
    /// every settling wakes a worker held back by the limit.
    pub(crate) fn set_limits(&mut self, limits: LimitSpec) {
        self.completes_with_reserve = false;
        self.release_limits = limits.concurrency.map(|_| limits);
        self.keyed = limits.keyed;
    }

    /// After jobs of a lane whose jobs running at once are limited were settled: wakes a
    /// worker waiting for a free slot. Callers check `release_limits` first, so other lanes
    /// pay one branch.
    async fn released(&self) {
        let Some(spec) = &self.release_limits else {
            return;
        };
        let driver = &self.scope.driver;
        let released = match (self.keyed, driver.keyed_limits(), driver.limits()) {
            (true, Some(keyed), _) => keyed.released_keyed(self.lane(), spec).await,
            (false, _, Some(limits)) => limits.released(self.lane(), spec).await,
            _ => Ok(()),
        };
        if let Err(error) = released {
            tracing::warn!(lane = %self.lane(), %error, "could not wake a worker for the slots freed; it wakes at its next due time");
        }
    }
}

/// A pool's verdicts waiting to be reported, and the lock of whoever reports them.
#[derive(Debug, Default)]
pub(crate) struct Settlements {
    waiting: Mutex<Settled>,
    /// Held by the task reporting; others leave their verdicts to it.
    reporting: tokio::sync::Mutex<()>,
    /// Wakes the pool's settling task.
    wake: Notify,
    /// Set while a stopping pool cancels its runs: their verdicts wait for the pool's last
    /// report, so the requeues of every batch go back in one call, in dispatch order.
    held: AtomicBool,
}

impl Settlements {
    /// Leaves verdicts for the next report.
    pub(crate) fn leave(&self, settled: Settled) {
        self.waiting().extend(settled);
    }

    /// Has the pool's settling task report what is waiting.
    pub(crate) fn wake_settler(&self) {
        self.wake.notify_one();
    }

    /// From now on leaves every verdict to the pool's last report ([`Settlements::report_all`]).
    pub(crate) fn hold(&self) {
        self.held.store(true, Ordering::Relaxed);
    }

    /// Reports the waiting verdicts, unless another task is reporting (that one will see them)
    /// or the pool holds them for its last report.
    pub(crate) async fn report(&self, outbox: &Outbox) {
        if self.held.load(Ordering::Relaxed) {
            return;
        }
        loop {
            match self.reporting.try_lock() {
                Ok(_reporting) => self.report_waiting(outbox, false).await,
                Err(_) => return,
            }
            // Verdicts left while this task held the lock were left to it; having let go of the
            // lock, it looks once more (unless the pool now holds them for its last report).
            if self.held.load(Ordering::Relaxed) || self.waiting().is_empty() {
                return;
            }
        }
    }

    /// Waits for any report in flight, then reports everything waiting (at shutdown).
    pub(crate) async fn report_all(&self, outbox: &Outbox) {
        let _reporting = self.reporting.lock().await;
        self.report_waiting(outbox, true).await;
    }

    /// Reports waiting verdicts until none are left (or, unless `last`, until the pool holds
    /// them for its last report); the caller holds the reporting lock.
    async fn report_waiting(&self, outbox: &Outbox, last: bool) {
        loop {
            if !last && self.held.load(Ordering::Relaxed) {
                return;
            }
            let settled = std::mem::take(&mut *self.waiting());
            if settled.is_empty() {
                return;
            }
            settle(outbox, settled).await;
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Settled> {
        self.waiting.lock().expect("settlements lock")
    }
}

/// Leases of jobs that succeeded, waiting for their ack (or, for a handler that keeps
/// something, their completion, with the handler's values when it keeps results).
#[derive(Debug, Default)]
pub(crate) struct Finished {
    inner: Mutex<FinishedInner>,
    /// Tells the settling task to ack what is waiting.
    flush: Notify,
    /// Tasks acking successes apart from a reserve sent ahead (more than it carries); a
    /// stopping pool waits for them.
    apart: TaskTracker,
}

#[derive(Debug, Default)]
struct FinishedInner {
    leases: Vec<Lease>,
    /// The handler's values, parallel to `leases`, when it keeps results (else empty).
    results: Vec<Option<Bytes>>,
    /// True while the fetch loop will not reserve soon (it waits for work, or stopped): then
    /// the settling task acks.
    idle: bool,
}

impl FinishedInner {
    fn take(&mut self) -> Taken {
        Taken {
            leases: std::mem::take(&mut self.leases),
            results: std::mem::take(&mut self.results),
        }
    }
}

impl Finished {
    /// Leaves successes for the next reserve (or the settling task, when idle).
    pub(crate) fn push(&self, leases: impl IntoIterator<Item = Lease>) {
        let leases = leases.into_iter();
        let mut inner = self.inner();
        inner.leases.reserve(leases.size_hint().0);
        inner.leases.extend(leases);
        if inner.idle {
            self.flush.notify_one();
        }
    }

    /// Leaves successes of a handler that keeps something, with its values.
    pub(crate) fn push_completions(&self, done: impl IntoIterator<Item = (Lease, Option<Bytes>)>) {
        let done = done.into_iter();
        let mut inner = self.inner();
        let coming = done.size_hint().0;
        inner.leases.reserve(coming);
        inner.results.reserve(coming);
        for (lease, result) in done {
            inner.leases.push(lease);
            inner.results.push(result);
        }
        if inner.idle {
            self.flush.notify_one();
        }
    }

    /// Takes the waiting leases (and values, for a handler keeping results) for the fetch
    /// loop's next reserve.
    pub(crate) fn take_for_reserve(&self) -> Taken {
        let mut inner = self.inner();
        inner.idle = false;
        inner.take()
    }

    /// Gives leases back after a failed reserve, to be sent again.
    pub(crate) fn put_back(&self, taken: Taken) {
        let mut inner = self.inner();
        inner.leases.extend(taken.leases);
        inner.results.extend(taken.results);
    }

    /// The fetch loop goes idle: the settling task acks from now on.
    pub(crate) fn go_idle(&self) {
        let mut inner = self.inner();
        inner.idle = true;
        if !inner.leases.is_empty() {
            self.flush.notify_one();
        }
    }

    /// Takes the waiting leases for a reserve sent ahead, which carries at most
    /// [`SETTLE_BATCH`] of them (the newest); the older rest is returned apart, for its own
    /// acks. A reserve carrying more than the storage takes in one call would have to ack the
    /// excess first, and it would then not be on its way when it is first polled.
    pub(crate) fn take_for_reserve_ahead(&self) -> (Taken, Taken) {
        let mut taken = self.take_for_reserve();
        let excess = taken.leases.len().saturating_sub(SETTLE_BATCH);
        if excess == 0 {
            return (taken, Taken::default());
        }
        let rest = taken.leases.split_off(excess);
        let older = std::mem::replace(&mut taken.leases, rest);
        let older_results = if taken.results.is_empty() {
            Vec::new()
        } else {
            let rest = taken.results.split_off(excess);
            std::mem::replace(&mut taken.results, rest)
        };
        let excess = Taken {
            leases: older,
            results: older_results,
        };
        (taken, excess)
    }

    /// Acks (or completes) `excess` in a task of its own, which [`Finished::wait_apart`]
    /// waits for.
    pub(crate) fn ack_apart(&self, outbox: &Arc<Outbox>, excess: Taken) {
        let outbox = outbox.clone();
        self.apart
            .spawn(async move { Self::ack_taken(&outbox, excess).await });
    }

    /// Waits until the acks sent apart have ended (each retried for at most a lease).
    pub(crate) async fn wait_apart(&self) {
        self.apart.close();
        self.apart.wait().await;
    }

    /// Acks (or completes) everything waiting.
    pub(crate) async fn ack_all(&self, outbox: &Outbox) {
        // Taken as they are: the fetch loop stays idle, and later successes wake this task.
        let taken = self.inner().take();
        Self::ack_taken(outbox, taken).await;
    }

    /// Acks (or completes) `taken`, [`SETTLE_BATCH`] per call, retrying each call for up to a
    /// lease.
    pub(crate) async fn ack_taken(outbox: &Outbox, taken: Taken) {
        let driver = &outbox.scope.driver;
        if let (false, Some(retention)) = (outbox.keep.is_nothing(), driver.retention()) {
            let completions = taken.completions();
            complete_in_batches(outbox, retention, &completions).await;
            if outbox.release_limits.is_some() {
                outbox.released().await;
            }
            return;
        }
        let leases = taken.leases;
        if leases.is_empty() {
            return;
        }
        ack_in_batches(outbox, &leases).await;
        if outbox.release_limits.is_some() {
            outbox.released().await;
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, FinishedInner> {
        self.inner.lock().expect("finished lock")
    }
}

/// Successes taken for a reserve: their leases, and the handler's values when it keeps results.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) leases: Vec<Lease>,
    results: Vec<Option<Bytes>>,
}

impl Taken {
    /// As completions (a handler keeping nothing but completed jobs has no values).
    pub(crate) fn completions(&self) -> Vec<Completion> {
        let mut results = self.results.iter().cloned();
        self.leases
            .iter()
            .map(|lease| Completion {
                lease: lease.clone(),
                result: results.next().flatten(),
            })
            .collect()
    }
}

/// The pool's settling task: reports verdicts left by batches that still had runs going, and
/// acks successes while the fetch loop is idle.
pub(crate) async fn settler(outbox: Arc<Outbox>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = outbox.settlements.wake.notified() => outbox.settlements.report(&outbox).await,
            _ = outbox.finished.flush.notified() => outbox.finished.ack_all(&outbox).await,
        }
    }
}

/// Reports verdicts to the driver: failures one by one, acks and completions in calls of up to
/// `SETTLE_BATCH` leases (up to [`CALLS_IN_FLIGHT`] at once), requeues in one call.
async fn settle(outbox: &Outbox, settled: Settled) {
    let lane = outbox.lane();
    let driver = &outbox.scope.driver;
    let mut acks = Vec::new();
    let mut completions = Vec::new();
    let mut requeues = Vec::new();
    let keeps = !outbox.keep.is_nothing();
    // Workflows whose steps ended here released others: handed to their lanes after the acks.
    let mut released = Vec::new();
    let settled = record_steps(outbox, settled, &mut released).await;
    for (lease, verdict) in settled {
        match verdict {
            Verdict::Done(result) if keeps => completions.push(Completion { lease, result }),
            Verdict::Done(_) => acks.push(lease),
            Verdict::Requeue => requeues.push(lease),
            Verdict::Abandoned | Verdict::Cancelled => {}
            Verdict::Postpone(delay) => postpone(outbox, &lease, delay).await,
            Verdict::Failed(failure) => {
                let call = || driver.fail(lane, &lease, failure.clone());
                if let Some(held) = persist(outbox, "fail", 1, call).await {
                    note_refused(outbox, "fail", std::slice::from_ref(&lease), &[held]);
                }
            }
        }
    }
    match driver.retention() {
        Some(retention) => {
            complete_in_batches(outbox, retention, &completions).await;
        }
        // The worker refuses to start so (WorkerBuilder::build); were it to, the jobs are
        // acked rather than left to run again.
        None => acks.extend(completions.into_iter().map(|c| c.lease)),
    }
    ack_in_batches(outbox, &acks).await;
    // One call: the storage puts them back ahead of what waits, in dispatch order among
    // themselves (calls of their own would each go ahead of the one before). Requeues happen
    // at shutdown and for reservations that came too late: at most a few pools' worth.
    if !requeues.is_empty() {
        let call = || driver.requeue(lane, &requeues);
        if let Some(held) = persist(outbox, "requeue", requeues.len(), call).await {
            note_refused(outbox, "requeue", &requeues, &held);
        }
    }
    hand_over(outbox, released).await;
    if outbox.release_limits.is_some() {
        outbox.released().await;
    }
}

/// Completes `completions`, [`SETTLE_BATCH`] per call and up to [`CALLS_IN_FLIGHT`] calls at
/// once, sent in order (see [`in_flight`]); each call is retried for up to a lease, and the
/// completions the storage refused are noted.
async fn complete_in_batches(
    outbox: &Outbox,
    retention: &dyn Retention,
    completions: &[Completion],
) {
    let mut calls = completions.chunks(SETTLE_BATCH).map(|chunk| async move {
        let call = || retention.complete(outbox.lane(), chunk, &outbox.keep);
        // The leases are gathered only for a refusal to note (rare).
        let held = persist(outbox, "complete", chunk.len(), call).await;
        if let Some(held) = held.filter(|held| held.contains(&false)) {
            let leases: Vec<Lease> = chunk.iter().map(|c| c.lease.clone()).collect();
            note_refused(outbox, "complete", &leases, &held);
        }
    });
    in_flight(&mut calls).await;
}

/// Acks `leases` as [`complete_in_batches`] completes.
async fn ack_in_batches(outbox: &Outbox, leases: &[Lease]) {
    let (lane, driver) = (outbox.lane(), &outbox.scope.driver);
    let mut calls = leases.chunks(SETTLE_BATCH).map(|chunk| async move {
        if let Some(acked) = persist(outbox, "ack", chunk.len(), || driver.ack(lane, chunk)).await {
            note_refused(outbox, "ack", chunk, &acked);
        }
    });
    in_flight(&mut calls).await;
}

/// Awaits `calls`, keeping up to [`CALLS_IN_FLIGHT`] of them going, started in order (a
/// driver sends a call when it is first polled); a call that is slow (retrying) holds one place,
/// not the others. A report so takes about one round trip per [`CALLS_IN_FLIGHT`] batches
/// instead of one per batch: reported one after another, batches fell behind a pool draining a
/// backlog (every call waited behind the reserves sent ahead), and jobs that had ended piled up,
/// still leased, by the hundred thousand.
async fn in_flight<F: Future<Output = ()>>(calls: &mut impl Iterator<Item = F>) {
    let mut going = FuturesUnordered::new();
    for call in calls {
        if going.len() == CALLS_IN_FLIGHT {
            going.next().await;
        }
        going.push(call);
    }
    while going.next().await.is_some() {}
}

/// Puts a rate-limited job back for `delay` without spending its attempt (pausing its key for
/// a keyed handler, else its lane), or, on a driver without limits, retries it after `delay`
/// as a failed attempt.
async fn postpone(outbox: &Outbox, lease: &Lease, delay: Duration) {
    let (lane, driver) = (outbox.lane(), &outbox.scope.driver);
    let keyed = driver.keyed_limits().filter(|_| outbox.keyed);
    let held = match (keyed, driver.limits()) {
        (Some(keyed), _) => {
            persist(outbox, "postpone", 1, || {
                keyed.postpone_key(lane, lease, delay)
            })
            .await
        }
        (None, Some(limits)) => {
            persist(outbox, "postpone", 1, || {
                limits.postpone(lane, lease, delay)
            })
            .await
        }
        (None, None) => {
            let failure = Failure::retry(format!("rate limited; retry after {delay:?}"), delay);
            persist(outbox, "fail", 1, || {
                driver.fail(lane, lease, failure.clone())
            })
            .await
        }
    };
    if let Some(held) = held {
        note_refused(outbox, "postpone", std::slice::from_ref(lease), &[held]);
    }
}

/// Logs and counts the settlements of `leases` that the storage refused (`held` is false): the
/// lease had ended, so the job was reaped (and may run again), deleted or purged; or an earlier
/// try of the same report, whose answer was lost (or whose later part failed, for a report the
/// driver sends in parts), had already settled it and ended the lease.
pub(crate) fn note_refused(outbox: &Outbox, what: &str, leases: &[Lease], held: &[bool]) {
    let mut refused = 0;
    for (lease, held) in leases.iter().zip(held) {
        if !held {
            refused += 1;
            tracing::warn!(
                lane = %outbox.lane(), id = %lease.id, token = lease.token,
                "{what} refused: the lease had ended (the job was reaped and may run again, or was deleted, or an earlier try of this report whose answer was lost had settled it)"
            );
        }
    }
    if refused > 0 {
        outbox.stats.add_refused(refused);
        outbox.scope.observe.acks_refused(refused);
    }
}

/// Retries a settlement of `count` jobs while the storage is unreachable, for up to one lease
/// (past that the lease has expired and the reaper hands the job out again anyway). Returns the
/// call's answer, or `None` when it was given up (logged and counted).
async fn persist<T, F, Fut>(outbox: &Outbox, what: &str, count: usize, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + outbox.lease;
    let mut failures = 0;
    loop {
        match call().await {
            Ok(answer) => return Some(answer),
            Err(error) => {
                failures += 1;
                if tokio::time::Instant::now() >= give_up || !error.is_retryable() {
                    tracing::error!(lane = %outbox.lane(), %error, jobs = count, "could not {what} jobs; their leases will expire and they will run again");
                    outbox.stats.add_dropped(count);
                    return None;
                }
                tokio::time::sleep(retry_pause(failures)).await;
            }
        }
    }
}

// Workflow steps: a step's success, or its failure for good, is recorded in its workflow
// (releasing its dependents there) before its job is acked or failed in its lane; the released
// steps are handed to their lanes after that. Only jobs whose id marks them as steps take this
// path: a report without steps costs one scan of its ids' openings.

/// Most step ends recorded per call.
const ENDS_PER_CALL: usize = 500;

/// Records in their workflows how the steps among `settled` ended (the runs of one workflow in
/// one call), noting in `released` the workflows with steps to hand over. Returns the verdicts
/// to settle in the lanes: a step whose workflow could not be reached within a lease is left
/// out, its job left to its lease to run and report again (a repeated report changes nothing).
///
/// A worker that dies after this and before the jobs' acks leaves them to run again; one that
/// dies after the acks and before the hand-over leaves the released steps among their
/// workflow's ready steps, which a worker's recovery hands over.
async fn record_steps(outbox: &Outbox, settled: Settled, released: &mut Vec<FlowId>) -> Settled {
    if !settled
        .iter()
        .any(|(lease, _)| crate::flow::is_step_id(&lease.id))
    {
        return settled;
    }
    let Some(store) = outbox.scope.driver.workflows() else {
        return settled;
    };
    // Per workflow: the positions of its steps' verdicts and their ends.
    let groups = group_by_flow(
        settled
            .iter()
            .enumerate()
            .filter_map(|(i, (lease, verdict))| {
                let outcome = match verdict {
                    Verdict::Done(result) => StepOutcome::Succeeded(result.clone()),
                    Verdict::Failed(failure) if failure.retry_in.is_none() => {
                        StepOutcome::Failed(failure.error.clone())
                    }
                    _ => return None,
                };
                let (flow, step) = parse_step_id(&lease.id)?;
                Some((i, flow, StepEnd::new(step, outcome, Some(lease.token))))
            }),
    );
    let mut dropped = vec![false; settled.len()];
    for (flow, at, ends) in groups {
        for (positions, chunk) in at.chunks(ENDS_PER_CALL).zip(ends.chunks(ENDS_PER_CALL)) {
            let call = || store.end_steps(&flow, chunk);
            match persist(outbox, "record the workflow steps of", chunk.len(), call).await {
                Some((_, more)) => {
                    if more && !released.contains(&flow) {
                        released.push(flow.clone());
                    }
                }
                None => positions.iter().for_each(|&i| dropped[i] = true),
            }
        }
    }
    settled
        .into_iter()
        .zip(dropped)
        .filter_map(|(settled, dropped)| (!dropped).then_some(settled))
        .collect()
}

/// Hands the ready steps of `released` workflows to their lanes.
async fn hand_over(outbox: &Outbox, released: Vec<FlowId>) {
    let driver = &outbox.scope.driver;
    for flow in released {
        let call = || crate::flow::pump::pump(driver, &flow);
        // Given up: the steps stay ready in their workflow, for a worker's recovery.
        let _ = persist(outbox, "hand the released workflow steps of", 1, call).await;
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
