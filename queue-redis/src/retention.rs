//! The `Retention` capability of the Redis driver: completed jobs and results kept after
//! success (`lua/complete.lua`), reading results, cleaning by age (`lua/clean.lua`) and
//! listing completed jobs.
//!
//! Layout, under the queue's hash tag: `done` (ZSET id -> finished ms; the envelopes stay in
//! `data`), `donestart` (HASH id -> when the completing run started, unix ms), `results` (HASH
//! id -> JSON) and `resexp` (ZSET id -> result expiry ms). Expired
//! results are dropped by later completions, at most 1000 per call, and ignored by reads.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use queue_core::{
    from_unix_ms, Completion, Cursor, Error, JobId, JobInfo, JobPage, JobQuery, JobState, Keep,
    Lane, LanePosition, Order, Result, Retention,
};
use redis::Value;

use crate::record::into_bytes;
use crate::scripts::{Clean, Complete, JOBS_PER_CALL};
use crate::RedisDriver;

/// Marks a job read from `data` as completed at `finished_ms`: its last run ended (the
/// envelope counts only failed runs) and it is in no lane. `started_ms` is when the run that
/// completed started (`donestart`), when recorded: then it is the job's latest start, and its
/// first unless an earlier run's was recorded in the envelope.
pub(crate) fn mark_completed(info: &mut JobInfo, finished_ms: u64, started_ms: Option<u64>) {
    info.state = JobState::Completed;
    info.finished_at = Some(from_unix_ms(finished_ms));
    info.attempts += 1;
    // Without a record of the completing run's start, the envelope's latest start is that of a
    // run that ended without success: say nothing rather than that.
    info.started_at = started_ms.map(from_unix_ms);
    if let Some(started) = info.started_at {
        info.first_started_at.get_or_insert(started);
    }
}

#[async_trait]
impl Retention for RedisDriver {
    async fn complete(&self, lane: &Lane, done: &[Completion], keep: &Keep) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        let queue = self.queue_keys(lane.queue())?;
        let mut held = Vec::with_capacity(done.len());
        for chunk in done.chunks(JOBS_PER_CALL) {
            let call = Complete {
                keys: &keys,
                queue: &queue,
                job: lane.job(),
                done: chunk,
                keep,
            };
            held.extend(call.call(&self.inner.scripts, &self.inner.conn).await?);
        }
        Ok(held)
    }

    async fn result(&self, queue: &str, id: &JobId) -> Result<Option<Bytes>> {
        let keys = self.queue_keys(queue)?;
        type Reply = (Value, Option<f64>, (u64, u64), bool, bool, Option<f64>);
        let (body, expires, time, ready, scheduled, done): Reply = self
            .inner
            .conn
            .pipe(
                redis::pipe()
                    .cmd("HGET")
                    .arg(keys.results())
                    .arg(id.as_str())
                    .cmd("ZSCORE")
                    .arg(keys.result_expiry())
                    .arg(id.as_str())
                    .cmd("TIME")
                    .cmd("HEXISTS")
                    .arg(keys.data())
                    .arg(id.as_str())
                    .cmd("HEXISTS")
                    .arg(keys.later())
                    .arg(id.as_str())
                    .cmd("ZSCORE")
                    .arg(keys.done())
                    .arg(id.as_str()),
            )
            .await?;
        // A job of this id that exists and has not completed was dispatched again (a chosen
        // id): the result is the previous job's.
        if (ready || scheduled) && done.is_none() {
            return Ok(None);
        }
        let now_ms = time.0 * 1000 + time.1 / 1000;
        match (into_bytes(body), expires) {
            (Some(body), Some(at)) if at as u64 > now_ms => Ok(Some(body)),
            _ => Ok(None),
        }
    }

    async fn clean(
        &self,
        queue: &str,
        state: JobState,
        older_than: Duration,
        limit: usize,
    ) -> Result<usize> {
        if !matches!(state, JobState::Completed | JobState::Failed) {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "only completed and failed jobs can be cleaned, not {state:?} ones"
                ),
            });
        }
        let keys = self.queue_keys(queue)?;
        let mut removed = 0;
        // One call removes at most a thousand, so no call blocks the server for long.
        while removed < limit {
            let step = (limit - removed).min(JOBS_PER_CALL);
            let clean = Clean {
                queue: &keys,
                state,
                older_than,
                limit: step,
            };
            let n = clean.call(&self.inner.scripts, &self.inner.conn).await?;
            removed += n;
            if n < step {
                break;
            }
        }
        Ok(removed)
    }
}

impl RedisDriver {
    /// A page of the queue's completed jobs, by finish time (ties by id), from `done`: a
    /// sorted-set range after the cursor's (score, id), O(log n + page). Completed jobs are
    /// kept per queue: a listing by name filters them, reading at most four pages' worth per
    /// call, and may return a short page with a cursor to go on.
    pub(crate) async fn list_completed(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        let keys = self.queue_keys(queue)?;
        let cursor = Cursor::read(query)?.unwrap_or_default();
        let after = match cursor.lane("") {
            Some(p) if p.phase != 0 || p.at < 0 => return Err(query.bad_cursor("bad position")),
            Some(p) => Some((p.at as u64, p.member.clone())),
            None => None,
        };
        let window = (query.limit + 1) * if query.name.is_some() { 4 } else { 1 };
        let newest = query.order == Order::Newest;
        // After the cursor's job by its rank while it is still kept (jobs completed in the same
        // ms tie on score, so a score alone cannot place it); after its score once it is gone.
        let rank: Option<i64> = match &after {
            Some((_, member)) => {
                let cmd = if newest { "ZREVRANK" } else { "ZRANK" };
                self.inner
                    .conn
                    .query(redis::cmd(cmd).arg(keys.done()).arg(member))
                    .await?
            }
            None => Some(-1),
        };
        let fetch = match (rank, &after) {
            (Some(rank), _) => {
                let cmd = if newest { "ZREVRANGE" } else { "ZRANGE" };
                let mut c = redis::cmd(cmd);
                c.arg(keys.done())
                    .arg(rank + 1)
                    .arg(rank + window as i64)
                    .arg("WITHSCORES");
                c
            }
            (None, Some((at, _))) => {
                let (cmd, from, to) = if newest {
                    ("ZREVRANGEBYSCORE", format!("({at}"), "-inf".to_string())
                } else {
                    ("ZRANGEBYSCORE", format!("({at}"), "+inf".to_string())
                };
                let mut c = redis::cmd(cmd);
                c.arg(keys.done())
                    .arg(from)
                    .arg(to)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(window);
                c
            }
            (None, None) => unreachable!("no cursor starts at rank 0"),
        };
        let scored: Vec<(String, f64)> = self.inner.conn.query(&fetch).await?;
        let candidates: Vec<(String, u64)> = scored
            .into_iter()
            .map(|(id, score)| (id, score as u64))
            .collect();
        let looked = candidates.len();
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
        let scores: std::collections::HashMap<String, u64> = candidates.into_iter().collect();
        let starts: Vec<Option<u64>> = if ids.is_empty() {
            Vec::new()
        } else {
            self.inner
                .conn
                .query(redis::cmd("HMGET").arg(keys.done_starts()).arg(&ids))
                .await?
        };
        let starts: std::collections::HashMap<&str, u64> = ids
            .iter()
            .zip(starts)
            .filter_map(|(id, at)| Some((id.as_str(), at?)))
            .collect();
        let mut infos = self.infos(queue, &keys, ids.clone()).await?;
        for info in &mut infos {
            if let Some(&at) = scores.get(info.id.as_str()) {
                let started = starts.get(info.id.as_str()).copied();
                mark_completed(info, at, started);
            }
        }
        let mut jobs = Vec::new();
        let mut last = None;
        let mut more = looked == window;
        for info in infos {
            let position = LanePosition::new(
                "",
                0,
                scores.get(info.id.as_str()).copied().unwrap_or(0) as i64,
                info.id.as_str(),
            );
            if jobs.len() == query.limit {
                more = true;
                break;
            }
            last = Some(position);
            if query.name.as_deref().is_none_or(|n| n == info.name) {
                jobs.push(info);
            }
        }
        let next = match (more, last) {
            (true, Some(position)) => {
                let mut cursor = Cursor::default();
                cursor.set(position);
                Some(cursor.write(query.state, query.order))
            }
            _ => None,
        };
        Ok(JobPage::new(jobs, next))
    }
}
