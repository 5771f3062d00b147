//! The jobs a pool is running, and the one timer per process that renews their leases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::job::{Lane, Lease};

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
    pub(crate) cancel: CancellationToken,
    reason: AtomicU8,
    /// When the lease runs out unless renewed (local clock, conservative).
    expires: Mutex<Instant>,
}

impl JobControl {
    pub(crate) fn new(lease: Duration) -> Self {
        Self {
            cancel: CancellationToken::new(),
            reason: AtomicU8::new(CancelReason::None as u8),
            expires: Mutex::new(Instant::now() + lease),
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

/// The running jobs of one pool, by lease: the same job id can appear twice if a run outlived
/// its lease and the job was handed out again.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) lane: Lane,
    jobs: Mutex<HashMap<Lease, Arc<JobControl>>>,
}

impl Running {
    pub(crate) fn new(lane: Lane) -> Self {
        Self {
            lane,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn insert(&self, lease: Lease, control: Arc<JobControl>) {
        self.jobs.lock().unwrap().insert(lease, control);
    }

    pub(crate) fn remove(&self, lease: &Lease) {
        self.jobs.lock().unwrap().remove(lease);
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
            .map(|(lease, c)| (lease.clone(), c.clone()))
            .collect()
    }
}

/// Renews the leases of every pool's running jobs every `lease / 3`, until `stop` is cancelled.
/// A lease the driver no longer recognizes cancels its job, and so does a lease that ran out
/// while renewals kept failing (the storage may have handed the job to another worker).
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
            let sent = Instant::now();
            match driver.renew(&running.lane, &leases, lease).await {
                Ok(held) => {
                    for ((lease_held, control), held) in jobs.iter().zip(held) {
                        if held {
                            *control.expires.lock().unwrap() = sent + lease;
                        } else {
                            tracing::warn!(lane = %running.lane, id = %lease_held.id, "lease lost; cancelling the run");
                            control.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(lane = %running.lane, %error, "could not renew leases; retrying next period");
                    let now = Instant::now();
                    for (lease_held, control) in &jobs {
                        if *control.expires.lock().unwrap() <= now {
                            tracing::warn!(lane = %running.lane, id = %lease_held.id, "lease ran out while renewals failed; cancelling the run");
                            control.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
            }
        }
    }
}
