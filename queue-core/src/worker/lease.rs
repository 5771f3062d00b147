//! The jobs a pool is running, and the one timer per process that renews their leases.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::hash::IdHashMap;
use crate::job::{Lane, Lease};
use crate::worker::run::{CancelReason, RunState};

/// The running jobs of one pool, by lease: the same job id can appear twice if a run outlived
/// its lease and the job was handed out again.
///
/// Runs are added and removed a batch at a time, one lock per reservation and per group of
/// runs finishing together.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) lane: Lane,
    runs: Mutex<IdHashMap<Lease, Arc<RunState>>>,
}

impl Running {
    pub(crate) fn new(lane: Lane) -> Self {
        Self {
            lane,
            runs: Mutex::new(IdHashMap::default()),
        }
    }

    pub(crate) fn insert_all<'a>(&self, runs: impl IntoIterator<Item = &'a Arc<RunState>>) {
        let mut map = self.runs.lock().unwrap();
        for run in runs {
            map.insert(run.lease.clone(), run.clone());
        }
    }

    pub(crate) fn remove_all<'a>(&self, leases: impl IntoIterator<Item = &'a Lease>) {
        let mut map = self.runs.lock().unwrap();
        for lease in leases {
            map.remove(lease);
        }
    }

    /// Cancels every running job.
    pub(crate) fn cancel_all(&self, reason: CancelReason) {
        for run in self.runs.lock().unwrap().values() {
            run.cancel.cancel(reason);
        }
    }

    fn snapshot(&self) -> Vec<Arc<RunState>> {
        self.runs.lock().unwrap().values().cloned().collect()
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
            let runs = running.snapshot();
            if runs.is_empty() {
                continue;
            }
            let leases: Vec<Lease> = runs.iter().map(|run| run.lease.clone()).collect();
            let sent = Instant::now();
            match driver.renew(&running.lane, &leases, lease).await {
                Ok(held) => {
                    for (run, held) in runs.iter().zip(held) {
                        if held {
                            run.renewed(sent + lease);
                        } else {
                            tracing::warn!(lane = %running.lane, id = %run.lease.id, "lease lost; cancelling the run");
                            run.cancel.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(lane = %running.lane, %error, "could not renew leases; retrying next period");
                    let now = Instant::now();
                    for run in &runs {
                        if run.expired(now) {
                            tracing::warn!(lane = %running.lane, id = %run.lease.id, "lease ran out while renewals failed; cancelling the run");
                            run.cancel.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
            }
        }
    }
}
