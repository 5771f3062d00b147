//! Counters of what went wrong around a worker's leases and settlements.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts, since the worker was built, the events that mean a job may run again: leases lost
/// or run out, and settlements the storage refused or that could not be sent. Each event is
/// also logged with the job's id. Read them through [`Worker::stats`](crate::Worker::stats).
#[derive(Debug, Default)]
pub struct WorkerStats {
    leases_lost: AtomicU64,
    cancelled: AtomicU64,
    leases_expired: AtomicU64,
    settlements_refused: AtomicU64,
    settlements_dropped: AtomicU64,
    reserves_ahead: AtomicU64,
    handed_back: AtomicU64,
}

impl WorkerStats {
    /// Runs cancelled because the storage no longer held their lease (the job was reaped,
    /// deleted or purged while it ran).
    pub fn leases_lost(&self) -> u64 {
        self.leases_lost.load(Ordering::Relaxed)
    }

    /// Runs cancelled by the worker's own clock because no renewal confirmed their lease in
    /// time (the storage was unreachable or too slow), before another worker could take them;
    /// also jobs of a reservation that came back too late to start before its leases end,
    /// handed back unrun.
    pub fn leases_expired(&self) -> u64 {
        self.leases_expired.load(Ordering::Relaxed)
    }

    /// Acks, failures and requeues the storage refused because the lease was no longer current
    /// (the job had been handed out again, deleted or purged).
    pub fn settlements_refused(&self) -> u64 {
        self.settlements_refused.load(Ordering::Relaxed)
    }

    /// Acks, failures and requeues given up after retrying until their lease ran out; their
    /// jobs run again once the storage reaps them.
    pub fn settlements_dropped(&self) -> u64 {
        self.settlements_dropped.load(Ordering::Relaxed)
    }

    /// Runs stopped because their job was cancelled while it ran
    /// ([`Queue::cancel`](crate::Queue::cancel)); they are not counted as lost leases.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Reserves sent while the jobs of an earlier one were starting, to hide the round trip
    /// to a storage across a network (see the worker's fetch loop).
    pub fn reserves_sent_ahead(&self) -> u64 {
        self.reserves_ahead.load(Ordering::Relaxed)
    }

    /// Jobs reserved ahead handed back unrun, without spending an attempt: at shutdown, or
    /// when no slot freed for them within a quarter of their lease.
    pub fn jobs_handed_back(&self) -> u64 {
        self.handed_back.load(Ordering::Relaxed)
    }

    pub(crate) fn reserve_sent_ahead(&self) {
        self.reserves_ahead.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_handed_back(&self, n: usize) {
        self.handed_back.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn cancelled_run(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lease_lost(&self) {
        self.leases_lost.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_leases_expired(&self, n: usize) {
        self.leases_expired.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_refused(&self, n: usize) {
        self.settlements_refused
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped(&self, n: usize) {
        self.settlements_dropped
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}
