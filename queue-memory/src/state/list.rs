//! Listing a queue's jobs by state, a page at a time, from the lanes' own ordered indexes.
//!
//! Each lane's jobs of a state form one sequence in the listing's order, made of phases: ready
//! jobs are the positive priorities (phase 0, a `BTreeMap`), then priority 0 (phase 1, a
//! `VecDeque` read by index), then the negative priorities (phase 2); scheduled and active jobs
//! are one `BTreeMap` each (by due time and sequence, by lease deadline and token); failed jobs
//! are the queue's `VecDeque`, read by index. A cursor holds, per lane, the phase and the last
//! key taken (a map key, or how many entries of a deque were passed), so a page costs
//! O(log n + page) per lane and a queue-wide page reads at most a page from each lane. Jobs
//! reserved or returned between pages shift a deque index: some jobs may then be skipped or
//! listed again on the next page. Active jobs are listed by lease deadline (the index the
//! driver keeps): a renewal between pages moves a job.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound::{self, Excluded, Included, Unbounded};

use queue_core::{
    Cursor, Error, JobInfo, JobPage, JobQuery, JobState, LanePosition, Order, Result,
};

use super::{Key, LaneState, QueueState};

/// One job a lane offers to the page: its key, where the lane stands after it, and how it
/// sorts against other lanes' jobs of the same state.
pub(super) struct Candidate {
    pub(super) key: Key,
    pub(super) position: LanePosition,
    pub(super) rank: (i64, u64),
}

impl QueueState {
    /// A page of this queue's jobs (see `Admin::list_jobs`).
    pub(crate) fn list(&self, query: &JobQuery) -> Result<JobPage> {
        let mut cursor = Cursor::read(query)?.unwrap_or_default();
        // Deques are read by index (ready's phase 1, the failed list), maps by key.
        let indexed = |l: &LanePosition| query.state == JobState::Failed || l.phase == 1;
        if cursor.lanes.iter().any(|l| indexed(l) && l.at < 0) {
            return Err(query.bad_cursor("a lane position is out of range"));
        }
        let want = query.limit + 1;
        let mut streams: Vec<VecDeque<Candidate>> = Vec::new();
        let mut stopped = None;
        if query.state == JobState::Failed {
            let (found, stop) = self.failed_after(query, cursor.lane(""), want);
            streams.push(found);
            stopped = stop;
        } else if query.state == JobState::Completed {
            let (found, stop) = self.completed_after(query, cursor.lane(""), want)?;
            streams.push(found);
            stopped = stop;
        } else {
            let lanes: Vec<&LaneState> = match &query.name {
                Some(name) => self
                    .existing_lane(name)
                    .map(|id| vec![&self.lanes[id as usize]])
                    .unwrap_or_default(),
                None => self.lanes.iter().collect(),
            };
            for lane in lanes {
                let at = cursor.lane(&lane.name);
                streams.push(self.lane_after(lane, query, at, want)?.into());
            }
        }
        // Merge: each step takes the first of the lanes' next jobs in the listing's order.
        let mut taken = Vec::with_capacity(query.limit);
        let mut more = false;
        loop {
            let best = streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.front().map(|c| (c.rank, i)))
                .reduce(|a, b| match query.order {
                    Order::Newest if b.0 > a.0 => b,
                    Order::Newest => a,
                    _ if b.0 < a.0 => b,
                    _ => a,
                });
            let Some((_, i)) = best else {
                // A listing of failed jobs by name that ran out of its window goes on from there.
                if let Some(stop) = stopped.take() {
                    cursor.set(stop);
                    more = true;
                }
                break;
            };
            if taken.len() == query.limit {
                more = true;
                break;
            }
            let c = streams[i].pop_front().expect("a front was found");
            taken.push(c.key);
            cursor.set(c.position);
        }
        let jobs: Vec<JobInfo> = taken.into_iter().filter_map(|k| self.info_of(k)).collect();
        let next = more.then(|| cursor.write(query.state, query.order));
        Ok(JobPage::new(jobs, next))
    }

    /// Up to `want` failed jobs after `at` (oldest failure first, or newest), filtered by job
    /// name when the query names one. The failed list is kept per queue: a listing by name
    /// looks at no more than four pages' worth of entries per call and may return a short page
    /// with a cursor to go on.
    fn failed_after(
        &self,
        query: &JobQuery,
        at: Option<&LanePosition>,
        want: usize,
    ) -> (VecDeque<Candidate>, Option<LanePosition>) {
        let start = at.map_or(0, |p| p.at as usize);
        let lane = query.name.as_deref().map(|n| self.existing_lane(n));
        let len = self.failed.len();
        let mut out = VecDeque::new();
        let end = len.min(start.saturating_add(want.saturating_mul(4)));
        for passed in start..end {
            let key = match query.order {
                Order::Newest => self.failed[passed],
                _ => self.failed[len - 1 - passed],
            };
            let keep = match lane {
                None => true,
                Some(lane) => self.jobs.get(key).map(|r| Some(r.lane)) == Some(lane),
            };
            if keep {
                out.push_back(Candidate {
                    key,
                    position: LanePosition::new("", 0, passed as i64 + 1, ""),
                    rank: (passed as i64, 0),
                });
                if out.len() == want {
                    return (out, None);
                }
            }
        }
        let stop = (end < len).then(|| LanePosition::new("", 0, end as i64, ""));
        (out, stop)
    }

    /// Up to `want` jobs of `lane` in the query's state after `at`, in the listing's order.
    fn lane_after(
        &self,
        lane: &LaneState,
        query: &JobQuery,
        at: Option<&LanePosition>,
        want: usize,
    ) -> Result<Vec<Candidate>> {
        let map = match query.state {
            JobState::Ready => return self.ready_after(lane, query, at, want),
            JobState::Scheduled => &lane.scheduled,
            JobState::Active => &lane.active,
            other => {
                return Err(Error::InvalidQuery {
                    reason: format!("jobs in state {other:?} cannot be listed"),
                })
            }
        };
        let bounds = bounds_after(query, at)?;
        let out = entries(map, bounds, query.order, want)
            .map(|(k, key)| Candidate {
                key: *key,
                position: LanePosition::new(&lane.name, 0, k.0 as i64, k.1.to_string()),
                rank: (k.0 as i64, k.1),
            })
            .collect();
        Ok(out)
    }

    /// Up to `want` ready jobs of `lane` after `at`, in the order reserve takes them (or the
    /// reverse): phase 0 is the positive priorities (keys below 0 in `prioritized`), phase 1
    /// priority 0 (the deque, by index), phase 2 the negative priorities; newest first, the
    /// phases hold the same jobs in the reverse order.
    fn ready_after(
        &self,
        lane: &LaneState,
        query: &JobQuery,
        at: Option<&LanePosition>,
        want: usize,
    ) -> Result<Vec<Candidate>> {
        let newest = query.order == Order::Newest;
        let name: &str = &lane.name;
        let seq = |key: Key| self.jobs.get(key).map_or(0, |r| r.seq);
        let (first_phase, mut from) = match at {
            Some(p) if p.phase > 2 => return Err(query.bad_cursor("unknown phase")),
            Some(p) => (p.phase, Some(p)),
            None => (0, None),
        };
        let mut out = Vec::new();
        for phase in first_phase..=2 {
            let left = want - out.len();
            if phase == 1 {
                let passed = from.map_or(0, |p| p.at as usize);
                let len = lane.ready.len();
                for i in passed..len.min(passed.saturating_add(left)) {
                    let key = lane.ready[if newest { len - 1 - i } else { i }];
                    out.push(Candidate {
                        key,
                        position: LanePosition::new(name, 1, i as i64 + 1, ""),
                        rank: (0, seq(key)),
                    });
                }
            } else {
                let positive = (phase == 0) != newest;
                let after = match from {
                    Some(p) => {
                        let (at, member) = map_key(query, p)?;
                        let at = i16::try_from(at).map_err(|_| query.bad_cursor("bad key"))?;
                        if at == 0 || (at < 0) != positive {
                            return Err(query.bad_cursor("a key is out of its phase"));
                        }
                        Some((at, member))
                    }
                    None => None,
                };
                let (lo, hi) = if positive {
                    (Unbounded, Excluded((0, 0)))
                } else {
                    (Included((1, 0)), Unbounded)
                };
                let bounds = match after {
                    Some(k) if newest => (lo, Excluded(k)),
                    Some(k) => (Excluded(k), hi),
                    None => (lo, hi),
                };
                for (k, key) in entries(&lane.prioritized, bounds, query.order, left) {
                    let position = LanePosition::new(name, phase, k.0.into(), k.1.to_string());
                    out.push(Candidate {
                        key: *key,
                        position,
                        rank: (k.0.into(), seq(*key)),
                    });
                }
            }
            from = None;
            if out.len() == want {
                break;
            }
        }
        Ok(out)
    }
}

/// A range of a map keyed by (time, number).
pub(super) type TimeBounds = (Bound<(u64, u64)>, Bound<(u64, u64)>);

/// The bounds of a map keyed by (time, number) past `at`, the position a cursor left in one
/// phase-0 sequence, in the query's order.
pub(super) fn bounds_after(query: &JobQuery, at: Option<&LanePosition>) -> Result<TimeBounds> {
    let after = match at {
        Some(p) if p.phase != 0 => return Err(query.bad_cursor("unknown phase")),
        Some(p) => {
            let (at, member) = map_key(query, p)?;
            let at = u64::try_from(at).map_err(|_| query.bad_cursor("bad key"))?;
            Some((at, member))
        }
        None => None,
    };
    Ok(match after {
        Some(k) if query.order == Order::Newest => (Unbounded, Excluded(k)),
        Some(k) => (Excluded(k), Unbounded),
        None => (Unbounded, Unbounded),
    })
}

/// The map key a position names: its `at` and its member as a number.
pub(super) fn map_key(query: &JobQuery, p: &LanePosition) -> Result<(i64, u64)> {
    let member = p.member.parse().map_err(|_| query.bad_cursor("bad key"))?;
    Ok((p.at, member))
}

/// Up to `n` entries of `map` within `bounds`, from the end `order` starts at.
pub(super) fn entries<'a, K: Ord>(
    map: &'a BTreeMap<K, Key>,
    bounds: (Bound<K>, Bound<K>),
    order: Order,
    n: usize,
) -> Box<dyn Iterator<Item = (&'a K, &'a Key)> + 'a> {
    let range = map.range(bounds);
    match order {
        Order::Newest => Box::new(range.rev().take(n)),
        _ => Box::new(range.take(n)),
    }
}
