//! Keeping what succeeded: completed jobs by count and age, results until they expire, and
//! cleaning old completed or failed jobs (the `Retention` capability).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::SystemTime;

use bytes::Bytes;
use queue_core::{Completion, JobId, JobQuery, JobState, Keep, LanePosition, Result};

use super::list::{bounds_after, entries, Candidate};
use super::{delay_ms, Key, LaneId, QueueState};

/// Most completed jobs or expired results one call trims, so a call's work stays bounded; a
/// call that leaves excess behind trims more next time.
const TRIM_PER_CALL: usize = 1000;

/// A queue's kept completed jobs and results.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// Completed jobs by (finished ms, dispatch sequence): the first is the oldest.
    completed: BTreeMap<(u64, u64), Key>,
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
            self.kept.completed.insert((now, record.seq), key);
        }
        true
    }

    /// Trims completed jobs to `keep`'s count and age (when it keeps completed jobs: a handler
    /// keeping only results leaves other handlers' completed jobs alone), and drops expired
    /// results.
    pub(crate) fn trim_kept(&mut self, keep: &Keep, now: u64) {
        let mut budget = if keep.completed > 0 { TRIM_PER_CALL } else { 0 };
        while budget > 0 {
            let Some((&(at, seq), _)) = self.kept.completed.first_key_value() else {
                break;
            };
            let too_many = self.kept.completed.len() > keep.completed;
            let too_old = keep
                .completed_for
                .is_some_and(|age| at.saturating_add(delay_ms(age)) <= now);
            if !too_many && !too_old {
                break;
            }
            let key = self.kept.completed.remove(&(at, seq)).expect("first entry");
            self.jobs.remove(key);
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
                    let Some((&(at, seq), _)) = self.kept.completed.first_key_value() else {
                        break;
                    };
                    if before_ms.is_none_or(|before| at > before) {
                        break;
                    }
                    let key = self.kept.completed.remove(&(at, seq)).expect("first entry");
                    self.forget_kept(key);
                    removed += 1;
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

    /// Forgets a completed job removed by `delete` (its record is gone already).
    pub(crate) fn unindex_completed(&mut self, at: u64, seq: u64, id: &JobId) {
        self.kept.completed.remove(&(at, seq));
        if let Some((_, at, n)) = self.kept.results.remove(id) {
            self.kept.expiries.remove(&(at, n));
        }
    }

    /// Up to `want` completed jobs after `at` (by finish time and dispatch sequence), filtered
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
        for (looked, (k, key)) in
            entries(&self.kept.completed, bounds, query.order, window).enumerate()
        {
            let position = LanePosition::new("", 0, k.0 as i64, k.1.to_string());
            let wanted = match lane {
                None => true,
                Some(lane) => self.jobs.get(*key).map(|r| Some(r.lane)) == Some(lane),
            };
            if wanted {
                out.push_back(Candidate {
                    key: *key,
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
        self.kept.completed.len()
    }

    /// Empties the kept jobs and results (purge).
    pub(crate) fn clear_kept(&mut self) {
        self.kept = Kept::default();
    }
}
