//! One queue's jobs and lanes: the state machine behind the memory driver.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use queue_core::{
    Counts, Dispatched, Failure, JobId, JobInfo, JobState, Lease, NewJob, Reservation, ReservedJob,
};
use tokio::sync::Notify;

/// One stored job.
#[derive(Debug)]
struct Record {
    name: Arc<str>,
    payload: Bytes,
    attempts: u32,
    max_attempts: u32,
    priority: i8,
    created_at: SystemTime,
    state: JobState,
    /// Enqueue order, for FIFO among equal due times.
    seq: u64,
    /// Place among ready jobs of its priority (see `LaneState::push_ready`).
    rank: i64,
    /// Due time while scheduled, lease deadline while active (ms on the driver clock).
    at: u64,
    token: u64,
    last_error: Option<String>,
    failed_at: Option<SystemTime>,
    progress: Option<serde_json::Value>,
}

/// A lane's indexes of job ids by state.
#[derive(Debug, Default)]
pub(crate) struct LaneState {
    /// Priority 0, FIFO.
    ready: VecDeque<JobId>,
    /// Other priorities, keyed by (-priority, rank): the first entry runs first.
    prioritized: BTreeMap<(i16, i64), JobId>,
    /// Ranks handed out at the back (counting up) and the front (counting down) of the
    /// priorities, the same rule as the Redis driver's priority scores.
    back: i64,
    front: i64,
    /// Keyed by (due time, seq).
    scheduled: BTreeMap<(u64, u64), JobId>,
    /// Keyed by (lease deadline, token).
    active: BTreeMap<(u64, u64), JobId>,
    /// Wakes one waiting worker; holds one wake-up when nobody waits.
    pub(crate) notify: Arc<Notify>,
}

impl LaneState {
    fn ready_len(&self) -> usize {
        self.ready.len() + self.prioritized.len()
    }

    /// Takes the next ready id: positive priorities, then priority 0, then negative ones.
    fn pop_ready(&mut self) -> Option<JobId> {
        if let Some(entry) = self.prioritized.first_entry() {
            if entry.key().0 < 0 {
                return Some(entry.remove());
            }
        }
        if let Some(id) = self.ready.pop_front() {
            return Some(id);
        }
        self.prioritized.pop_first().map(|(_, id)| id)
    }

    /// Makes a job ready: at the back of its priority (new and promoted jobs) or the front
    /// (returned jobs; the latest returned runs first).
    fn push_ready(&mut self, id: JobId, record: &mut Record, front: bool) {
        if record.priority == 0 {
            if front {
                self.ready.push_front(id);
            } else {
                self.ready.push_back(id);
            }
        } else {
            if front {
                self.front -= 1;
                record.rank = self.front;
            } else {
                self.back += 1;
                record.rank = self.back;
            }
            self.prioritized
                .insert((-(record.priority as i16), record.rank), id);
        }
    }

    fn remove_ready(&mut self, id: &JobId, record: &Record) {
        if record.priority == 0 {
            if let Some(pos) = self.ready.iter().position(|x| x == id) {
                self.ready.remove(pos);
            }
        } else {
            self.prioritized
                .remove(&(-(record.priority as i16), record.rank));
        }
    }

    /// The earliest due time or lease deadline.
    fn next_event(&self) -> Option<u64> {
        let due = self.scheduled.first_key_value().map(|((at, _), _)| *at);
        let deadline = self.active.first_key_value().map(|((at, _), _)| *at);
        match (due, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One queue.
#[derive(Debug)]
pub(crate) struct QueueState {
    name: String,
    jobs: HashMap<JobId, Record>,
    lanes: HashMap<Arc<str>, LaneState>,
    /// Failed ids, newest first.
    failed: VecDeque<JobId>,
    max_failed: usize,
    pub(crate) paused: bool,
    next_id: u64,
    next_seq: u64,
}

impl QueueState {
    pub(crate) fn new(name: &str, max_failed: usize) -> Self {
        Self {
            name: name.to_string(),
            jobs: HashMap::new(),
            lanes: HashMap::new(),
            failed: VecDeque::new(),
            max_failed,
            paused: false,
            next_id: 1,
            next_seq: 0,
        }
    }

    pub(crate) fn lane(&mut self, job: &str) -> &mut LaneState {
        if !self.lanes.contains_key(job) {
            self.lanes.insert(job.into(), LaneState::default());
        }
        self.lanes.get_mut(job).expect("lane just inserted")
    }

    pub(crate) fn enqueue(&mut self, job: NewJob, now: u64) -> Dispatched {
        let id = match job.chosen_id() {
            Some(id) if self.jobs.contains_key(id) => return Dispatched::new(id.clone(), false),
            Some(id) => id.clone(),
            None => {
                let id = JobId::from(self.next_id);
                self.next_id += 1;
                id
            }
        };
        self.next_seq += 1;
        let delay = job.delay_duration();
        let mut record = Record {
            name: job.name().into(),
            payload: job.payload().clone(),
            attempts: 0,
            max_attempts: job.max_attempts(),
            priority: job.priority_value(),
            created_at: SystemTime::now(),
            state: JobState::Ready,
            seq: self.next_seq,
            rank: 0,
            at: 0,
            token: 0,
            last_error: None,
            failed_at: None,
            progress: None,
        };
        let lane = self.lane(job.name());
        if delay.is_zero() {
            lane.push_ready(id.clone(), &mut record, false);
            lane.notify.notify_one();
        } else {
            let due = now + delay.as_millis().max(1) as u64;
            record.state = JobState::Scheduled;
            record.at = due;
            let earliest = lane.next_event().is_none_or(|next| due < next);
            lane.scheduled.insert((due, record.seq), id.clone());
            if earliest {
                // A waiting worker sleeps until the previous earliest time: let it look again.
                lane.notify.notify_one();
            }
        }
        self.jobs.insert(id.clone(), record);
        Dispatched::new(id, true)
    }

    pub(crate) fn reserve(
        &mut self,
        job: &str,
        max: usize,
        now: u64,
        lease_ms: u64,
        mut token: impl FnMut() -> u64,
    ) -> Reservation {
        self.reap(job, now);
        self.promote(job, now);
        let mut reservation = Reservation::default();
        if !self.paused {
            let deadline = now + lease_ms;
            let lane = self.lanes.get_mut(job).expect("lane created by reap");
            // An idle worker sleeps until the lane's earliest event; a lease ending sooner must
            // wake it, so it can reap the job if this worker dies.
            let earliest = lane.next_event().is_none_or(|next| deadline < next);
            while reservation.jobs.len() < max {
                let Some(id) = lane.pop_ready() else { break };
                let Some(record) = self.jobs.get_mut(&id) else {
                    continue;
                };
                record.attempts += 1;
                record.state = JobState::Active;
                record.token = token();
                record.at = deadline;
                lane.active.insert((deadline, record.token), id.clone());
                reservation.jobs.push(ReservedJob::new(
                    id,
                    record.token,
                    record.payload.clone(),
                    record.attempts,
                    record.max_attempts,
                ));
            }
            if earliest && !reservation.jobs.is_empty() {
                lane.notify.notify_one();
            }
        }
        let paused = self.paused;
        let lane = self.lane(job);
        if reservation.jobs.len() < max {
            reservation.next_due = lane
                .next_event()
                .map(|at| Duration::from_millis(at.saturating_sub(now)));
        } else if lane.ready_len() > 0 && !paused {
            // Work remains: pass the wake-up on to another waiting worker.
            lane.notify.notify_one();
        }
        reservation
    }

    /// Moves due scheduled jobs of `job`'s lane to ready.
    fn promote(&mut self, job: &str, now: u64) {
        let lane = self.lanes.get_mut(job).expect("lane created by reap");
        while let Some(entry) = lane.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            if let Some(record) = self.jobs.get_mut(&id) {
                record.state = JobState::Ready;
                lane.push_ready(id, record, false);
            }
        }
    }

    /// Returns expired leases of `job`'s lane to the head of ready, or fails them when their
    /// attempts are spent.
    pub(crate) fn reap(&mut self, job: &str, now: u64) -> usize {
        let lane = self.lane(job);
        let mut expired = Vec::new();
        while let Some(entry) = lane.active.first_entry() {
            if entry.key().0 > now {
                break;
            }
            expired.push(entry.remove());
        }
        let count = expired.len();
        for id in expired {
            let Some(record) = self.jobs.get_mut(&id) else {
                continue;
            };
            record.token = 0;
            let message = format!(
                "lease expired during attempt {} of {}: the worker running it stopped or lost its connection",
                record.attempts, record.max_attempts
            );
            if record.attempts >= record.max_attempts {
                self.move_to_failed(id, message);
            } else {
                record.last_error = Some(message);
                record.state = JobState::Ready;
                let lane = self.lanes.get_mut(job).expect("lane exists");
                lane.push_ready(id, record, true);
                lane.notify.notify_one();
            }
        }
        count
    }

    /// The active record of `lease` in lane `job`, if the token is current.
    fn leased(&mut self, job: &str, lease: &Lease) -> Option<&mut Record> {
        self.jobs
            .get_mut(&lease.id)
            .filter(|r| r.state == JobState::Active && r.token == lease.token && &*r.name == job)
    }

    /// Takes a leased job out of the active index; returns false for a stale lease.
    fn release(&mut self, job: &str, lease: &Lease) -> bool {
        let Some(record) = self.leased(job, lease) else {
            return false;
        };
        let key = (record.at, record.token);
        record.token = 0;
        self.lane(job).active.remove(&key);
        true
    }

    pub(crate) fn renew(&mut self, job: &str, lease: &Lease, deadline: u64) -> bool {
        let Some(record) = self.leased(job, lease) else {
            return false;
        };
        let old = (record.at, record.token);
        record.at = deadline;
        let lane = self.lane(job);
        if let Some(id) = lane.active.remove(&old) {
            lane.active.insert((deadline, lease.token), id);
        }
        true
    }

    pub(crate) fn ack(&mut self, job: &str, lease: &Lease) -> bool {
        if !self.release(job, lease) {
            return false;
        }
        self.jobs.remove(&lease.id);
        true
    }

    pub(crate) fn fail(&mut self, job: &str, lease: &Lease, failure: Failure, now: u64) -> bool {
        if !self.release(job, lease) {
            return false;
        }
        match failure.retry_in {
            None => self.move_to_failed(lease.id.clone(), failure.error),
            Some(delay) => {
                let due = now + delay.as_millis() as u64;
                let record = self.jobs.get_mut(&lease.id).expect("released job exists");
                record.last_error = Some(failure.error);
                record.state = JobState::Scheduled;
                record.at = due;
                let seq = record.seq;
                let lane = self.lane(job);
                let earliest = lane.next_event().is_none_or(|next| due < next);
                lane.scheduled.insert((due, seq), lease.id.clone());
                if earliest {
                    lane.notify.notify_one();
                }
            }
        }
        true
    }

    pub(crate) fn requeue(&mut self, job: &str, lease: &Lease) -> bool {
        if !self.release(job, lease) {
            return false;
        }
        let record = self.jobs.get_mut(&lease.id).expect("released job exists");
        record.attempts = record.attempts.saturating_sub(1);
        record.state = JobState::Ready;
        let lane = self.lanes.get_mut(job).expect("lane exists");
        lane.push_ready(lease.id.clone(), record, true);
        lane.notify.notify_one();
        true
    }

    pub(crate) fn progress(&mut self, lease: &Lease, progress: serde_json::Value) -> bool {
        match self.jobs.get_mut(&lease.id) {
            Some(r) if r.state == JobState::Active && r.token == lease.token => {
                r.progress = Some(progress);
                true
            }
            _ => false,
        }
    }

    fn move_to_failed(&mut self, id: JobId, error: String) {
        if let Some(record) = self.jobs.get_mut(&id) {
            record.state = JobState::Failed;
            record.last_error = Some(error);
            record.failed_at = Some(SystemTime::now());
            self.failed.push_front(id);
        }
        while self.failed.len() > self.max_failed {
            if let Some(old) = self.failed.pop_back() {
                self.jobs.remove(&old);
            }
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for lane in self.lanes.values() {
            counts.ready += lane.ready_len() as u64;
            counts.scheduled += lane.scheduled.len() as u64;
            counts.active += lane.active.len() as u64;
        }
        counts.failed = self.failed.len() as u64;
        counts.paused = self.paused;
        counts
    }

    pub(crate) fn info(&self, id: &JobId) -> Option<JobInfo> {
        let r = self.jobs.get(id)?;
        let mut info = JobInfo::new(
            id.clone(),
            self.name.clone(),
            r.name.to_string(),
            r.state,
            r.payload.clone(),
            r.attempts,
            r.max_attempts,
            r.priority,
            r.created_at,
        );
        info.failed_at = r.failed_at;
        info.last_error = r.last_error.clone();
        info.progress = r.progress.clone();
        Some(info)
    }

    pub(crate) fn failed(&self, offset: usize, limit: usize) -> Vec<JobInfo> {
        self.failed
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|id| self.info(id))
            .collect()
    }

    pub(crate) fn retry_failed(&mut self, id: Option<&JobId>) -> usize {
        let ids: Vec<JobId> = match id {
            Some(id) => self.failed.iter().filter(|x| *x == id).cloned().collect(),
            None => self.failed.iter().rev().cloned().collect(),
        };
        self.failed.retain(|x| !ids.contains(x));
        for id in &ids {
            let Some(record) = self.jobs.get_mut(id) else {
                continue;
            };
            record.attempts = 0;
            record.state = JobState::Ready;
            record.failed_at = None;
            let name = record.name.clone();
            let lane = self.lanes.entry(name).or_default();
            lane.push_ready(id.clone(), record, false);
            lane.notify.notify_one();
        }
        ids.len()
    }

    pub(crate) fn delete(&mut self, id: &JobId) -> bool {
        let Some(record) = self.jobs.remove(id) else {
            return false;
        };
        let lane = self.lane(&record.name.clone());
        match record.state {
            JobState::Ready => lane.remove_ready(id, &record),
            JobState::Scheduled => {
                lane.scheduled.remove(&(record.at, record.seq));
            }
            JobState::Active => {
                lane.active.remove(&(record.at, record.token));
            }
            JobState::Failed => self.failed.retain(|x| x != id),
            _ => {}
        }
        true
    }

    pub(crate) fn purge(&mut self) {
        self.jobs.clear();
        self.failed.clear();
        for lane in self.lanes.values_mut() {
            lane.ready.clear();
            lane.prioritized.clear();
            lane.scheduled.clear();
            lane.active.clear();
        }
    }

    pub(crate) fn resume(&mut self) {
        self.paused = false;
        for lane in self.lanes.values() {
            lane.notify.notify_one();
        }
    }
}
