//! Keyed lanes: per-key limits and round-robin service of keys (queue-core's
//! `KeyedLimits`). A keyed job waiting to run is indexed twice: in its lane's priority index
//! under [`KEYED_BAND`] (so counting, listing, deleting and purging see it as any ready job)
//! and in its key's line here, which decides when it runs. A job missing from the first
//! (deleted, purged) is dropped from the second when its turn comes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use queue_core::{JobState, Lease, LimitSpec, Reservation, ReservedJob};

use super::{delay_ms, LaneId, QueueState};
use crate::store::Key;

/// The band of a lane's priority index that holds keyed jobs (above every priority's band,
/// so a plain reserve of the lane, were one to run, takes them last).
pub(super) const KEYED_BAND: i16 = i16::MAX;

/// The token of a slot taken by a reserve that has not handed out its tokens yet.
const PENDING: u64 = u64::MAX;

/// Whether `job` still holds the slot it took with `token`.
fn holds(jobs: &crate::store::Store<super::Record>, job: Key, token: u64) -> bool {
    token == PENDING
        || jobs
            .get(job)
            .is_some_and(|r| r.token == token && r.state == JobState::Active)
}

/// Why a key is set aside, and until when (driver ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// No jobs waiting.
    Idle,
    /// In the ring, at this (round, tie).
    Ring(u64, u64),
    /// Set aside until this time by its window or pause.
    Parked(u64, u64),
    /// Set aside while its running jobs fill the concurrency (until a slot frees, or this
    /// lease deadline).
    Full(u64, u64),
}

/// One key of a keyed lane.
#[derive(Debug)]
struct KeyLine {
    /// Its waiting jobs, first in line first.
    jobs: VecDeque<Key>,
    /// The first round it may be served in next (one after the round it was last served in).
    next: u64,
    /// Its starts inside the rate's window, oldest first (driver ms).
    starts: VecDeque<u64>,
    /// No starts before this time (driver ms).
    paused_until: u64,
    /// Its leased jobs, with their tokens (checked against the records when counted).
    running: Vec<(Key, u64)>,
    place: Place,
}

impl KeyLine {
    fn new() -> Self {
        Self {
            jobs: VecDeque::new(),
            next: 0,
            starts: VecDeque::new(),
            paused_until: 0,
            running: Vec::new(),
            place: Place::Idle,
        }
    }
}

/// What a keyed lane keeps between reserves.
#[derive(Debug, Default)]
pub(crate) struct KeyedLane {
    keys: HashMap<Arc<str>, KeyLine>,
    /// Keys with jobs that may start, by (round, tie).
    ring: BTreeMap<(u64, u64), Arc<str>>,
    /// Keys set aside by their window or pause, by (time they may start, tie).
    parked: BTreeMap<(u64, u64), Arc<str>>,
    /// Keys set aside by their concurrency, by (earliest lease deadline, tie).
    full: BTreeMap<(u64, u64), Arc<str>>,
    /// Keys that had no job left when last served, by (when to look at them, tie): forgotten
    /// then if they are still idle, with nothing leased, no start in the window and no pause.
    idle: BTreeMap<(u64, u64), Arc<str>>,
    /// The round being served.
    current: u64,
    ties: u64,
}

impl KeyedLane {
    fn tie(&mut self) -> u64 {
        self.ties += 1;
        self.ties
    }

    /// Takes `key` out of wherever it is placed.
    fn unplace(&mut self, key: &str) {
        let Some(line) = self.keys.get_mut(key) else {
            return;
        };
        match std::mem::replace(&mut line.place, Place::Idle) {
            Place::Idle => {}
            Place::Ring(r, t) => drop(self.ring.remove(&(r, t))),
            Place::Parked(a, t) => drop(self.parked.remove(&(a, t))),
            Place::Full(a, t) => drop(self.full.remove(&(a, t))),
        }
    }

    /// Puts `key` in the ring at its next round (not before the current round).
    fn ring(&mut self, key: &Arc<str>) {
        self.unplace(key);
        let round = self.keys[key].next.max(self.current);
        let tie = self.tie();
        self.ring.insert((round, tie), key.clone());
        self.keys.get_mut(key).expect("known key").place = Place::Ring(round, tie);
    }

    /// Adds a waiting job of `key`: at the back of its line, or at its front (a returned job).
    /// A key that had no job waiting joins the ring.
    pub(super) fn push(&mut self, key: &str, job: Key, front: bool) {
        let key: Arc<str> = match self.keys.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<str> = key.into();
                self.keys.insert(k.clone(), KeyLine::new());
                k
            }
        };
        let line = self.keys.get_mut(&key).expect("just added");
        if front {
            line.jobs.push_front(job);
        } else {
            line.jobs.push_back(job);
        }
        if line.place == Place::Idle {
            self.ring(&key);
        }
    }
}

impl QueueState {
    /// Indexes a new or returned ready job of a keyed lane (see the module's docs).
    pub(super) fn push_keyed(&mut self, lane: LaneId, job: Key, rate_key: &str, front: bool) {
        let Some(seq) = self.jobs.get(job).map(|r| r.seq) else {
            return;
        };
        self.lanes[lane as usize]
            .prioritized
            .insert((KEYED_BAND, seq), job);
        self.keyed
            .entry(lane)
            .or_default()
            .push(rate_key, job, front);
    }

    /// Moves the lane's jobs waiting outside their keys' lines (returned to the lane, promoted
    /// from scheduled, retried from the failed list) into them: at the front, or the back.
    fn absorb(&mut self, lane: LaneId, front: bool) {
        let l = &mut self.lanes[lane as usize];
        let mut moved: Vec<Key> = l.ready.drain(..).collect();
        while let Some(entry) = l.prioritized.first_entry() {
            if entry.key().0 == KEYED_BAND {
                break;
            }
            moved.push(entry.remove());
        }
        let order: Box<dyn Iterator<Item = Key>> = if front {
            Box::new(moved.into_iter().rev())
        } else {
            Box::new(moved.into_iter())
        };
        for job in order {
            let key = self
                .jobs
                .get_mut(job)
                .and_then(|r| r.details.as_ref())
                .and_then(|d| d.rate_key.clone())
                .unwrap_or_else(|| Arc::from(""));
            self.push_keyed(lane, job, &key, front);
        }
    }

    /// The keyed reserve: leases up to `max` jobs of lane `job` in round order, each within its
    /// key's limits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn reserve_keyed(
        &mut self,
        job: &str,
        max: usize,
        now: u64,
        lease_ms: u64,
        limits: &LimitSpec,
        tokens: impl FnOnce(u64) -> u64,
    ) -> Reservation {
        let lane_id = self.lane_id(job);
        let mut reservation = Reservation::default();
        self.reap(lane_id, now, &mut reservation.poisoned);
        self.absorb(lane_id, true);
        self.promote(lane_id, now);
        self.absorb(lane_id, false);
        self.unpark(lane_id, now);
        self.forget_idle(lane_id, limits, now);
        let deadline = now.saturating_add(lease_ms);
        let mut taken: Vec<(Key, Arc<str>)> = Vec::new();
        if !self.paused {
            while taken.len() < max {
                let Some(k) = self.next_key(lane_id, limits, now) else {
                    break;
                };
                taken.push(k);
            }
        }
        let first_token = tokens(taken.len() as u64);
        let (started, started_at) = super::start_at(self.wall_epoch_ms, now);
        let lane = &mut self.lanes[lane_id as usize];
        let earliest = lane.next_event().is_none_or(|next| deadline < next);
        let keyed = self.keyed.entry(lane_id).or_default();
        for (token, (key, rate_key)) in (first_token..).zip(taken) {
            let id = self.jobs.id_of(key);
            let record = self.jobs.get_mut(key).expect("checked when taken");
            record.attempts += 1;
            record.state = JobState::Active;
            record.token = token;
            let waited = Duration::from_millis(now.saturating_sub(record.at));
            record.at = deadline;
            if record.started != 0 {
                let first = record.started;
                record.details().first_started.get_or_insert(first);
            }
            record.started = started;
            lane.active.insert((deadline, record.token), key);
            if let Some(line) = keyed.keys.get_mut(&rate_key) {
                // next_key counted the start and the slot; the slot gets its token now.
                if let Some(slot) = line.running.iter_mut().find(|s| *s == &(key, PENDING)) {
                    slot.1 = record.token;
                }
            }
            reservation.jobs.push(
                ReservedJob::new(
                    id,
                    record.token,
                    record.payload.clone(),
                    record.attempts,
                    record.max_attempts,
                )
                .waited(waited)
                .started_at(started_at),
            );
        }
        if earliest && !reservation.jobs.is_empty() {
            lane.notify.notify_one();
        }
        let waiting = !keyed.ring.is_empty();
        if reservation.jobs.len() < max {
            let held = keyed.parked.keys().next().map(|(at, _)| *at);
            let full = keyed.full.keys().next().map(|(at, _)| *at);
            let next = [held, full, lane.next_event()].into_iter().flatten().min();
            reservation.next_due = next.map(|at| Duration::from_millis(at.saturating_sub(now)));
        } else if waiting && !self.paused {
            lane.notify.notify_one();
        }
        reservation
    }

    /// Forgets the keys that went idle and have nothing left to remember (no job waiting, none
    /// leased, no start in the window, no pause to come); looks again later at those that do.
    fn forget_idle(&mut self, lane: LaneId, limits: &LimitSpec, now: u64) {
        let Some(keyed) = self.keyed.get_mut(&lane) else {
            return;
        };
        let per = limits.rate.map_or(0, |r| r.per().as_millis() as u64);
        while let Some(entry) = keyed.idle.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let jobs = &self.jobs;
            let Some(line) = keyed.keys.get_mut(&key) else {
                continue;
            };
            if line.place != Place::Idle || !line.jobs.is_empty() {
                continue;
            }
            line.running.retain(|&(job, token)| holds(jobs, job, token));
            let last_start = line.starts.back().copied().unwrap_or(0);
            let busy_until = (last_start + per).max(line.paused_until);
            if line.running.is_empty() && busy_until <= now {
                keyed.keys.remove(&key);
            } else {
                // Leased jobs end by their lease at the latest; look again in a while.
                let tie = keyed.tie();
                keyed.idle.insert((busy_until.max(now + 1000), tie), key);
            }
        }
    }

    /// Returns to the ring the keys whose window or pause freed, and those held by their
    /// concurrency whose earliest lease ended.
    fn unpark(&mut self, lane: LaneId, now: u64) {
        let Some(keyed) = self.keyed.get_mut(&lane) else {
            return;
        };
        let mut back = Vec::new();
        for set in [&keyed.parked, &keyed.full] {
            back.extend(
                set.range(..(now + 1, 0))
                    .map(|(_, key)| key.clone())
                    .collect::<Vec<_>>(),
            );
        }
        for key in back {
            keyed.unplace(&key);
            if !keyed.keys[&key].jobs.is_empty() {
                keyed.ring(&key);
            }
        }
    }

    /// The next job to start: the first key of the ring that its limits let start (keys held
    /// back are set aside), and its first waiting job.
    fn next_key(&mut self, lane: LaneId, limits: &LimitSpec, now: u64) -> Option<(Key, Arc<str>)> {
        let keyed = self.keyed.get_mut(&lane)?;
        loop {
            let (&(round, _), key) = keyed.ring.first_key_value()?;
            let key = key.clone();
            keyed.current = keyed.current.max(round);
            keyed.unplace(&key);
            let jobs = &self.jobs;
            let line = keyed.keys.get_mut(&key).expect("a placed key is known");
            // Its running jobs still leased (settled or reaped ones have another token).
            line.running.retain(|&(job, token)| holds(jobs, job, token));
            let mut free_at = None;
            let mut full_at = None;
            if line.paused_until > now {
                free_at = Some(line.paused_until);
            }
            if let Some(rate) = limits.rate {
                let per = rate.per().as_millis() as u64;
                while line.starts.front().is_some_and(|&at| at + per <= now) {
                    line.starts.pop_front();
                }
                let count = rate.count() as usize;
                if line.starts.len() >= count {
                    let at = line.starts[line.starts.len() - count] + per;
                    free_at = Some(free_at.map_or(at, |f: u64| f.max(at)));
                }
            }
            if let Some(max) = limits.concurrency {
                if line.running.len() >= max as usize {
                    let earliest = line
                        .running
                        .iter()
                        .filter_map(|&(job, _)| jobs.get(job).map(|r| r.at))
                        .min()
                        .unwrap_or(now);
                    full_at = Some(earliest);
                }
            }
            if let Some(at) = full_at {
                let tie = keyed.tie();
                keyed.full.insert((at, tie), key.clone());
                keyed.keys.get_mut(&key).expect("known").place = Place::Full(at, tie);
                continue;
            }
            if let Some(at) = free_at {
                let tie = keyed.tie();
                keyed.parked.insert((at, tie), key.clone());
                keyed.keys.get_mut(&key).expect("known").place = Place::Parked(at, tie);
                continue;
            }
            // Its first job still waiting (a deleted one left the lane's index).
            let lane_state = &mut self.lanes[lane as usize];
            let mut found = None;
            while let Some(job) = line.jobs.pop_front() {
                let live = jobs.get(job).is_some_and(|r| r.state == JobState::Ready);
                let seq = jobs.get(job).map(|r| r.seq);
                if live
                    && seq
                        .is_some_and(|s| lane_state.prioritized.remove(&(KEYED_BAND, s)).is_some())
                {
                    found = Some(job);
                    break;
                }
            }
            if found.is_some() {
                line.next = round + 1;
            }
            let idle = line.jobs.is_empty();
            if !idle {
                keyed.ring(&key);
            } else {
                // Looked at again once its window would be empty.
                let per = limits.rate.map_or(0, |r| r.per().as_millis() as u64);
                let tie = keyed.tie();
                keyed.idle.insert((now + per, tie), key.clone());
            }
            if let Some(job) = found {
                let line = keyed.keys.get_mut(&key).expect("known");
                if limits.rate.is_some() {
                    line.starts.push_back(now);
                }
                if limits.concurrency.is_some() {
                    line.running.push((job, PENDING));
                }
                return Some((job, key));
            }
        }
    }

    /// Puts a running keyed job back for `delay` without spending its attempt, and pauses its
    /// key as long. Returns whether the lease was current.
    pub(crate) fn postpone_key(
        &mut self,
        lane: LaneId,
        lease: &Lease,
        delay: Duration,
        now: u64,
    ) -> bool {
        let Some(job) = self.release(lane, lease) else {
            return false;
        };
        let due = now.saturating_add(delay_ms(delay));
        let record = self.jobs.get_mut(job).expect("released job exists");
        record.attempts = record.attempts.saturating_sub(1);
        record.state = JobState::Scheduled;
        record.at = due;
        let seq = record.seq;
        let key = record.details.as_ref().and_then(|d| d.rate_key.clone());
        if let Some(key) = key {
            let keyed = self.keyed.entry(lane).or_default();
            if let Some(line) = keyed.keys.get_mut(&key) {
                line.paused_until = line.paused_until.max(due);
            }
            if matches!(keyed.keys.get(&key).map(|l| l.place), Some(Place::Ring(..))) {
                keyed.unplace(&key);
                let tie = keyed.tie();
                keyed.parked.insert((due, tie), key.clone());
                keyed.keys.get_mut(&key).expect("known").place = Place::Parked(due, tie);
            }
        }
        let lane = &mut self.lanes[lane as usize];
        if lane.push_scheduled(job, due, seq) {
            lane.notify.notify_one();
        }
        true
    }

    /// Acks a keyed job like [`QueueState::ack`], and lets its key start again when its
    /// concurrency held it back. Returns the payload, or `None` for a stale lease.
    pub(crate) fn ack_keyed(&mut self, lane: LaneId, lease: &Lease) -> Option<bytes::Bytes> {
        let key = self
            .leased(lane, lease)
            .and_then(|job| self.jobs.get(job))
            .and_then(|r| r.details.as_ref())
            .and_then(|d| d.rate_key.clone());
        let payload = self.ack(lane, lease)?;
        if let Some(keyed) = key.and_then(|k| self.keyed.get_mut(&lane).map(|kl| (k, kl))) {
            let (key, keyed) = keyed;
            if matches!(keyed.keys.get(&key).map(|l| l.place), Some(Place::Full(..))) {
                keyed.unplace(&key);
                if !keyed.keys[&key].jobs.is_empty() {
                    keyed.ring(&key);
                }
            }
        }
        Some(payload)
    }

    /// Lets keys held by their concurrency that have a free slot start again, and wakes a
    /// waiting worker when one of them has jobs.
    pub(crate) fn released_keyed(&mut self, job: &str, limits: &LimitSpec) {
        let Some(lane) = self.existing_lane(job) else {
            return;
        };
        let Some(keyed) = self.keyed.get_mut(&lane) else {
            return;
        };
        let max = limits.concurrency.unwrap_or(u32::MAX) as usize;
        let jobs = &self.jobs;
        let mut freed = Vec::new();
        for key in keyed.full.values() {
            let line = keyed.keys.get_mut(key).expect("known");
            line.running.retain(|&(job, token)| holds(jobs, job, token));
            if line.running.len() < max {
                freed.push(key.clone());
            }
        }
        for key in &freed {
            keyed.unplace(key);
            if !keyed.keys[key].jobs.is_empty() {
                keyed.ring(key);
            }
        }
        if !freed.is_empty() && !self.paused {
            self.lanes[lane as usize].notify.notify_one();
        }
    }
}
