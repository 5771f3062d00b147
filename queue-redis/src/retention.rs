//! The `Retention` capability of the Redis driver: completed jobs and results kept after
//! success (`lua/complete.lua`), reading results, cleaning by age (`lua/clean.lua`) and
//! listing completed jobs.
//!
//! Layout, under the queue's hash tag: `done` (ZSET id -> finished ms; the envelopes stay in
//! `data`), `results` (HASH id -> JSON) and `resexp` (ZSET id -> result expiry ms). Expired
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
/// envelope counts only failed runs) and it is in no lane.
pub(crate) fn mark_completed(info: &mut JobInfo, finished_ms: u64) {
    info.state = JobState::Completed;
    info.finished_at = Some(from_unix_ms(finished_ms));
    info.attempts += 1;
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
        let (body, expires, time): (Value, Option<f64>, (u64, u64)) = self
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
                    .cmd("TIME"),
            )
            .await?;
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
        // From the cursor's score, inclusive; the jobs up to and including the cursor's id at
        // that score are skipped below (ties are few: jobs completed in the same ms).
        let newest = query.order == Order::Newest;
        let (from, to) = match (&after, newest) {
            (Some((at, _)), false) => (at.to_string(), "+inf".to_string()),
            (Some((at, _)), true) => (at.to_string(), "-inf".to_string()),
            (None, false) => ("-inf".into(), "+inf".into()),
            (None, true) => ("+inf".into(), "-inf".into()),
        };
        let ties = 1000;
        let cmd = if newest {
            "ZREVRANGEBYSCORE"
        } else {
            "ZRANGEBYSCORE"
        };
        let scored: Vec<(String, f64)> = self
            .inner
            .conn
            .query(
                redis::cmd(cmd)
                    .arg(keys.done())
                    .arg(&from)
                    .arg(&to)
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(window + ties),
            )
            .await?;
        let past_cursor = |id: &str, score: u64| match &after {
            None => true,
            Some((at, last)) if score == *at => {
                if newest {
                    id < last.as_str()
                } else {
                    id > last.as_str()
                }
            }
            Some(_) => true,
        };
        // Equal scores come in id order from Redis (reversed for ZREVRANGEBYSCORE), which the
        // comparison above follows.
        let candidates: Vec<(String, u64)> = scored
            .into_iter()
            .map(|(id, score)| (id, score as u64))
            .filter(|(id, score)| past_cursor(id, *score))
            .take(window)
            .collect();
        let looked = candidates.len();
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.clone()).collect();
        let scores: std::collections::HashMap<String, u64> = candidates.into_iter().collect();
        let mut infos = self.infos(queue, &keys, ids).await?;
        for info in &mut infos {
            if let Some(&at) = scores.get(info.id.as_str()) {
                mark_completed(info, at);
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
