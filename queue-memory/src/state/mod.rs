//! One queue's jobs and lanes: the state machine behind the memory driver.

mod cancel;
mod inspect;
mod keyed;
mod lane;
mod limits;
mod list;
mod retain;
mod unique;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use queue_core::hash::IdHashMap;
use queue_core::{
    from_unix_ms, AttemptError, Dispatched, Failure, JobId, JobState, Lease, NewJob, Reservation,
    ReservedJob, MAX_DELAY, MAX_ERRORS_KEPT,
};

use crate::store::{Key, Store};

pub(crate) use lane::LaneState;

/// When a reserve at `now` (the driver's clock) starts its runs, given the wall time at the
/// clock's zero: in ms since the Unix epoch (kept in [`Record::started`]) and as handed out
/// ([`ReservedJob::started_at`]).
fn start_at(wall_epoch_ms: u64, now: u64) -> (u64, SystemTime) {
    let ms = wall_epoch_ms.saturating_add(now);
    (ms, from_unix_ms(ms))
}

/// A lane's index in [`QueueState::lanes`]. Records carry it instead of the job name, so
/// settling a job needs no name lookup and a record holds no pointer to the name.
pub(crate) type LaneId = u32;

/// One stored job. Kept small: a queue can hold millions of them, and the hot path touches one
/// record per transition.
#[derive(Debug)]
struct Record {
    payload: Bytes,
    created_at: SystemTime,
    /// Dispatch sequence: the order of jobs that are due together or returned together.
    seq: u64,
    /// Due time while scheduled, when it became ready while ready (the wait a reserve
    /// reports), lease deadline while active (ms on the driver clock).
    at: u64,
    /// Its lease's fencing token while active; once completed, when it completed (unix ms).
    token: u64,
    /// When its latest run started (unix ms; 0: never ran).
    started: u64,
    attempts: u32,
    max_attempts: u32,
    lane: LaneId,
    priority: i8,
    state: JobState,
    /// What only failed, retried or progressing jobs have.
    details: Option<Box<Details>>,
}

#[derive(Debug, Default)]
struct Details {
    last_error: Option<String>,
    /// The errors of failed runs and lost leases, oldest first, at most [`MAX_ERRORS_KEPT`].
    errors: VecDeque<AttemptError>,
    failed_at: Option<SystemTime>,
    progress: Option<serde_json::Value>,
    /// Runs whose lease expired (see `QueueState::reap`).
    lost_leases: u32,
    /// When its first run started (unix ms), once a second run started.
    first_started: Option<u64>,
    /// Failed because it was cancelled while it ran.
    cancelled: bool,
    /// When the lease of the run its cancel revoked would have ended (driver clock, ms): its
    /// worker may run it until then, so it is not handed out again before.
    revoked_until: Option<u64>,
    /// Its rate key, for a job of a keyed handler.
    rate_key: Option<Arc<str>>,
}

impl Details {
    /// Records the error of attempt `attempt`, whose run started at `started` (unix ms, 0:
    /// unknown): the last error, and the history's newest entry.
    fn add_error(&mut self, attempt: u32, error: String, started: u64) {
        if self.errors.len() >= MAX_ERRORS_KEPT {
            self.errors.pop_front();
        }
        let mut entry = AttemptError::new(attempt, SystemTime::now(), error.clone());
        if started != 0 {
            entry = entry.started(from_unix_ms(started));
        }
        self.errors.push_back(entry);
        self.last_error = Some(error);
    }
}

impl Record {
    fn details(&mut self) -> &mut Details {
        self.details.get_or_insert_with(Default::default)
    }

    /// Whether `lease` is this record's current lease in lane `lane`.
    fn leased_by(&self, lane: LaneId, lease: &Lease) -> bool {
        self.state == JobState::Active && self.token == lease.token && self.lane == lane
    }
}

/// A delay in milliseconds, at most [`MAX_DELAY`]'s: added to the driver clock it cannot
/// overflow.
fn delay_ms(delay: Duration) -> u64 {
    delay.min(MAX_DELAY).as_millis() as u64
}

/// The last error of a job whose lease expired and that goes back to ready.
fn lost_lease_message(attempt: u32, max: u32, lost: u32) -> String {
    format!(
        "lease expired during attempt {attempt} of {max}: the worker running it stopped or lost its connection (lost lease {lost}; the attempt is not counted)"
    )
}

/// The error of a job failed for losing its lease `lost` times.
fn poison_message(lost: u32) -> String {
    format!(
        "poison: lost its lease {lost} times; the worker running it stopped or lost its connection each time"
    )
}

/// The driver clock and wall clock of one enqueue call, read once for all its jobs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EnqueueTime {
    /// Milliseconds on the driver clock.
    pub(crate) now: u64,
    /// The jobs' creation time.
    pub(crate) created_at: SystemTime,
}

/// What storing one job did, made into a [`Dispatched`] once the queue's lock is released.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stored {
    /// Stored under this key.
    New(Key),
    /// Its chosen id was taken; nothing stored.
    Duplicate,
}

impl Stored {
    /// The dispatch result for `job`, which this is the outcome of.
    pub(crate) fn dispatched(self, job: &NewJob) -> Dispatched {
        match (self, job.spec().id) {
            (Stored::New(_), Some(id)) => Dispatched::new(id.clone(), true),
            (Stored::New(key), None) => Dispatched::new(JobId::from(key), true),
            (Stored::Duplicate, id) => {
                Dispatched::new(id.cloned().expect("only chosen ids repeat"), false)
            }
        }
    }
}

/// One queue.
#[derive(Debug)]
pub(crate) struct QueueState {
    name: String,
    jobs: Store<Record>,
    lanes: Vec<LaneState>,
    lane_ids: IdHashMap<Arc<str>, LaneId>,
    /// Failed jobs, newest first.
    failed: VecDeque<Key>,
    max_failed: usize,
    /// Lost leases after which a job is failed as poison.
    max_lost_leases: u32,
    pub(crate) paused: bool,
    next_seq: u64,
    /// Completed jobs and results kept after success.
    kept: retain::Kept,
    /// Unique jobs' locks.
    locks: unique::Locks,
    /// Chosen ids of jobs deleted while their run could still go on -> when that run's lease
    /// would have ended (driver clock ms); a dispatch of such an id waits until then.
    revoked: HashMap<JobId, u64>,
    /// What lanes with limits remember (lanes without limits have no entry).
    limited: IdHashMap<LaneId, limits::LaneLimit>,
    /// What keyed lanes remember (other lanes have no entry).
    keyed: IdHashMap<LaneId, keyed::KeyedLane>,
    /// The wall time (ms since the Unix epoch) at the driver's clock's zero: a reserve at
    /// `now` starts its runs at `wall_epoch_ms + now`.
    wall_epoch_ms: u64,
}

impl QueueState {
    pub(crate) fn new(
        name: &str,
        max_failed: usize,
        max_lost_leases: u32,
        wall_epoch_ms: u64,
    ) -> Self {
        Self {
            name: name.to_string(),
            jobs: Store::new(),
            lanes: Vec::new(),
            lane_ids: IdHashMap::default(),
            failed: VecDeque::new(),
            max_failed,
            max_lost_leases,
            paused: false,
            next_seq: 0,
            kept: retain::Kept::default(),
            locks: unique::Locks::default(),
            revoked: HashMap::new(),
            limited: IdHashMap::default(),
            keyed: IdHashMap::default(),
            wall_epoch_ms,
        }
    }

    /// The lane of job name `job`, created if new.
    fn lane_id(&mut self, job: &str) -> LaneId {
        if let Some(&id) = self.lane_ids.get(job) {
            return id;
        }
        let name: Arc<str> = job.into();
        let id = LaneId::try_from(self.lanes.len()).expect("fewer than 2^32 job names");
        self.lanes.push(LaneState::new(name.clone()));
        self.lane_ids.insert(name, id);
        id
    }

    /// The lane of job name `job`, if it was ever used.
    pub(crate) fn existing_lane(&self, job: &str) -> Option<LaneId> {
        self.lane_ids.get(job).copied()
    }

    pub(crate) fn lane(&mut self, job: &str) -> &mut LaneState {
        let id = self.lane_id(job);
        &mut self.lanes[id as usize]
    }

    /// Stores `jobs` and then wakes one waiting worker of each lane that received a ready job
    /// (or a due time sooner than its earliest one), once per lane rather than once per job.
    pub(crate) fn enqueue_all<'a>(
        &mut self,
        jobs: impl Iterator<Item = &'a NewJob>,
        time: EnqueueTime,
        out: &mut Vec<Stored>,
    ) {
        let mut wake: Vec<LaneId> = Vec::new();
        let mut lane: Option<LaneId> = None;
        for job in jobs {
            // Consecutive jobs usually share a name: compare it instead of hashing it.
            let id = match lane {
                Some(id) if *self.lanes[id as usize].name == *job.spec().name => id,
                _ => self.lane_id(job.spec().name),
            };
            lane = Some(id);
            let (stored, woken) = self.enqueue(job, id, time, None);
            if woken && !wake.contains(&id) {
                wake.push(id);
            }
            out.push(stored);
        }
        for id in wake {
            self.lanes[id as usize].notify.notify_one();
        }
    }

    /// Stores one job in lane `lane`, not due before `not_before` (driver clock, ms) when
    /// given; also returns whether the lane's waiting worker should look again.
    fn enqueue(
        &mut self,
        job: &NewJob,
        lane: LaneId,
        time: EnqueueTime,
        not_before: Option<u64>,
    ) -> (Stored, bool) {
        let job = job.spec();
        if let Some(id) = job.id {
            if self.jobs.contains_chosen(id) {
                return (Stored::Duplicate, false);
            }
        }
        self.next_seq += 1;
        let delay = job.delay;
        let mut record = Record {
            payload: job.payload.clone(),
            created_at: time.created_at,
            seq: self.next_seq,
            at: time.now,
            token: 0,
            started: 0,
            attempts: 0,
            max_attempts: job.attempts,
            lane,
            priority: job.priority,
            state: JobState::Ready,
            details: None,
        };
        let mut due = (!delay.is_zero()).then(|| time.now.saturating_add(delay_ms(delay).max(1)));
        if let Some(at) = not_before.filter(|at| *at > time.now) {
            due = Some(due.map_or(at, |due| due.max(at)));
        }
        // A chosen id whose deleted run may still go on waits until that run's lease would
        // have ended, so the two runs never overlap.
        if let Some(id) = job.id.filter(|_| !self.revoked.is_empty()) {
            // Kept until it passes: the job stored now may be removed before it runs, and a
            // later dispatch of the id must still wait.
            match self.revoked.get(id).copied() {
                Some(until) if until > time.now => {
                    due = Some(due.map_or(until, |due| due.max(until)));
                }
                Some(_) => {
                    self.revoked.remove(id);
                }
                None => {}
            }
        }
        if let Some(due) = due {
            record.state = JobState::Scheduled;
            record.at = due;
        }
        if let Some(rate_key) = job.key {
            record.details().rate_key = Some(rate_key.into());
        }
        let (seq, priority) = (record.seq, record.priority);
        let key = match job.id {
            Some(id) => self.jobs.insert_chosen(id, record).expect("checked above"),
            None => self.jobs.push(record),
        };
        if let (Some(rate_key), None) = (job.key, due) {
            self.push_keyed(lane, key, rate_key, false);
            return (Stored::New(key), true);
        }
        let lane = &mut self.lanes[lane as usize];
        let wake = match due {
            None => {
                lane.push_ready(key, priority, false);
                true
            }
            // A waiting worker sleeps until the previous earliest time: let it look again.
            Some(due) => lane.push_scheduled(key, due, seq),
        };
        (Stored::New(key), wake)
    }

    /// Leases up to `max` ready jobs of lane `job`. `tokens(n)` hands out `n` consecutive fresh
    /// tokens and returns the first, so a reservation touches the shared counter once.
    pub(crate) fn reserve(
        &mut self,
        job: &str,
        max: usize,
        now: u64,
        lease_ms: u64,
        tokens: impl FnOnce(u64) -> u64,
    ) -> Reservation {
        let lane_id = self.lane_id(job);
        let mut reservation = Reservation::default();
        self.reap(lane_id, now, &mut reservation.poisoned);
        self.promote(lane_id, now);
        let lane = &mut self.lanes[lane_id as usize];
        if !self.paused {
            let deadline = now.saturating_add(lease_ms);
            // An idle worker sleeps until the lane's earliest event; a lease ending sooner must
            // wake it, so it can reap the job if this worker dies.
            let earliest = lane.next_event().is_none_or(|next| deadline < next);
            let take = max.min(lane.ready_len());
            let mut token = tokens(take as u64);
            let (started, started_at) = start_at(self.wall_epoch_ms, now);
            reservation.jobs = Vec::with_capacity(take);
            while reservation.jobs.len() < take {
                let Some(key) = lane.pop_ready() else { break };
                let Some(record) = self.jobs.get_mut(key) else {
                    continue;
                };
                record.attempts += 1;
                record.state = JobState::Active;
                record.token = token;
                token += 1;
                let waited = Duration::from_millis(now.saturating_sub(record.at));
                record.at = deadline;
                if record.started != 0 {
                    let first = record.started;
                    record.details().first_started.get_or_insert(first);
                }
                record.started = started;
                lane.active.insert((deadline, record.token), key);
                let (token, payload) = (record.token, record.payload.clone());
                let (attempts, max_attempts) = (record.attempts, record.max_attempts);
                reservation.jobs.push(
                    ReservedJob::new(self.jobs.id_of(key), token, payload, attempts, max_attempts)
                        .waited(waited)
                        .started_at(started_at),
                );
            }
            if earliest && !reservation.jobs.is_empty() {
                lane.notify.notify_one();
            }
        }
        if reservation.jobs.len() < max {
            reservation.next_due = lane
                .next_event()
                .map(|at| Duration::from_millis(at.saturating_sub(now)));
        } else if lane.ready_len() > 0 && !self.paused {
            // Work remains: pass the wake-up on to another waiting worker.
            lane.notify.notify_one();
        }
        reservation
    }

    /// Moves due scheduled jobs of the lane to ready, by due time and then dispatch sequence
    /// (the order of the schedule's keys).
    fn promote(&mut self, lane: LaneId, now: u64) {
        let lane = &mut self.lanes[lane as usize];
        while let Some(entry) = lane.scheduled.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            if let Some(record) = self.jobs.get_mut(key) {
                record.state = JobState::Ready;
                lane.push_ready(key, record.priority, false);
            }
        }
    }

    /// Returns expired leases of lane `job` to the head of ready without spending their
    /// attempts, or fails them as poison once they lost their lease too often.
    pub(crate) fn reap_lane(&mut self, job: &str, now: u64) -> usize {
        let lane = self.lane_id(job);
        self.reap(lane, now, &mut Vec::new())
    }

    /// Reaps the lane's expired leases; the jobs failed as poison are added to `poisoned` with
    /// the attempt they failed at.
    fn reap(&mut self, lane_id: LaneId, now: u64, poisoned: &mut Vec<(JobId, u32)>) -> usize {
        let lane = &mut self.lanes[lane_id as usize];
        let mut expired = Vec::new();
        while let Some(entry) = lane.active.first_entry() {
            if entry.key().0 > now {
                break;
            }
            expired.push(entry.remove());
        }
        let count = expired.len();
        let mut returned = Vec::new();
        for key in expired {
            let Some(record) = self.jobs.get_mut(key) else {
                continue;
            };
            record.token = 0;
            // The lost run is not an attempt: the next one gets its number again.
            record.attempts = record.attempts.saturating_sub(1);
            let (attempt, max) = (record.attempts + 1, record.max_attempts);
            let started = record.started;
            let details = record.details();
            details.lost_leases += 1;
            let lost = details.lost_leases;
            if lost >= self.max_lost_leases {
                self.move_to_failed(key, attempt, poison_message(lost));
                poisoned.push((self.jobs.id_of(key), attempt));
            } else {
                details.add_error(attempt, lost_lease_message(attempt, max, lost), started);
                record.state = JobState::Ready;
                record.at = now;
                returned.push((record.seq, key, record.priority));
            }
        }
        if !returned.is_empty() {
            // Returned together: in dispatch order, ahead of the jobs that were waiting.
            returned.sort_unstable();
            let returned: Vec<(Key, i8)> = returned.into_iter().map(|(_, k, p)| (k, p)).collect();
            let lane = &mut self.lanes[lane_id as usize];
            lane.push_front_all(&returned);
            lane.notify.notify_one();
        }
        count
    }

    /// The key of `lease`'s job if `lease` is its current lease in `lane`.
    fn leased(&self, lane: LaneId, lease: &Lease) -> Option<Key> {
        let key = self.jobs.key_of(&lease.id)?;
        self.jobs
            .get(key)
            .is_some_and(|r| r.leased_by(lane, lease))
            .then_some(key)
    }

    /// Takes a leased job out of the active index; returns its key, or `None` for a stale lease.
    fn release(&mut self, lane: LaneId, lease: &Lease) -> Option<Key> {
        let key = self.leased(lane, lease)?;
        let record = self.jobs.get_mut(key).expect("leased job exists");
        let index = (record.at, record.token);
        record.token = 0;
        self.lanes[lane as usize].active.remove(&index);
        Some(key)
    }

    pub(crate) fn renew(&mut self, lane: LaneId, lease: &Lease, deadline: u64) -> bool {
        let Some(key) = self.leased(lane, lease) else {
            return false;
        };
        let record = self.jobs.get_mut(key).expect("leased job exists");
        let old = (record.at, record.token);
        record.at = deadline;
        let lane = &mut self.lanes[lane as usize];
        if let Some(key) = lane.active.remove(&old) {
            lane.active.insert((deadline, lease.token), key);
        }
        true
    }

    /// Removes a finished job; returns its payload, for the caller to free once the queue's
    /// lock is released.
    pub(crate) fn ack(&mut self, lane: LaneId, lease: &Lease) -> Option<Bytes> {
        let key = self.release(lane, lease)?;
        self.jobs.remove(key).map(|record| record.payload)
    }

    pub(crate) fn fail(&mut self, lane: LaneId, lease: &Lease, failure: Failure, now: u64) -> bool {
        let Some(key) = self.release(lane, lease) else {
            return false;
        };
        match failure.retry_in {
            None => {
                let attempt = self.jobs.get(key).map_or(0, |r| r.attempts);
                self.move_to_failed(key, attempt, failure.error)
            }
            Some(delay) => {
                let due = now.saturating_add(delay_ms(delay));
                let record = self.jobs.get_mut(key).expect("released job exists");
                let attempt = record.attempts;
                let started = record.started;
                record.details().add_error(attempt, failure.error, started);
                record.state = JobState::Scheduled;
                record.at = due;
                let seq = record.seq;
                let lane = &mut self.lanes[lane as usize];
                if lane.push_scheduled(key, due, seq) {
                    lane.notify.notify_one();
                }
            }
        }
        true
    }

    /// Puts the jobs of `leases` back at the head of their lane, in dispatch order, without
    /// spending their attempts; returns, per lease, whether it was current.
    pub(crate) fn requeue(&mut self, lane: LaneId, leases: &[Lease], now: u64) -> Vec<bool> {
        let mut returned = Vec::new();
        let held = leases
            .iter()
            .map(|lease| {
                let Some(key) = self.release(lane, lease) else {
                    return false;
                };
                let record = self.jobs.get_mut(key).expect("released job exists");
                record.attempts = record.attempts.saturating_sub(1);
                record.state = JobState::Ready;
                record.at = now;
                returned.push((record.seq, key, record.priority));
                true
            })
            .collect();
        if !returned.is_empty() {
            returned.sort_unstable();
            let returned: Vec<(Key, i8)> = returned.into_iter().map(|(_, k, p)| (k, p)).collect();
            let lane = &mut self.lanes[lane as usize];
            lane.push_front_all(&returned);
            lane.notify.notify_one();
        }
        held
    }

    pub(crate) fn progress(&mut self, lease: &Lease, progress: serde_json::Value) -> bool {
        let Some(key) = self.jobs.key_of(&lease.id) else {
            return false;
        };
        match self.jobs.get_mut(key) {
            Some(r) if r.state == JobState::Active && r.token == lease.token => {
                r.details().progress = Some(progress);
                true
            }
            _ => false,
        }
    }

    /// Moves a job to the failed list with the error of attempt `attempt`, trimming the list.
    fn move_to_failed(&mut self, key: Key, attempt: u32, error: String) {
        if let Some(record) = self.jobs.get_mut(key) {
            record.state = JobState::Failed;
            let started = record.started;
            let details = record.details();
            details.add_error(attempt, error, started);
            details.failed_at = Some(SystemTime::now());
            self.failed.push_front(key);
        }
        while self.failed.len() > self.max_failed {
            if let Some(old) = self.failed.pop_back() {
                self.jobs.remove(old);
            }
        }
    }

    pub(crate) fn retry_failed(&mut self, id: Option<&JobId>, now: u64) -> usize {
        let keys: Vec<Key> = match id {
            Some(id) => {
                let key = self.jobs.key_of(id);
                self.failed
                    .iter()
                    .filter(|x| Some(**x) == key)
                    .copied()
                    .collect()
            }
            None => self.failed.iter().rev().copied().collect(),
        };
        self.failed.retain(|x| !keys.contains(x));
        // Jobs cancelled while they ran whose runs may still go on: held as a deleted run is.
        let mut held: HashMap<Key, u64> = HashMap::new();
        for &key in &keys {
            let Some(record) = self.jobs.get_mut(key) else {
                continue;
            };
            record.attempts = 0;
            let mut revoked_until = None;
            if let Some(details) = &mut record.details {
                details.failed_at = None;
                details.lost_leases = 0;
                details.cancelled = false;
                revoked_until = details.revoked_until.take().filter(|until| *until > now);
            }
            let lane = &mut self.lanes[record.lane as usize];
            match revoked_until {
                // Its cancelled run may still be going until its lease would have ended.
                Some(due) => {
                    record.state = JobState::Scheduled;
                    record.at = due;
                    if lane.push_scheduled(key, due, record.seq) {
                        lane.notify.notify_one();
                    }
                    held.insert(key, due);
                }
                None => {
                    record.state = JobState::Ready;
                    record.at = now;
                    lane.push_ready(key, record.priority, false);
                    lane.notify.notify_one();
                }
            }
        }
        // So a dispatch of the id, or of its unique key, after the retried job is removed
        // before it runs still waits for the cancelled run.
        for (&key, &due) in &held {
            self.revoked.insert(self.jobs.id_of(key), due);
        }
        self.locks.revoke(&held);
        keys.len()
    }

    /// Deletes job `id` in any state (at `now`). A run of it that may still go on (running, or
    /// cancelled while it ran, until its lease would have ended) keeps the id held until then:
    /// a dispatch of that id waits (see [`QueueState::enqueue`]).
    pub(crate) fn delete(&mut self, id: &JobId, now: u64) -> bool {
        let Some(key) = self.jobs.key_of(id) else {
            return false;
        };
        let Some(record) = self.remove(id) else {
            return false;
        };
        let until = match record.state {
            JobState::Active => Some(record.at),
            JobState::Failed => record.details.as_ref().and_then(|d| d.revoked_until),
            _ => None,
        };
        if let Some(until) = until.filter(|until| *until > now) {
            self.revoked.retain(|_, until| *until > now);
            self.revoked.insert(id.clone(), until);
            // A unique key it held stays held until then in "until finished" mode.
            self.locks.revoke(&[(key, until)].into_iter().collect());
        }
        true
    }

    /// Removes job `id` in any state from the queue's indexes and returns its record.
    fn remove(&mut self, id: &JobId) -> Option<Record> {
        let key = self.jobs.key_of(id)?;
        let record = self.jobs.remove(key)?;
        let lane = &mut self.lanes[record.lane as usize];
        match record.state {
            JobState::Ready => lane.remove_ready(key, &record),
            JobState::Scheduled => {
                lane.scheduled.remove(&(record.at, record.seq));
            }
            JobState::Active => {
                lane.active.remove(&(record.at, record.token));
            }
            JobState::Failed => self.failed.retain(|x| *x != key),
            JobState::Completed => self.unindex_completed(id),
            _ => {}
        }
        Some(record)
    }

    /// Deletes every job (at `now`). The ids of running jobs, and of jobs cancelled while they
    /// ran, are held until their leases would have ended, as [`delete`](Self::delete) holds
    /// one; so are the unique keys they held.
    pub(crate) fn purge(&mut self, now: u64) {
        self.revoked.retain(|_, until| *until > now);
        let mut running = HashMap::new();
        for lane in &self.lanes {
            for (&(until, _), &key) in lane.active.range((now + 1, 0)..) {
                running.insert(key, until);
            }
        }
        // Jobs cancelled while they ran: their runs may go on until their leases would end.
        for &key in &self.failed {
            let until = self
                .jobs
                .get(key)
                .and_then(|r| r.details.as_ref()?.revoked_until);
            if let Some(until) = until.filter(|until| *until > now) {
                running.insert(key, until);
            }
        }
        for (&key, &until) in &running {
            self.revoked.insert(self.jobs.id_of(key), until);
        }
        self.jobs.clear();
        self.failed.clear();
        self.clear_kept();
        // The unique keys of runs that may go on stay held until their leases would end.
        self.locks.revoke(&running);
        self.locks.retain_revoked();
        for lane in &mut self.lanes {
            lane.ready.clear();
            lane.prioritized.clear();
            lane.scheduled.clear();
            lane.active.clear();
        }
        self.keyed.clear();
    }

    pub(crate) fn resume(&mut self) {
        self.paused = false;
        for lane in &self.lanes {
            lane.notify.notify_one();
        }
    }
}
