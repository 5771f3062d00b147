//! Live workers' records, each kept until its heartbeat's time to live runs out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use queue_core::WorkerPresence;

/// Workers by id, with the instant their record expires.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    workers: Mutex<HashMap<String, (WorkerPresence, Instant)>>,
}

impl Presence {
    pub(crate) fn beat(&self, worker: &WorkerPresence, ttl: Duration) {
        let expires = Instant::now() + ttl;
        let mut workers = self.workers.lock();
        workers.retain(|_, (_, at)| *at > Instant::now());
        workers.insert(worker.id.clone(), (worker.clone(), expires));
    }

    pub(crate) fn retire(&self, id: &str) {
        self.workers.lock().remove(id);
    }

    /// The workers whose records have not expired, by id.
    pub(crate) fn live(&self) -> Vec<WorkerPresence> {
        let now = Instant::now();
        let mut live: Vec<WorkerPresence> = self
            .workers
            .lock()
            .values()
            .filter(|(_, at)| *at > now)
            .map(|(worker, _)| worker.clone())
            .collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        live
    }
}
