//! Running a reservation's jobs, as one or more batches.
//!
//! The jobs of one reservation run concurrently inside one task (a batch) rather than one task
//! each: spawning, scheduling and completing a task per job cost more than a no-op handler.
//! Each job keeps its own slot, timeout, panic catching and cancellation, and its slot is freed
//! as soon as it finishes, so the concurrency limit and the timing of the fetch loop are per
//! job as before. The fetch loop itself starts a batch's jobs (polls each once); most jobs of
//! a busy queue end right there, and only those still going move to a task of their own. A
//! drain of quick jobs then runs in one task, with no hand-off that could wake a parked thread
//! (measured on the memory driver: 14,000 context switches per million jobs before, 200 after).
//! What a batch shares is a thread, so a handler that blocks its thread also holds up the rest
//! of its batch (as it would hold up every task of that thread). When a pool's handlers have
//! lately spent long in their first polls (CPU work before their first await), a reservation
//! is split into one batch per runtime thread, each started in a task of its own, so that they
//! run side by side.
//!
//! Verdicts are reported to the driver as the [`super::outbox`] module describes.

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant as LeaseClock;
use tokio_util::sync::CancellationToken;

use crate::flow::is_step_id;
use crate::job::{Lease, ReservedJob};
use crate::observe::{EndedRuns, Ending};
use crate::run::Batch;
use crate::worker::execute::{self, HandlerFuture, Started, Verdict};
use crate::worker::lease::{self, Running};
use crate::worker::outbox::Settled;
use crate::worker::pool::Pool;

/// A reservation whose handlers are expected to spend longer than this in their first polls is
/// split into one batch per runtime thread. Quick handlers are cheaper run together; slow ones
/// (CPU work before their first await) would otherwise wait for each other on one thread.
const SPLIT_AFTER: Duration = Duration::from_micros(200);

impl Pool {
    /// Starts the reserved `jobs`: in this task when their handlers are quick to start, else
    /// in one task per runtime thread. Each job takes one of `permits`; the rest are released.
    /// Step jobs are started once their steps are read, unless `stop` was cancelled by then.
    pub(crate) async fn start_batches(
        self: &Arc<Self>,
        jobs: Vec<ReservedJob>,
        permits: OwnedSemaphorePermit,
        reserved_at: LeaseClock,
        workers: usize,
        stop: &CancellationToken,
    ) {
        if jobs.is_empty() || self.handed_back_late(&jobs, reserved_at) {
            return;
        }
        // Workflow steps' jobs first have their steps read, in a task of their own.
        let (jobs, permits) = self.set_steps_aside(jobs, permits, reserved_at, workers, stop);
        if !jobs.is_empty() {
            self.start_read(jobs, permits, reserved_at, workers).await;
        }
    }

    /// Hands back a reservation whose reply came back too late to run before its leases end
    /// rather than starting it (if the leases already ended, the storage refuses that and the
    /// jobs are someone else's). Returns whether it did.
    pub(crate) fn handed_back_late(&self, jobs: &[ReservedJob], reserved_at: LeaseClock) -> bool {
        if LeaseClock::now() + lease::safety_margin(self.lease) < reserved_at + self.lease {
            return false;
        }
        tracing::warn!(lane = %self.lane(), jobs = jobs.len(), "reservation arrived too late to run before its leases end; handing the jobs back");
        self.outbox.stats.add_leases_expired(jobs.len());
        self.requeue_unrun(jobs);
        true
    }

    /// [`start_batches`](Self::start_batches) for jobs that may all run.
    pub(crate) async fn start_read(
        self: &Arc<Self>,
        mut jobs: Vec<ReservedJob>,
        mut permits: OwnedSemaphorePermit,
        reserved_at: LeaseClock,
        workers: usize,
    ) {
        self.scope.observe.jobs_taken(&jobs);
        let size = self.batch_size(jobs.len(), workers);
        if size >= jobs.len() {
            let taken = permits
                .split(jobs.len())
                .expect("one permit per reserved job");
            return self.start_here(jobs, taken, reserved_at).await;
        }
        while !jobs.is_empty() {
            let rest = jobs.split_off(size.min(jobs.len()));
            let taken = permits
                .split(jobs.len())
                .expect("one permit per reserved job");
            let (batch, registered, payloads) = self.new_batch(jobs, reserved_at);
            let pool = self.clone();
            tokio::spawn(async move {
                pool.start_batch(batch, registered, payloads, taken, Place::OwnTask)
                    .await
            });
            jobs = rest;
        }
    }

    /// How many of `got` reserved jobs go in one batch: all of them, unless their handlers'
    /// first polls have lately taken long enough that the runtime's `workers` threads should
    /// share them.
    fn batch_size(&self, got: usize, workers: usize) -> usize {
        let expected = u128::from(self.start_cost.load(Ordering::Relaxed)) * got as u128;
        if workers <= 1 || expected <= SPLIT_AFTER.as_nanos() {
            return got.max(1);
        }
        got.div_ceil(workers)
    }

    /// Folds one batch's first-poll time per job into the pool's running average (weight 1/8).
    fn record_start_cost(&self, elapsed: Duration, jobs: usize) {
        let sample = (elapsed.as_nanos() / jobs.max(1) as u128).min(u64::MAX as u128) as u64;
        let old = self.start_cost.load(Ordering::Relaxed);
        let new = old - old / 8 + sample / 8;
        self.start_cost.store(new, Ordering::Relaxed);
    }

    /// A batch of the reserved `jobs`, registered with the running batches (so a shutdown from
    /// now on reaches it) under the returned number, and the jobs' payloads.
    fn new_batch(
        &self,
        jobs: Vec<ReservedJob>,
        reserved_at: LeaseClock,
    ) -> (Arc<Batch>, Registered, Vec<Bytes>) {
        let expires = reserved_at + self.lease;
        let timeout = self.registration.definition.timeout;
        let deadline = timeout.map(|limit| LeaseClock::now() + limit);
        let batch = Arc::new(Batch::new(self.scope.clone(), &jobs, expires, deadline));
        let payloads: Vec<Bytes> = jobs.into_iter().map(|job| job.payload).collect();
        let number = self.running.insert(batch.clone());
        let registered = Registered {
            running: self.running.clone(),
            number,
            removed: AtomicBool::new(false),
        };
        (batch, registered, payloads)
    }

    /// Starts a batch in the fetch loop's own task. Most runs of a busy queue end in their first
    /// poll: then no task is spawned and no other task is woken, so a drain of quick jobs keeps
    /// to the fetch loop alone (each hand-off between two tasks can wake a parked thread, and
    /// Tokio wakes one every few hand-offs however short the tasks are). Runs still going after
    /// their first poll move to a task of their own.
    async fn start_here(
        self: &Arc<Self>,
        jobs: Vec<ReservedJob>,
        permits: OwnedSemaphorePermit,
        reserved_at: LeaseClock,
    ) {
        let (batch, registered, payloads) = self.new_batch(jobs, reserved_at);
        self.start_batch(batch, registered, payloads, permits, Place::FetchLoop)
            .await;
    }

    /// Starts each run of a batch (most finish right there), then has the rest driven: in a
    /// new task when started by the fetch loop, else in this one.
    async fn start_batch(
        self: &Arc<Self>,
        batch: Arc<Batch>,
        registered: Registered,
        payloads: Vec<Bytes>,
        mut permits: OwnedSemaphorePermit,
        place: Place,
    ) {
        let (ended, running) = self.start_runs(&batch, payloads).await;
        let progress = if running.is_empty() {
            Progress::AllEnded
        } else {
            Progress::RunsGoing
        };
        if !ended.is_empty() {
            self.ended_together(ended, &mut permits, progress, &registered, place)
                .await;
        }
        if running.is_empty() {
            return;
        }
        match place {
            Place::FetchLoop => {
                tokio::spawn(self.clone().drive(batch, registered, running, permits));
            }
            Place::OwnTask => {
                self.clone()
                    .drive(batch, registered, running, permits)
                    .await;
            }
        }
    }

    /// Builds and polls once each run of `batch`, in this task's context. Returns the verdicts
    /// of the runs that ended, and the runs still going, by index.
    async fn start_runs(
        &self,
        batch: &Arc<Batch>,
        mut payloads: Vec<Bytes>,
    ) -> (Settled, Vec<(usize, HandlerFuture)>) {
        let count = payloads.len();
        let began = Instant::now();
        let started: Vec<Started> = poll_fn(|cx| {
            let started = payloads.drain(..).enumerate().map(|(index, payload)| {
                execute::start(self.registration, batch, index, payload, &self.state, cx)
            });
            Poll::Ready(started.collect())
        })
        .await;
        let polled = Instant::now();
        self.record_start_cost(polled.saturating_duration_since(began), count);
        let mut ended = Vec::new();
        let mut running = Vec::new();
        // The runs that ended in their first polls are reported together.
        let observe = &batch.scope.observe;
        let mut reports = batch.started.map(|_| observe.ending(count, polled));
        for (index, started) in started.into_iter().enumerate() {
            match started {
                Started::Ended(verdict) => {
                    ended.push(self.ended(batch, index, verdict, reports.as_mut()))
                }
                Started::Running(future) => running.push((index, future)),
            }
        }
        if let Some(reports) = reports {
            observe.send(&batch.scope.lane, reports);
        }
        (ended, running)
    }

    /// Drives a batch's runs that did not end in their first poll. Whenever some finish, their
    /// verdicts are left for reporting and then their slots are freed, all at once.
    ///
    /// Each run is polled again here with this task's waker: a run's first poll may have
    /// registered another task's waker (see [`execute::start`]), and `FuturesUnordered` polls
    /// every run pushed into it at least once.
    async fn drive(
        self: Arc<Self>,
        batch: Arc<Batch>,
        registered: Registered,
        running: Vec<(usize, HandlerFuture)>,
        mut permits: OwnedSemaphorePermit,
    ) {
        let mut pending: FuturesUnordered<_> = running
            .into_iter()
            .map(|(index, future)| self.finish(&batch, index, future))
            .collect();
        while let Some(ended) = next_finished(&mut pending).await {
            let progress = if pending.is_empty() {
                Progress::AllEnded
            } else {
                Progress::RunsGoing
            };
            self.ended_together(ended, &mut permits, progress, &registered, Place::OwnTask)
                .await;
        }
    }

    async fn finish(&self, batch: &Batch, index: usize, future: HandlerFuture) -> (Lease, Verdict) {
        let verdict = execute::finish(self.registration, batch, index, future).await;
        let observe = &batch.scope.observe;
        let mut reports = batch.started.map(|_| observe.ending(1, Instant::now()));
        let ended = self.ended(batch, index, verdict, reports.as_mut());
        if let Some(reports) = reports {
            observe.send(&batch.scope.lane, reports);
        }
        ended
    }

    /// Marks a run finished, logs a failure, reports the run to its observers (into `reports`,
    /// when the batch's runs are observed), and pairs the verdict with the lease.
    fn ended(
        &self,
        batch: &Batch,
        index: usize,
        verdict: Verdict,
        reports: Option<&mut EndedRuns>,
    ) -> (Lease, Verdict) {
        let run = &batch.runs[index];
        run.finish();
        if let Verdict::Failed(failure) = &verdict {
            tracing::warn!(
                lane = %self.lane(), id = %run.lease.id, attempt = run.attempt,
                max_attempts = run.max_attempts, error = %failure.error,
                retry_in = ?failure.retry_in, "job failed"
            );
        }
        if let Some(tally) = &self.tally {
            tally.count(&verdict);
        }
        if let (Some(started), Some(reports)) = (batch.started, reports) {
            let ending = match &verdict {
                Verdict::Done(_) => Ending::Completed,
                Verdict::Failed(failure) => match failure.retry_in {
                    Some(retry_in) => Ending::Retrying {
                        error: &failure.error,
                        retry_in,
                    },
                    None => Ending::Failed {
                        error: &failure.error,
                    },
                },
                Verdict::Requeue | Verdict::Postpone(_) => Ending::Requeued,
                Verdict::Abandoned => Ending::LeaseLost,
                Verdict::Cancelled => Ending::Cancelled,
            };
            let scope = &batch.scope;
            scope
                .observe
                .run_ended(reports, &run.lease.id, run.attempt, started, ending);
        }
        (run.lease.clone(), verdict)
    }

    /// Leaves the verdicts of runs that ended together for reporting and frees their slots.
    /// Once all the batch's runs have ended, a batch in its own task reports them itself (it may
    /// wait on the storage); otherwise the settling task does, so that neither the fetch loop
    /// nor runs still going wait on a report.
    async fn ended_together(
        &self,
        ended: Settled,
        permits: &mut OwnedSemaphorePermit,
        progress: Progress,
        registered: &Registered,
        place: Place,
    ) {
        let last = matches!(progress, Progress::AllEnded);
        if last {
            registered.remove();
        }
        let count = ended.len();
        // Left before the slots are freed: shutdown waits for every slot, then reports
        // whatever is still waiting. Successes wait for the fetch loop's next reserve, which
        // acks them, or completes them when their handler keeps something and the driver does
        // that with a reserve; otherwise they are completed with the other reports.
        let outbox = &self.outbox;
        let with_reserve = outbox.keep.is_nothing() || outbox.completes_with_reserve;
        let (done, other): (Settled, Settled) = ended.into_iter().partition(|(lease, verdict)| {
            // A workflow step's success is recorded in its workflow before its ack, with
            // the other reports (one compare of the id's opening per success).
            with_reserve && matches!(verdict, Verdict::Done(_)) && !is_step_id(&lease.id)
        });
        if self.outbox.keep.is_nothing() {
            self.outbox
                .finished
                .push(done.into_iter().map(|(lease, _)| lease));
        } else {
            self.outbox
                .finished
                .push_completions(done.into_iter().map(|(lease, verdict)| match verdict {
                    Verdict::Done(result) => (lease, result),
                    _ => (lease, None),
                }));
        }
        let report = !other.is_empty();
        if report {
            self.outbox.settlements.leave(other);
        }
        drop(permits.split(count).expect("one permit per running job"));
        if report && last && matches!(place, Place::OwnTask) {
            self.outbox.settlements.report(&self.outbox).await;
        } else if report {
            self.outbox.settlements.wake_settler();
        }
    }
}

/// Which task starts a batch's runs.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// The pool's fetch loop, which must not wait on the storage for a report.
    FetchLoop,
    /// A task of the batch's own.
    OwnTask,
}

/// Whether a batch still has runs going after some ended.
#[derive(Clone, Copy, Debug)]
enum Progress {
    RunsGoing,
    AllEnded,
}

/// A batch's place among the pool's running batches, given up when the batch's last run ends,
/// or when the task driving it ends in any other way (a panic in this crate), so that no batch
/// stays registered, and renewed, after its task died: its jobs are then reaped.
#[derive(Debug)]
struct Registered {
    running: Arc<Running>,
    number: u64,
    removed: AtomicBool,
}

impl Registered {
    fn remove(&self) {
        if !self.removed.swap(true, Ordering::Relaxed) {
            self.running.remove(self.number);
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.remove();
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
