//! Keeping what succeeded: completed jobs by count and age, results until they expire, and
//! cleaning old completed or failed jobs (the `Retention` capability).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::SystemTime;

use bytes::Bytes;
use queue_core::{Completion, JobId, JobQuery, JobState, Keep, LanePosition, Order, Result};

use super::list::{bounds_after, Candidate, TimeBounds};
use super::{delay_ms, Key, LaneId, QueueState};

/// Most completed jobs or expired results one call trims, so a call's work stays bounded; a
/// call that leaves excess behind trims more next time.
const TRIM_PER_CALL: usize = 1000;

/// A queue's kept completed jobs and results.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// Completed jobs in the order they completed, oldest first: (finished ms, completion
    /// number, key), so ordered by the first two. Completing appends and trimming pops, where
    /// an ordered map cost a tree insert and removal per job. A deleted job's entry stays
    /// until trimming or cleaning reaches it (its key finds no completed record).
    completed: VecDeque<(u64, u64, Key)>,
    /// Completed jobs kept: `completed` without the entries of deleted jobs.
    live: usize,
    /// Completions numbered so far.
    completions: u64,
    /// Results by id: the JSON, when it expires (ms), and its number in `expiries`.
    results: HashMap<JobId, (Bytes, u64, u64)>,
    /// The ids of results by (expiry ms, a counter), for trimming.
    expiries: BTreeMap<(u64, u64), JobId>,
    next: u64,
}

impl QueueState {
    /// Completes one run (see `Retention::complete`) at `now` (driver ms; `wall`: unix ms);
    /// false when its lease was stale.
    pub(crate) fn complete(
        &mut self,
        lane: LaneId,
        done: &Completion,
        keep: &Keep,
        now: u64,
        wall: u64,
    ) -> bool {
        let Some(key) = self.release(lane, &done.lease) else {
            return false;
        };
        if let (Some(result), Some(ttl)) = (&done.result, keep.result_for) {
            let expires = now.saturating_add(delay_ms(ttl));
            let kept = &mut self.kept;
            kept.next += 1;
            let n = kept.next;
            if let Some((_, at, old)) = kept
                .results
                .insert(done.lease.id.clone(), (result.clone(), expires, n))
            {
                kept.expiries.remove(&(at, old));
            }
            kept.expiries.insert((expires, n), done.lease.id.clone());
        }
        if keep.completed == 0 {
            self.jobs.remove(key);
        } else {
            let record = self.jobs.get_mut(key).expect("released job exists");
            record.state = JobState::Completed;
            record.at = now;
            record.token = wall;
            // As in the Redis driver, a completed job keeps no error, progress or lost leases,
            // only when its first run started (most jobs have no details to clear).
            if let Some(details) = &mut record.details {
                let first_started = details.first_started;
                **details = Default::default();
                details.first_started = first_started;
            }
            let kept = &mut self.kept;
            kept.completions += 1;
            // Completions of one queue may read the clock before taking its lock in another
            // order than they take it: the deque stays ordered by time all the same.
            let at = kept
                .completed
                .back()
                .map_or(now, |&(last, _, _)| now.max(last));
            kept.completed.push_back((at, kept.completions, key));
            kept.live += 1;
        }
        true
    }

    /// Trims completed jobs to `keep`'s count and age (when it keeps completed jobs: a handler
    /// keeping only results leaves other handlers' completed jobs alone), and drops expired
    /// results.
    pub(crate) fn trim_kept(&mut self, keep: &Keep, now: u64) {
        let mut budget = if keep.completed > 0 { TRIM_PER_CALL } else { 0 };
        while budget > 0 {
            let Some(&(at, _, key)) = self.kept.completed.front() else {
                break;
            };
            if self.is_kept(key) {
                let too_many = self.kept.live > keep.completed;
                let too_old = keep
                    .completed_for
                    .is_some_and(|age| at.saturating_add(delay_ms(age)) <= now);
                if !too_many && !too_old {
                    break;
                }
                self.jobs.remove(key);
                self.kept.live -= 1;
            }
            self.kept.completed.pop_front();
            budget -= 1;
        }
        self.drop_expired_results(now);
    }

    fn drop_expired_results(&mut self, now: u64) {
        let kept = &mut self.kept;
        for _ in 0..TRIM_PER_CALL {
            match kept.expiries.first_key_value() {
                Some((&(at, n), _)) if at <= now => {
                    let id = kept.expiries.remove(&(at, n)).expect("first entry");
                    kept.results.remove(&id);
                }
                _ => break,
            }
        }
    }

    /// The kept result of `id`, unless expired, or unless a job of that id exists that has
    /// not completed (a chosen id dispatched again: the result was the previous job's).
    pub(crate) fn result(&self, id: &JobId, now: u64) -> Option<Bytes> {
        if let Some(key) = self.jobs.key_of(id) {
            if self
                .jobs
                .get(key)
                .is_some_and(|r| r.state != JobState::Completed)
            {
                return None;
            }
        }
        match self.kept.results.get(id) {
            Some((json, expires, _)) if *expires > now => Some(json.clone()),
            _ => None,
        }
    }

    /// Removes up to `limit` completed or failed jobs that finished at or before `before`
    /// (driver ms for completed jobs; wall clock for failed ones), oldest first.
    pub(crate) fn clean(
        &mut self,
        state: JobState,
        before_ms: Option<u64>,
        before_wall: SystemTime,
        limit: usize,
        now: u64,
    ) -> usize {
        // Results expire by themselves; cleaning also frees those no completion dropped yet.
        self.drop_expired_results(now);
        let mut removed = 0;
        match state {
            JobState::Completed => {
                while removed < limit {
                    let Some(&(at, _, key)) = self.kept.completed.front() else {
                        break;
                    };
                    if self.is_kept(key) {
                        if before_ms.is_none_or(|before| at > before) {
                            break;
                        }
                        self.forget_kept(key);
                        self.kept.live -= 1;
                        removed += 1;
                    }
                    self.kept.completed.pop_front();
                }
            }
            JobState::Failed => {
                // The failed list is newest first: the oldest are at the back.
                while removed < limit {
                    let Some(&key) = self.failed.back() else {
                        break;
                    };
                    let failed_at = self
                        .jobs
                        .get(key)
                        .and_then(|r| r.details.as_ref())
                        .and_then(|d| d.failed_at);
                    if failed_at.is_some_and(|at| at > before_wall) {
                        break;
                    }
                    self.failed.pop_back();
                    self.forget_kept(key);
                    removed += 1;
                }
            }
            _ => {}
        }
        removed
    }

    /// Removes a job's record and its result.
    fn forget_kept(&mut self, key: Key) {
        let id = self.jobs.id_of(key);
        self.jobs.remove(key);
        if let Some((_, at, n)) = self.kept.results.remove(&id) {
            self.kept.expiries.remove(&(at, n));
        }
    }

    /// Whether the entry of `key` in the completed jobs is a job still kept (not deleted).
    fn is_kept(&self, key: Key) -> bool {
        self.jobs
            .get(key)
            .is_some_and(|r| r.state == JobState::Completed)
    }

    /// Forgets a completed job removed by `delete` (its record is gone already, so its entry
    /// in the completed jobs is passed over from now on).
    pub(crate) fn unindex_completed(&mut self, id: &JobId) {
        self.kept.live = self.kept.live.saturating_sub(1);
        if let Some((_, at, n)) = self.kept.results.remove(id) {
            self.kept.expiries.remove(&(at, n));
        }
        // Entries of deleted jobs behind a kept one are not reached by trimming: once they
        // outnumber the kept jobs (by 64), they go in one pass, so listings and trimming never
        // wade through many of them.
        if self.kept.completed.len() > 2 * self.kept.live + 64 {
            let jobs = &self.jobs;
            self.kept.completed.retain(|&(_, _, key)| {
                jobs.get(key)
                    .is_some_and(|r| r.state == JobState::Completed)
            });
        }
    }

    /// Up to `want` completed jobs after `at` (by finish time and completion order), filtered
    /// by job name when the query names one: like the failed list, completed jobs are kept per
    /// queue, so a listing by name looks at no more than four pages' worth per call.
    pub(super) fn completed_after(
        &self,
        query: &JobQuery,
        at: Option<&LanePosition>,
        want: usize,
    ) -> Result<(VecDeque<Candidate>, Option<LanePosition>)> {
        let bounds = bounds_after(query, at)?;
        let lane = query.name.as_deref().map(|n| self.existing_lane(n));
        let window = want.saturating_mul(4);
        let mut out = VecDeque::new();
        let mut last = None;
        let mut looked_at = 0;
        let completed = &self.kept.completed;
        let (start, end) = within(completed, bounds);
        let range = completed.range(start..end);
        let in_order: Box<dyn Iterator<Item = _>> = match query.order {
            Order::Newest => Box::new(range.rev()),
            _ => Box::new(range),
        };
        // Entries of deleted jobs are passed over without counting toward the window: there
        // are never many more of them than kept jobs (see `unindex_completed`).
        let live = in_order.filter(|&&(_, _, key)| self.is_kept(key));
        for (looked, &(at, n, key)) in live.take(window).enumerate() {
            let position = LanePosition::new("", 0, at as i64, n.to_string());
            let wanted = match lane {
                None => true,
                Some(lane) => self.jobs.get(key).map(|r| Some(r.lane)) == Some(lane),
            };
            if wanted {
                out.push_back(Candidate {
                    key,
                    position: position.clone(),
                    rank: (looked as i64, 0),
                });
                if out.len() == want {
                    return Ok((out, None));
                }
            }
            last = Some(position);
            looked_at = looked + 1;
        }
        // The window ran out before the page filled: go on from its end next time.
        let stop = last.filter(|_| looked_at == window);
        Ok((out, stop))
    }

    /// How many completed jobs are kept.
    pub(crate) fn completed_count(&self) -> usize {
        self.kept.live
    }

    /// Empties the kept jobs and results (purge).
    pub(crate) fn clear_kept(&mut self) {
        self.kept = Kept::default();
    }
}

/// The indexes of `completed` (ordered by finish time and completion number) within `bounds`.
fn within(completed: &VecDeque<(u64, u64, Key)>, bounds: TimeBounds) -> (usize, usize) {
    let below = |k: (u64, u64)| completed.partition_point(|&(at, n, _)| (at, n) < k);
    let up_to = |k: (u64, u64)| completed.partition_point(|&(at, n, _)| (at, n) <= k);
    let start = match bounds.0 {
        Bound::Unbounded => 0,
        Bound::Included(k) => below(k),
        Bound::Excluded(k) => up_to(k),
    };
    let end = match bounds.1 {
        Bound::Unbounded => completed.len(),
        Bound::Included(k) => up_to(k),
        Bound::Excluded(k) => below(k),
    };
    (start, end.max(start))
}
