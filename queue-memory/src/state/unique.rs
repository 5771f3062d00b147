//! Unique jobs' locks: one per lane and key, holding the key of the job that took it and when
//! it ends. A lock is checked when a unique job is dispatched (its holder must still exist in
//! a state the dispatch's mode covers), so reserving and settling jobs never look at locks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use queue_core::hash::IdHashMap;
use queue_core::{Dispatched, JobState, NewJob, Unique, UniqueMode};

use super::{delay_ms, EnqueueTime, LaneId, QueueState, Record, Stored};
use crate::store::Key;

/// Most expired locks one dispatch forgets, so the locks of keys never dispatched again are
/// dropped over time at a bounded cost per dispatch.
const SWEEP: usize = 8;

/// A lock's place: its lane and unique key.
type LockName = (LaneId, Arc<str>);

#[derive(Debug, Clone, Copy)]
struct Lock {
    holder: Key,
    /// When it ends, on the driver clock (ms).
    until: u64,
    /// When a revoked run could go on until (driver clock, ms; 0 when none): its holder's,
    /// deleted or purged while it ran, or the run its holder was held back by (passed on).
    revoked_until: u64,
}

/// The locks of one queue.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    held: IdHashMap<LockName, Lock>,
    /// The same locks by end time, for forgetting expired ones.
    by_end: BTreeSet<(u64, LockName)>,
}

impl Locks {
    fn set(&mut self, name: LockName, lock: Lock) {
        if let Some(old) = self.held.insert(name.clone(), lock) {
            self.by_end.remove(&(old.until, name.clone()));
        }
        self.by_end.insert((lock.until, name));
    }

    /// Forgets up to [`SWEEP`] locks that ended by `now`.
    fn sweep(&mut self, now: u64) {
        for _ in 0..SWEEP {
            match self.by_end.first() {
                Some((until, _)) if *until <= now => {
                    let (_, name) = self.by_end.pop_first().expect("first lock");
                    self.held.remove(&name);
                }
                _ => return,
            }
        }
    }

    /// Notes, in the locks held by a job among `runs` (its key and when its revoked run could
    /// go on until), that its run may go on until then. Deleting a job is an operator's step:
    /// it reads every lock of the queue.
    pub(crate) fn revoke(&mut self, runs: &HashMap<Key, u64>) {
        if runs.is_empty() {
            return;
        }
        for lock in self.held.values_mut() {
            if let Some(&until) = runs.get(&lock.holder) {
                lock.revoked_until = until;
            }
        }
    }

    /// Keeps only the locks that carry a revoked run's end (the queue was purged).
    pub(crate) fn retain_revoked(&mut self) {
        self.held.retain(|_, lock| lock.revoked_until > 0);
        let held = &self.held;
        self.by_end.retain(|(_, name)| held.contains_key(name));
    }
}

/// Whether a lock held by `record` covers a dispatch in `mode`.
fn covers(record: &Record, mode: UniqueMode) -> bool {
    let waiting = matches!(record.state, JobState::Ready | JobState::Scheduled);
    match mode {
        UniqueMode::UntilFinished => waiting || record.state == JobState::Active,
        // Not started: waiting and never run (a run whose lease was lost gave its attempt back).
        _ => waiting && record.attempts == 0,
    }
}

impl QueueState {
    /// Stores one unique job, or reports the job holding its key's lock; also returns whether
    /// the lane's waiting worker should look again.
    pub(crate) fn enqueue_unique(&mut self, job: &NewJob, time: EnqueueTime) -> (Dispatched, bool) {
        let spec = job.spec();
        let unique: &Unique = spec.unique.expect("a unique job");
        let lane = self.lane_id(spec.name);
        self.locks.sweep(time.now);
        let name: LockName = (lane, Arc::from(unique.key.as_str()));
        let until = time.now.saturating_add(delay_ms(unique.ttl));
        // In "until finished" mode, the run of a holder deleted or cancelled while it ran may
        // go on until its lease would have ended: the new job waits until then.
        let mut not_before = None;
        if let Some(lock) = self.locks.held.get(&name).copied() {
            let holder = self.jobs.get(lock.holder).filter(|r| r.lane == lane);
            let held = lock.until > time.now && holder.is_some_and(|r| covers(r, unique.mode));
            if lock.until > time.now && unique.mode == UniqueMode::UntilFinished {
                not_before = match holder {
                    Some(r) if r.state == JobState::Failed => {
                        r.details.as_ref().and_then(|d| d.revoked_until)
                    }
                    Some(_) => None,
                    None => Some(lock.revoked_until),
                };
            }
            if held {
                let mut woken = false;
                if unique.mode == UniqueMode::Debounce {
                    woken = self.debounce(lock.holder, job, time.now);
                    self.locks.set(
                        name,
                        Lock {
                            holder: lock.holder,
                            until,
                            revoked_until: lock.revoked_until,
                        },
                    );
                }
                return (Dispatched::new(self.jobs.id_of(lock.holder), false), woken);
            }
        }
        let not_before = not_before.filter(|at| *at > time.now);
        let (stored, woken) = self.enqueue(job, lane, time, not_before);
        if let Stored::New(key) = stored {
            // The new job passes the hold on: removed before it runs, the next job with the
            // key still waits for the revoked run.
            let lock = Lock {
                holder: key,
                until,
                revoked_until: not_before.unwrap_or(0),
            };
            self.locks.set(name, lock);
        }
        (stored.dispatched(job), woken)
    }

    /// Gives the waiting job `key` the payload of `job` and, when `job` has a delay, that
    /// delay from `now` as its due time. Returns whether the lane's waiting worker should look
    /// again (the new due time is sooner than the lane's earliest event).
    fn debounce(&mut self, key: Key, job: &NewJob, now: u64) -> bool {
        let spec = job.spec();
        let record = self.jobs.get_mut(key).expect("the lock's holder exists");
        record.payload = spec.payload.clone();
        if spec.delay.is_zero() {
            return false;
        }
        let due = now.saturating_add(delay_ms(spec.delay).max(1));
        let (state, at, seq) = (record.state, record.at, record.seq);
        record.state = JobState::Scheduled;
        record.at = due;
        let lane = &mut self.lanes[record.lane as usize];
        match state {
            JobState::Scheduled => {
                lane.scheduled.remove(&(at, seq));
            }
            _ => {
                let record = self.jobs.get(key).expect("the lock's holder exists");
                lane.remove_ready(key, record);
            }
        }
        lane.push_scheduled(key, due, seq)
    }

    /// Stores unique jobs one after the other, then wakes the lanes that received work.
    pub(crate) fn enqueue_unique_all<'a>(
        &mut self,
        jobs: impl Iterator<Item = &'a NewJob>,
        time: EnqueueTime,
        out: &mut Vec<Dispatched>,
    ) {
        let mut wake: Vec<LaneId> = Vec::new();
        for job in jobs {
            let (dispatched, woken) = self.enqueue_unique(job, time);
            if woken {
                let lane = self.lane_id(job.spec().name);
                if !wake.contains(&lane) {
                    wake.push(lane);
                }
            }
            out.push(dispatched);
        }
        for id in wake {
            self.lanes[id as usize].notify.notify_one();
        }
    }
}
