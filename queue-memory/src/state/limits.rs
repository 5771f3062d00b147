//! Limits of a lane: its starts in the rate's window, its pause, and the limited reserve that
//! keeps to them. Lanes without limits never come here.

use std::collections::VecDeque;
use std::time::Duration;

use queue_core::{JobState, Lease, LimitSpec, Reservation};

use super::{delay_ms, LaneId, QueueState};

/// What a lane with limits remembers between reserves.
#[derive(Debug, Default)]
pub(crate) struct LaneLimit {
    /// Start times (driver ms) still inside the rate's window, oldest first.
    starts: VecDeque<u64>,
    /// Limited reserves hand out nothing before this time (driver ms).
    paused_until: u64,
}

impl LaneLimit {
    /// Forgets the starts that left a window of `per_ms` by `now`.
    fn prune(&mut self, per_ms: u64, now: u64) {
        while self
            .starts
            .front()
            .is_some_and(|&at| at.saturating_add(per_ms) <= now)
        {
            self.starts.pop_front();
        }
    }

    /// How many more may start now under `limits` (`running` are leased), and when more may
    /// start if none or not all may (the window or the pause freeing; a full concurrency frees
    /// at a settle, which wakes a worker, or at the earliest lease deadline).
    fn allowance(&mut self, limits: &LimitSpec, running: usize, now: u64) -> (usize, Option<u64>) {
        if self.paused_until > now {
            return (0, Some(self.paused_until));
        }
        let mut left = usize::MAX;
        let mut free_at = None;
        if let Some(rate) = limits.rate {
            let per = rate.per().as_millis() as u64;
            self.prune(per, now);
            let count = rate.count() as usize;
            left = count.saturating_sub(self.starts.len());
            if left == 0 {
                // The start whose leaving frees a place.
                free_at = Some(self.starts[self.starts.len() - count] + per);
            }
        }
        if let Some(max) = limits.concurrency {
            left = left.min((max as usize).saturating_sub(running));
        }
        (left, free_at)
    }
}

impl QueueState {
    /// [`QueueState::reserve`] within `limits`: takes at most what the rate's window, the
    /// concurrency and the lane's pause allow now, and records the starts.
    pub(crate) fn reserve_limited(
        &mut self,
        job: &str,
        max: usize,
        now: u64,
        lease_ms: u64,
        limits: &LimitSpec,
        tokens: impl FnOnce(u64) -> u64,
    ) -> Reservation {
        let lane_id = self.lane_id(job);
        // Reaped first, so that slots of expired leases count as free.
        let mut poisoned = Vec::new();
        self.reap(lane_id, now, &mut poisoned);
        self.promote(lane_id, now);
        let running = self.lanes[lane_id as usize].active.len();
        let limit = self.limited.entry(lane_id).or_default();
        let (allowed, free_at) = limit.allowance(limits, running, now);
        let mut reservation = if allowed == 0 {
            Reservation::default()
        } else {
            self.reserve(job, max.min(allowed), now, lease_ms, tokens)
        };
        if !poisoned.is_empty() {
            poisoned.append(&mut reservation.poisoned);
            reservation.poisoned = poisoned;
        }
        let taken = reservation.jobs.len();
        let limit = self.limited.entry(lane_id).or_default();
        let mut free_at = free_at;
        if let Some(rate) = limits.rate {
            limit.starts.extend(std::iter::repeat_n(now, taken));
            let count = rate.count() as usize;
            if taken > 0 && limit.starts.len() >= count {
                let per = rate.per().as_millis() as u64;
                free_at = Some(limit.starts[limit.starts.len() - count] + per);
            }
        }
        let lane = &self.lanes[lane_id as usize];
        if taken < max {
            // Sleep until the lane's next event or, when the limits held ready jobs back, until
            // they free.
            let held = lane.ready_len() > 0 && !self.paused;
            let next = match (free_at.filter(|_| held), lane.next_event()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            reservation.next_due = next.map(|at| Duration::from_millis(at.saturating_sub(now)));
        }
        reservation
    }

    /// Puts a running job back, to become ready after `delay` without spending its attempt, and
    /// pauses the lane's limited reserves as long. Returns whether the lease was current.
    pub(crate) fn postpone(
        &mut self,
        lane: LaneId,
        lease: &Lease,
        delay: Duration,
        now: u64,
    ) -> bool {
        let Some(key) = self.release(lane, lease) else {
            return false;
        };
        let due = now.saturating_add(delay_ms(delay));
        let record = self.jobs.get_mut(key).expect("released job exists");
        record.attempts = record.attempts.saturating_sub(1);
        record.state = JobState::Scheduled;
        record.at = due;
        let seq = record.seq;
        let limit = self.limited.entry(lane).or_default();
        limit.paused_until = limit.paused_until.max(due);
        let lane = &mut self.lanes[lane as usize];
        if lane.push_scheduled(key, due, seq) {
            lane.notify.notify_one();
        }
        true
    }

    /// Wakes a waiting worker of lane `job` when ready jobs wait and fewer than the limit's
    /// jobs are leased.
    pub(crate) fn released(&mut self, job: &str, limits: &LimitSpec) {
        let Some(lane_id) = self.existing_lane(job) else {
            return;
        };
        let lane = &self.lanes[lane_id as usize];
        let room = limits
            .concurrency
            .is_none_or(|max| lane.active.len() < max as usize);
        if room && lane.ready_len() > 0 && !self.paused {
            lane.notify.notify_one();
        }
    }
}
