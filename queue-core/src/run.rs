//! What running jobs share between their handlers' [`JobContext`](crate::JobContext)s and the
//! worker that drives them (its pool tasks and lease keeper): identity, lease expiry and
//! cancellation. It sits below both, so the public context holds no type of the worker's.

use std::future::{poll_fn, Future};
use std::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use futures_util::task::AtomicWaker;
use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::{Lane, Lease, ReservedJob};
use crate::observe::LaneObserver;

/// Why a running job was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CancelReason {
    /// Still running, not cancelled.
    None = 0,
    /// The worker is shutting down and the grace period is over: requeue it.
    Shutdown = 1,
    /// The lease was lost (reaped or deleted), or could not be confirmed before it ran out:
    /// someone else may own the job now.
    LeaseLost = 2,
    /// The job was cancelled ([`Queue::cancel`](crate::Queue::cancel)): its lease was revoked
    /// and storage keeps it as cancelled.
    Cancelled = 3,
}

/// Why storage no longer holds a lease of job `id` of `lane`: [`CancelReason::Cancelled`] when
/// the job was cancelled (storage keeps it as [`JobState::Cancelled`](crate::JobState)),
/// otherwise a lost lease. Asked only of drivers that cancel jobs, once per lease found gone,
/// within `limit`.
pub(crate) async fn why_lost(
    driver: &dyn Driver,
    lane: &Lane,
    id: &crate::job::JobId,
    limit: Duration,
) -> CancelReason {
    let (Some(_), Some(admin)) = (driver.cancel(), driver.admin()) else {
        return CancelReason::LeaseLost;
    };
    match tokio::time::timeout(limit, admin.job(lane.queue(), id)).await {
        Ok(Ok(Some(info))) if info.state == crate::job::JobState::Cancelled => {
            CancelReason::Cancelled
        }
        _ => CancelReason::LeaseLost,
    }
}

/// A pool's lane and driver, which every run's context reports and uses: one shared value, so
/// that a run takes one reference count rather than one per field.
#[derive(Debug)]
pub(crate) struct Scope {
    pub(crate) lane: Lane,
    pub(crate) driver: Arc<dyn Driver>,
    /// Where the lane's runs are reported (events, metrics), when anyone asked.
    pub(crate) observe: LaneObserver,
}

/// The runs of one reservation, allocated and registered together: the batch is the unit the
/// pool tracks for lease renewal and shutdown, so starting and finishing jobs costs no
/// allocation or map update per job.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) scope: Arc<Scope>,
    pub(crate) runs: Box<[RunState]>,
    /// When the handler's timeout ends the runs, if it has one (Tokio's clock, which the
    /// timeout runs on: paused in tests, it keeps the two in step).
    pub(crate) deadline: Option<tokio::time::Instant>,
    /// When the runs started, read only when they are observed (events or metrics on).
    pub(crate) started: Option<Instant>,
    /// When the leases run out unless renewed (local clock, conservative: the send time of the
    /// call that set them plus the lease), or `None` once the runs were cancelled for it. The
    /// batch's leases were taken together and are renewed together.
    expires: Mutex<Option<tokio::time::Instant>>,
}

impl Batch {
    pub(crate) fn new(
        scope: Arc<Scope>,
        jobs: &[ReservedJob],
        expires: tokio::time::Instant,
        deadline: Option<tokio::time::Instant>,
    ) -> Self {
        Self {
            started: scope.observe.on().then(Instant::now),
            scope,
            runs: jobs.iter().map(RunState::new).collect(),
            deadline,
            expires: Mutex::new(Some(expires)),
        }
    }

    /// The runs whose handlers have not finished.
    pub(crate) fn running(&self) -> impl Iterator<Item = &RunState> {
        self.runs.iter().filter(|run| !run.is_finished())
    }

    /// Records a renewal that extended the leases to `expires`, unless the runs were already
    /// cancelled for their leases.
    pub(crate) fn renewed(&self, expires: tokio::time::Instant) {
        if let Some(current) = self.expires.lock().expect("lease expiry lock").as_mut() {
            *current = (*current).max(expires);
        }
    }

    /// When the runs must stop, `margin` before their leases run out; `None` once they were
    /// cancelled for it.
    pub(crate) fn stop_at(&self, margin: Duration) -> Option<tokio::time::Instant> {
        let expires = *self.expires.lock().expect("lease expiry lock");
        expires.map(|at| at.checked_sub(margin).unwrap_or(at))
    }

    /// If the leases run out within `margin` of `now`, cancels the runs still going and returns
    /// how many it cancelled; they stop before the storage can hand their jobs to another
    /// worker.
    pub(crate) fn expire(&self, now: tokio::time::Instant, margin: Duration) -> usize {
        {
            let mut expires = self.expires.lock().expect("lease expiry lock");
            match *expires {
                Some(at) if at <= now + margin => *expires = None,
                _ => return 0,
            }
        }
        let mut cancelled = 0;
        for run in self.running() {
            run.cancel.cancel(CancelReason::LeaseLost);
            cancelled += 1;
        }
        cancelled
    }
}

/// One run of one job.
#[derive(Debug)]
pub(crate) struct RunState {
    pub(crate) lease: Lease,
    pub(crate) attempt: u32,
    pub(crate) max_attempts: u32,
    /// When the storage started the run ([`ReservedJob::started_at`]).
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) cancel: Cancel,
    /// Set when the handler is done, so renewals and shutdown skip the run.
    finished: AtomicBool,
}

impl RunState {
    fn new(job: &ReservedJob) -> Self {
        Self {
            lease: job.lease(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            started_at: job.started_at,
            cancel: Cancel::default(),
            finished: AtomicBool::new(false),
        }
    }

    pub(crate) fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

/// A run's cancellation: a reason, the pool task waiting for it, and a token for the handler.
#[derive(Debug, Default)]
pub(crate) struct Cancel {
    /// A [`CancelReason`]; the first one given wins.
    reason: AtomicU8,
    /// The pool task waiting in [`Cancel::cancelled`].
    waker: AtomicWaker,
    /// The token [`JobContext::cancelled`](crate::JobContext::cancelled) lends out. Made on
    /// first use: most handlers never ask, and a token costs an allocation and a lock per clone
    /// and drop.
    token: OnceLock<CancellationToken>,
}

impl Cancel {
    /// Cancels the run, keeping the first reason given.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        let _ = self.reason.compare_exchange(
            CancelReason::None as u8,
            reason as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        // Pairs with the fence in `token`: either this sees the token, or `token` sees the
        // reason and cancels the token itself.
        fence(Ordering::SeqCst);
        if let Some(token) = self.token.get() {
            token.cancel();
        }
        self.waker.wake();
    }

    pub(crate) fn reason(&self) -> CancelReason {
        match self.reason.load(Ordering::SeqCst) {
            1 => CancelReason::Shutdown,
            2 => CancelReason::LeaseLost,
            3 => CancelReason::Cancelled,
            _ => CancelReason::None,
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.reason() != CancelReason::None
    }

    /// The run's cancellation token, cancelled already if the run is.
    pub(crate) fn token(&self) -> &CancellationToken {
        let token = self.token.get_or_init(CancellationToken::new);
        fence(Ordering::SeqCst);
        if self.is_cancelled() {
            token.cancel();
        }
        token
    }

    /// Completes with the reason once the run is cancelled.
    pub(crate) fn cancelled(&self) -> impl Future<Output = CancelReason> + '_ {
        poll_fn(move |cx| {
            if self.is_cancelled() {
                return Poll::Ready(self.reason());
            }
            self.waker.register(cx.waker());
            // A cancel between the check and the registration woke the previous waker.
            match self.reason() {
                CancelReason::None => Poll::Pending,
                reason => Poll::Ready(reason),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_wakes_the_waiter() {
        let cancel = Arc::new(Cancel::default());
        let waiting = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!cancel.is_cancelled());
        cancel.cancel(CancelReason::LeaseLost);
        cancel.cancel(CancelReason::Shutdown);
        assert_eq!(waiting.await.unwrap(), CancelReason::LeaseLost);
        assert_eq!(cancel.reason(), CancelReason::LeaseLost);
    }

    #[test]
    fn a_token_made_before_or_after_the_cancel_is_cancelled() {
        let before = Cancel::default();
        let token = before.token().clone();
        assert!(!token.is_cancelled());
        before.cancel(CancelReason::Shutdown);
        assert!(token.is_cancelled());

        let after = Cancel::default();
        after.cancel(CancelReason::Shutdown);
        assert!(after.token().is_cancelled());
    }
}
