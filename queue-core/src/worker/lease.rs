//! The jobs a pool is running, and the one timer per process that renews their leases.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::driver::Driver;
use crate::hash::IdHashMap;
use crate::job::{Lane, Lease};
use crate::worker::run::{Batch, CancelReason, RunState};

/// The running batches of one pool. A batch stays until all its runs finish; runs that
/// finished earlier are skipped.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) lane: Lane,
    batches: Mutex<Batches>,
}

#[derive(Debug, Default)]
struct Batches {
    by_number: IdHashMap<u64, Arc<Batch>>,
    next: u64,
}

impl Running {
    pub(crate) fn new(lane: Lane) -> Self {
        Self {
            lane,
            batches: Mutex::default(),
        }
    }

    /// Adds a batch; returns the number to remove it by.
    pub(crate) fn insert(&self, batch: Arc<Batch>) -> u64 {
        let mut batches = self.batches.lock().unwrap();
        let number = batches.next;
        batches.next += 1;
        batches.by_number.insert(number, batch);
        number
    }

    pub(crate) fn remove(&self, number: u64) {
        self.batches.lock().unwrap().by_number.remove(&number);
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

    fn snapshot(&self) -> Vec<Arc<Batch>> {
        self.batches
            .lock()
            .unwrap()
            .by_number
            .values()
            .cloned()
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
            let batches = running.snapshot();
            // The runs still going, each with its batch, in the order their leases are sent.
            let runs: Vec<(&Batch, &RunState)> = batches
                .iter()
                .flat_map(|batch| batch.running().map(move |run| (&**batch, run)))
                .collect();
            if runs.is_empty() {
                continue;
            }
            let leases: Vec<Lease> = runs.iter().map(|(_, run)| run.lease.clone()).collect();
            let sent = Instant::now();
            match driver.renew(&running.lane, &leases, lease).await {
                Ok(held) => {
                    for batch in &batches {
                        batch.renewed(sent + lease);
                    }
                    for ((_, run), held) in runs.iter().zip(held) {
                        if !held {
                            tracing::warn!(lane = %running.lane, id = %run.lease.id, "lease lost; cancelling the run");
                            run.cancel.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(lane = %running.lane, %error, "could not renew leases; retrying next period");
                    let now = Instant::now();
                    for (batch, run) in &runs {
                        if batch.expired(now) {
                            tracing::warn!(lane = %running.lane, id = %run.lease.id, "lease ran out while renewals failed; cancelling the run");
                            run.cancel.cancel(CancelReason::LeaseLost);
                        }
                    }
                }
            }
        }
    }
}
