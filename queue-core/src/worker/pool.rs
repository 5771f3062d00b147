//! One handler's pool: reserve as many jobs as there are free slots, run them, settle them.
//!
//! The jobs of one reservation run concurrently inside one task (a batch) rather than one task
//! each: spawning, scheduling and completing a task per job cost more than a no-op handler.
//! Each job keeps its own slot, timeout, panic catching and cancellation, and its slot is freed
//! as soon as it finishes, so the concurrency limit and the timing of the fetch loop are per
//! job as before. What a batch shares is a thread: the jobs of one batch are polled by one task,
//! so a handler that blocks its thread also holds up the rest of its batch (as it would hold up
//! every task of that thread).
//!
//! Jobs that succeed are acked with the pool's next reserve (one storage round trip for both);
//! while the fetch loop waits for work, or after it stopped, the settling task acks them
//! instead, so a finished job never waits for the next dispatch to be acked.
//!
//! Other verdicts are reported to the driver by a batch task whose jobs have all finished, so the
//! common case needs no hand-over to another task (each hand-over can wake a parked thread).
//! Verdicts that arrive while one report is in flight are left to its reporter and go in its
//! next call, so reports still merge under load. A batch with jobs still running leaves its
//! verdicts to the pool's settling task instead: reporting can wait on the storage (retrying for
//! up to a lease), and the batch's other jobs would not be polled meanwhile.

use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::context::State;
use crate::job::{Lane, Lease, ReservedJob};
use crate::registry::Registration;
use crate::worker::execute::{self, HandlerFuture, Started, Verdict};
use crate::worker::lease::Running;
use crate::worker::run::{Batch, CancelReason, Scope};

/// Largest number of settlements sent to the driver in one call.
const SETTLE_BATCH: usize = 512;

/// The verdicts of runs, with their leases.
type Settled = Vec<(Lease, Verdict)>;

/// Verdicts waiting to be reported to the driver, and the lock of whoever reports them.
#[derive(Debug, Default)]
pub(crate) struct Settlements {
    waiting: std::sync::Mutex<Settled>,
    /// Held by the task reporting; others leave their verdicts to it.
    reporting: tokio::sync::Mutex<()>,
    /// Wakes the pool's settling task.
    wake: Notify,
}

/// Everything a pool needs; shared by its batch tasks.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) registration: &'static Registration,
    /// The lane and the driver, shared with every run's context.
    pub(crate) scope: Arc<Scope>,
    pub(crate) concurrency: usize,
    pub(crate) lease: Duration,
    pub(crate) grace: Duration,
    pub(crate) state: Arc<State>,
    pub(crate) running: Arc<Running>,
    pub(crate) settlements: Settlements,
    pub(crate) finished: Finished,
}

/// Leases of jobs that succeeded, waiting for their ack.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    inner: parking_lot::Mutex<FinishedInner>,
    /// Tells the settling task to ack what is waiting.
    flush: Notify,
}

#[derive(Debug, Default)]
struct FinishedInner {
    leases: Vec<Lease>,
    /// True while the fetch loop will not reserve soon (it waits for work, or stopped): then
    /// the settling task acks.
    idle: bool,
}

impl Finished {
    fn push(&self, leases: impl IntoIterator<Item = Lease>) {
        let mut inner = self.inner.lock();
        inner.leases.extend(leases);
        if inner.idle {
            self.flush.notify_one();
        }
    }

    /// Takes the waiting leases for the fetch loop's next reserve.
    fn take_for_reserve(&self) -> Vec<Lease> {
        let mut inner = self.inner.lock();
        inner.idle = false;
        std::mem::take(&mut inner.leases)
    }

    /// Gives leases back after a failed reserve, to be sent again.
    fn put_back(&self, leases: Vec<Lease>) {
        self.inner.lock().leases.extend(leases);
    }

    /// The fetch loop goes idle: the settling task acks from now on.
    fn go_idle(&self) {
        let mut inner = self.inner.lock();
        inner.idle = true;
        if !inner.leases.is_empty() {
            self.flush.notify_one();
        }
    }

    fn take(&self) -> Vec<Lease> {
        std::mem::take(&mut self.inner.lock().leases)
    }
}

impl Pool {
    pub(crate) fn lane(&self) -> &Lane {
        &self.scope.lane
    }

    /// Fetches and runs jobs until `stop` is cancelled, then drains: running jobs get `grace` to
    /// finish, the rest are cancelled and requeued.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let settler_stop = CancellationToken::new();
        let settler = tokio::spawn(self.clone().settle_when_woken(settler_stop.clone()));
        let mut failures = 0u32;
        let driver = &self.scope.driver;

        'fetch: loop {
            // Wait for at least one free slot, then take every free slot.
            let mut permits = tokio::select! {
                biased;
                _ = stop.cancelled() => break 'fetch,
                permit = slots.clone().acquire_owned() => permit.expect("pool semaphore closed"),
            };
            let extra = slots.available_permits() as u32;
            if extra > 0 {
                if let Ok(more) = slots.clone().try_acquire_many_owned(extra) {
                    permits.merge(more);
                }
            }
            let wanted = permits.num_permits();

            // Read before reserving, so the local idea of when leases end is never later than
            // the storage's.
            let reserved_at = Instant::now();
            let done = self.finished.take_for_reserve();
            let reserved = driver
                .ack_and_reserve(self.lane(), &done, wanted, self.lease)
                .await;
            let reservation = match reserved {
                Ok((_, reservation)) => {
                    failures = 0;
                    reservation
                }
                Err(error) => {
                    // Sent again with the next reserve, or by the settling task if it stops.
                    self.finished.put_back(done);
                    drop(permits);
                    failures += 1;
                    let pause = retry_pause(failures);
                    tracing::warn!(lane = %self.lane(), %error, retry_in = ?pause, "could not reserve jobs");
                    tokio::select! {
                        _ = stop.cancelled() => break 'fetch,
                        _ = tokio::time::sleep(pause) => continue 'fetch,
                    }
                }
            };

            let got = reservation.jobs.len();
            if got > 0 {
                let taken = permits.split(got).expect("one permit per reserved job");
                self.clone()
                    .start_batch(reservation.jobs, taken, reserved_at);
            }
            drop(permits);

            if got == wanted {
                // More work is waiting. Let the jobs just started run before counting free
                // slots again: short jobs finish meanwhile, so the next reserve takes (and
                // acks) a bigger batch, which costs the storage less per job.
                tokio::task::yield_now().await;
            } else {
                // The lane is drained: sleep until a wake-up or the next due time.
                self.finished.go_idle();
                tokio::select! {
                    _ = stop.cancelled() => break 'fetch,
                    waited = driver.wait(self.lane(), reservation.next_due) => {
                        if let Err(error) = waited {
                            failures += 1;
                            let pause = retry_pause(failures);
                            tracing::warn!(lane = %self.lane(), %error, "could not wait for jobs");
                            tokio::select! {
                                _ = stop.cancelled() => break 'fetch,
                                _ = tokio::time::sleep(pause) => {}
                            }
                        }
                    }
                }
            }
        }

        // Drain: give running jobs the grace period, then cancel them for requeueing.
        self.finished.go_idle();
        let all = self.concurrency as u32;
        let finished = tokio::time::timeout(self.grace, slots.acquire_many(all)).await;
        if finished.is_err() {
            tracing::info!(lane = %self.lane(), "grace period over; cancelling running jobs for requeue");
            self.running.cancel_all(CancelReason::Shutdown);
            let _ = slots.acquire_many(all).await;
        }
        // Every verdict is waiting or reported by now; report the rest before returning.
        settler_stop.cancel();
        let _ = settler.await;
        let _reporting = self.settlements.reporting.lock().await;
        self.report_waiting().await;
        self.ack(self.finished.take()).await;
    }

    async fn ack(&self, leases: Vec<Lease>) {
        let (lane, driver) = (self.lane(), &self.scope.driver);
        for chunk in leases.chunks(SETTLE_BATCH) {
            persist(self, "ack", || driver.ack(lane, chunk)).await;
        }
    }

    /// Starts one task running the jobs of a reservation, each holding one of `permits`.
    fn start_batch(
        self: Arc<Self>,
        jobs: Vec<ReservedJob>,
        permits: OwnedSemaphorePermit,
        reserved_at: Instant,
    ) {
        let expires = reserved_at + self.lease;
        let timeout = self.registration.definition.timeout;
        let deadline = timeout.map(|limit| Instant::now() + limit);
        let batch = Arc::new(Batch::new(self.scope.clone(), &jobs, expires, deadline));
        let payloads: Vec<Bytes> = jobs.into_iter().map(|job| job.payload).collect();
        // Registered before the task starts, so a shutdown right now still reaches it.
        let number = self.running.insert(batch.clone());
        tokio::spawn(self.run_batch(batch, number, payloads, permits));
    }

    /// Runs a batch's jobs concurrently: starts each (most finish right there), then drives
    /// the rest. Whenever some finish, their verdicts are left for reporting and then their
    /// slots are freed, all at once.
    async fn run_batch(
        self: Arc<Self>,
        batch: Arc<Batch>,
        number: u64,
        mut payloads: Vec<Bytes>,
        mut permits: OwnedSemaphorePermit,
    ) {
        let started: Vec<Started> = poll_fn(|cx| {
            let started = payloads.drain(..).enumerate().map(|(index, payload)| {
                execute::start(self.registration, &batch, index, payload, &self.state, cx)
            });
            Poll::Ready(started.collect())
        })
        .await;
        let mut ended = Vec::new();
        let mut pending = FuturesUnordered::new();
        for (index, started) in started.into_iter().enumerate() {
            match started {
                Started::Ended(verdict) => ended.push(self.ended(&batch, index, verdict)),
                Started::Running(future) => pending.push(self.finish(&batch, index, future)),
            }
        }
        if !ended.is_empty() {
            self.ended_together(ended, &mut permits, pending.is_empty(), number)
                .await;
        }
        while let Some(ended) = next_finished(&mut pending).await {
            self.ended_together(ended, &mut permits, pending.is_empty(), number)
                .await;
        }
    }

    async fn finish(&self, batch: &Batch, index: usize, future: HandlerFuture) -> (Lease, Verdict) {
        let verdict = execute::finish(self.registration, batch, index, future).await;
        self.ended(batch, index, verdict)
    }

    /// Marks a run finished, logs a failure, and pairs the verdict with the lease.
    fn ended(&self, batch: &Batch, index: usize, verdict: Verdict) -> (Lease, Verdict) {
        let run = &batch.runs[index];
        run.finish();
        if let Verdict::Failed(failure) = &verdict {
            tracing::warn!(
                lane = %self.lane(), id = %run.lease.id, attempt = run.attempt,
                max_attempts = run.max_attempts, error = %failure.error,
                retry_in = ?failure.retry_in, "job failed"
            );
        }
        (run.lease.clone(), verdict)
    }

    /// Leaves the verdicts of runs that ended together for reporting and frees their slots.
    /// The batch's task reports them itself once all its runs have ended (`last`).
    async fn ended_together(
        &self,
        ended: Settled,
        permits: &mut OwnedSemaphorePermit,
        last: bool,
        number: u64,
    ) {
        if last {
            self.running.remove(number);
        }
        let count = ended.len();
        // Left before the slots are freed: shutdown waits for every slot, then reports
        // whatever is still waiting. Successes wait for the fetch loop's next reserve.
        let (done, other): (Settled, Settled) = ended
            .into_iter()
            .partition(|(_, verdict)| matches!(verdict, Verdict::Done));
        self.finished.push(done.into_iter().map(|(lease, _)| lease));
        let report = !other.is_empty();
        if report {
            self.settlements
                .waiting
                .lock()
                .expect("settlements lock")
                .extend(other);
        }
        drop(permits.split(count).expect("one permit per running job"));
        if report && last {
            self.report().await;
        } else if report {
            self.settlements.wake.notify_one();
        }
    }

    /// The pool's settling task: reports verdicts left by batches that still had jobs running,
    /// and acks successes while the fetch loop is idle.
    async fn settle_when_woken(self: Arc<Self>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.settlements.wake.notified() => self.report().await,
                _ = self.finished.flush.notified() => self.ack(self.finished.take()).await,
            }
        }
    }

    /// Reports the waiting verdicts, unless another task is reporting: that one will see them.
    async fn report(&self) {
        loop {
            match self.settlements.reporting.try_lock() {
                Ok(_reporting) => self.report_waiting().await,
                Err(_) => return,
            }
            // Verdicts left while this task held the lock were left to it; having let go of the
            // lock, it looks once more.
            if self.waiting_is_empty() {
                return;
            }
        }
    }

    fn waiting_is_empty(&self) -> bool {
        self.settlements
            .waiting
            .lock()
            .expect("settlements lock")
            .is_empty()
    }

    /// Reports waiting verdicts until none are left; the caller holds the reporting lock.
    async fn report_waiting(&self) {
        loop {
            let settled =
                std::mem::take(&mut *self.settlements.waiting.lock().expect("settlements lock"));
            if settled.is_empty() {
                return;
            }
            settle(self, settled).await;
        }
    }
}

/// Waits until at least one of `pending` has finished, then also takes every other one that is
/// finished by then; `None` once all have finished.
///
/// Polls with the task's own context: polling a `FuturesUnordered` with any other waker would
/// leave its children waking that waker instead of this task.
async fn next_finished<F: Future>(pending: &mut FuturesUnordered<F>) -> Option<Vec<F::Output>> {
    poll_fn(|cx| {
        let mut finished = Vec::new();
        loop {
            match pending.poll_next_unpin(cx) {
                Poll::Ready(Some(output)) => finished.push(output),
                Poll::Ready(None) if finished.is_empty() => return Poll::Ready(None),
                Poll::Pending if finished.is_empty() => return Poll::Pending,
                Poll::Ready(None) | Poll::Pending => return Poll::Ready(Some(finished)),
            }
        }
    })
    .await
}

/// Reports verdicts to the driver: failures one by one, acks and requeues in calls of up to
/// `SETTLE_BATCH` leases.
async fn settle(pool: &Pool, settled: Settled) {
    let lane = pool.lane();
    let driver = &pool.scope.driver;
    let mut acks = Vec::new();
    let mut requeues = Vec::new();
    for (lease, verdict) in settled {
        match verdict {
            Verdict::Done => acks.push(lease),
            Verdict::Requeue => requeues.push(lease),
            Verdict::Abandoned => {}
            Verdict::Failed(failure) => {
                persist(pool, "fail", || driver.fail(lane, &lease, failure.clone())).await;
            }
        }
    }
    for chunk in acks.chunks(SETTLE_BATCH) {
        persist(pool, "ack", || driver.ack(lane, chunk)).await;
    }
    for chunk in requeues.chunks(SETTLE_BATCH) {
        persist(pool, "requeue", || driver.requeue(lane, chunk)).await;
    }
}

/// Retries a settlement while the storage is unreachable, for up to one lease: past that the
/// lease has expired and the reaper hands the job out again anyway.
async fn persist<T, F, Fut>(pool: &Pool, what: &str, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = crate::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + pool.lease;
    let mut failures = 0;
    loop {
        match call().await {
            Ok(_) => return,
            Err(error) => {
                failures += 1;
                if tokio::time::Instant::now() >= give_up || !error.is_retryable() {
                    tracing::error!(lane = %pool.lane(), %error, "could not {what} jobs; their leases will expire and they will run again");
                    return;
                }
                tokio::time::sleep(retry_pause(failures)).await;
            }
        }
    }
}

/// 50 ms doubling up to 5 s.
fn retry_pause(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(7)).min(Duration::from_secs(5))
}
