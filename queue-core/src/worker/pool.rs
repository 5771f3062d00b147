//! One handler's pool: reserve as many jobs as there are free slots, run them, settle them.
//!
//! Jobs that succeed are acked with the pool's next reserve (one storage round trip for both);
//! while the pool waits for work, a settle task acks them instead, so a finished job never
//! waits for the next dispatch to be acked. Failures and requeues go through the settle task.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::context::State;
use crate::driver::Driver;
use crate::job::{Lane, Lease, ReservedJob};
use crate::registry::Registration;
use crate::worker::execute::{execute, Verdict};
use crate::worker::lease::{CancelReason, JobControl, Running};

/// Largest number of settlements sent to the driver in one call.
const SETTLE_BATCH: usize = 512;

/// Everything a pool needs; shared by its job tasks.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) registration: &'static Registration,
    pub(crate) lane: Lane,
    pub(crate) concurrency: usize,
    pub(crate) lease: Duration,
    pub(crate) grace: Duration,
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) state: Arc<State>,
    pub(crate) running: Arc<Running>,
    pub(crate) finished: Finished,
}

/// Leases of jobs that succeeded, waiting for their ack.
#[derive(Debug, Default)]
pub(crate) struct Finished {
    inner: Mutex<FinishedInner>,
    /// Tells the settle task to ack what is waiting.
    flush: Notify,
}

#[derive(Debug, Default)]
struct FinishedInner {
    leases: Vec<Lease>,
    /// True while the fetch loop will not reserve soon (it waits for work, or stopped): then
    /// the settle task acks.
    idle: bool,
}

impl Finished {
    fn push(&self, lease: Lease) {
        let mut inner = self.inner.lock();
        inner.leases.push(lease);
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

    /// The fetch loop goes idle: the settle task acks from now on.
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
    /// Fetches and runs jobs until `stop` is cancelled, then drains: running jobs get `grace` to
    /// finish, the rest are cancelled and requeued.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let (settle_tx, settle_rx) = mpsc::unbounded_channel();
        let settler = tokio::spawn(settle(self.clone(), settle_rx));
        let mut failures = 0u32;

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

            let done = self.finished.take_for_reserve();
            let reserved = self
                .driver
                .ack_and_reserve(&self.lane, &done, wanted, self.lease)
                .await;
            let reservation = match reserved {
                Ok((_, reservation)) => {
                    failures = 0;
                    reservation
                }
                Err(error) => {
                    // Sent again with the next reserve, or by the settle task if it stops.
                    self.finished.put_back(done);
                    drop(permits);
                    failures += 1;
                    let pause = retry_pause(failures);
                    tracing::warn!(lane = %self.lane, %error, retry_in = ?pause, "could not reserve jobs");
                    tokio::select! {
                        _ = stop.cancelled() => break 'fetch,
                        _ = tokio::time::sleep(pause) => continue 'fetch,
                    }
                }
            };

            let got = reservation.jobs.len();
            for job in reservation.jobs {
                let permit = permits.split(1).expect("one permit per reserved job");
                self.clone().spawn_job(job, permit, settle_tx.clone());
            }
            drop(permits);

            if got == wanted {
                // More work is waiting. Let the jobs just started run before counting free
                // slots again: short jobs finish meanwhile, so the next reserve takes (and
                // acks) a bigger batch, which costs the storage less per job.
                tokio::task::yield_now().await;
            }

            if got < wanted {
                // The lane is drained: sleep until a wake-up or the next due time.
                self.finished.go_idle();
                tokio::select! {
                    _ = stop.cancelled() => break 'fetch,
                    waited = self.driver.wait(&self.lane, reservation.next_due) => {
                        if let Err(error) = waited {
                            failures += 1;
                            let pause = retry_pause(failures);
                            tracing::warn!(lane = %self.lane, %error, "could not wait for jobs");
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
            tracing::info!(lane = %self.lane, "grace period over; cancelling running jobs for requeue");
            self.running.cancel_all(CancelReason::Shutdown);
            let _ = slots.acquire_many(all).await;
        }
        drop(settle_tx);
        let _ = settler.await;
    }

    fn spawn_job(
        self: Arc<Self>,
        job: ReservedJob,
        permit: OwnedSemaphorePermit,
        settle_tx: mpsc::UnboundedSender<(Lease, Verdict)>,
    ) {
        // Registered before the task starts, so a shutdown right now still reaches it.
        let lease = job.lease();
        let control = Arc::new(JobControl::new(self.lease));
        self.running.insert(lease.clone(), control.clone());
        tokio::spawn(async move {
            let verdict = execute(
                self.registration,
                &self.lane,
                &job,
                &control,
                &self.state,
                &self.driver,
            )
            .await;
            self.running.remove(&lease);
            if let Verdict::Failed(failure) = &verdict {
                tracing::warn!(
                    lane = %self.lane, id = %job.id, attempt = job.attempt,
                    max_attempts = job.max_attempts, error = %failure.error,
                    retry_in = ?failure.retry_in, "job failed"
                );
            }
            match verdict {
                // Acked with the next reserve (or by the settle task when idle).
                Verdict::Done => self.finished.push(lease),
                other => {
                    let _ = settle_tx.send((lease, other));
                }
            }
            drop(permit);
        });
    }
}

/// Reports verdicts to the driver: failures and requeues as they come (requeues that arrive
/// together in one call), and acks of finished jobs while the fetch loop is idle.
async fn settle(pool: Arc<Pool>, mut rx: mpsc::UnboundedReceiver<(Lease, Verdict)>) {
    let mut batch = Vec::with_capacity(SETTLE_BATCH);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, SETTLE_BATCH) => {
                if received == 0 {
                    break;
                }
            }
            _ = pool.finished.flush.notified() => {
                ack(&pool, pool.finished.take()).await;
                continue;
            }
        }
        let mut requeues = Vec::new();
        for (lease, verdict) in batch.drain(..) {
            match verdict {
                Verdict::Done => ack(&pool, vec![lease]).await,
                Verdict::Requeue => requeues.push(lease),
                Verdict::Abandoned => {}
                Verdict::Failed(failure) => {
                    persist(&pool, "fail", || {
                        pool.driver.fail(&pool.lane, &lease, failure.clone())
                    })
                    .await;
                }
            }
        }
        if !requeues.is_empty() {
            persist(&pool, "requeue", || {
                pool.driver.requeue(&pool.lane, &requeues)
            })
            .await;
        }
    }
    // Every job has ended (the pool waited for its slots): ack what is left.
    ack(&pool, pool.finished.take()).await;
}

async fn ack(pool: &Pool, leases: Vec<Lease>) {
    for chunk in leases.chunks(SETTLE_BATCH) {
        persist(pool, "ack", || pool.driver.ack(&pool.lane, chunk)).await;
    }
}

/// Retries a settlement while the storage is unreachable, for up to one lease: past that the
/// lease has expired and the reaper hands the job out again anyway.
async fn persist<T, F, Fut>(pool: &Pool, what: &str, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let give_up = tokio::time::Instant::now() + pool.lease;
    let mut failures = 0;
    loop {
        match call().await {
            Ok(_) => return,
            Err(error) => {
                failures += 1;
                if tokio::time::Instant::now() >= give_up || !error.is_retryable() {
                    tracing::error!(lane = %pool.lane, %error, "could not {what} jobs; their leases will expire and they will run again");
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
