//! The jobs a pool is running, and the one timer per process that renews their leases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::{JobId, Lane, Lease};

/// Why a running job was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CancelReason {
    /// Still running, not cancelled.
    None = 0,
    /// The worker is shutting down and the grace period is over: requeue it.
    Shutdown = 1,
    /// The lease was lost (reaped or deleted): someone else owns the job now.
    LeaseLost = 2,
}

/// The handle on one running job: its token and how to stop it.
#[derive(Debug)]
pub(crate) struct JobControl {
    pub(crate) token: u64,
    pub(crate) cancel: CancellationToken,
    reason: AtomicU8,
}

impl JobControl {
    pub(crate) fn new(token: u64) -> Self {
        Self {
            token,
            cancel: CancellationToken::new(),
            reason: AtomicU8::new(CancelReason::None as u8),
        }
    }

    /// Cancels the run, keeping the first reason given.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        let _ = self.reason.compare_exchange(
            CancelReason::None as u8,
            reason as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.cancel.cancel();
    }

    pub(crate) fn reason(&self) -> CancelReason {
        match self.reason.load(Ordering::Acquire) {
            1 => CancelReason::Shutdown,
            2 => CancelReason::LeaseLost,
            _ => CancelReason::None,
        }
    }
}

/// The running jobs of one pool.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) lane: Lane,
    jobs: Mutex<HashMap<JobId, Arc<JobControl>>>,
}

impl Running {
    pub(crate) fn new(lane: Lane) -> Self {
        Self {
            lane,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn insert(&self, id: JobId, control: Arc<JobControl>) {
        self.jobs.lock().unwrap().insert(id, control);
    }

    pub(crate) fn remove(&self, id: &JobId) {
        self.jobs.lock().unwrap().remove(id);
    }

    /// Cancels every running job.
    pub(crate) fn cancel_all(&self, reason: CancelReason) {
        for control in self.jobs.lock().unwrap().values() {
            control.cancel(reason);
        }
    }

    fn snapshot(&self) -> Vec<(Lease, Arc<JobControl>)> {
        self.jobs
            .lock()
            .unwrap()
            .iter()
            .map(|(id, c)| {
                let lease = Lease {
                    id: id.clone(),
                    token: c.token,
                };
                (lease, c.clone())
            })
            .collect()
    }
}

/// Renews the leases of every pool's running jobs every `lease / 3`, until `stop` is cancelled.
/// A lease the driver no longer recognizes cancels its job.
pub(crate) async fn renew_leases(
    driver: Arc<dyn Driver>,
    pools: Vec<Arc<Running>>,
    lease: Duration,
    stop: CancellationToken,
) {
    let period = lease / 3;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        for running in &pools {
            let jobs = running.snapshot();
            if jobs.is_empty() {
                continue;
            }
            let leases: Vec<Lease> = jobs.iter().map(|(lease, _)| lease.clone()).collect();
            match driver.renew(&running.lane, &leases, lease).await {
                Ok(held) => {
                    for ((lease, control), held) in jobs.iter().zip(held) {
                        if !held {
                            tracing::warn!(lane = %running.lane, id = %lease.id, "lease lost; cancelling the run");
                            control.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(lane = %running.lane, %error, "could not renew leases; retrying next period");
                }
            }
        }
    }
}
