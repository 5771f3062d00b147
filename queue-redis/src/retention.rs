//! The `Retention` capability of the Redis driver: completed jobs and results kept after
//! success (`lua/complete.lua`), reading results, cleaning by age (`lua/clean.lua`) and
//! listing completed jobs.
//!
//! Layout, under the queue's hash tag: `donelist` (LIST of ids, newest at the tail; the
//! envelopes stay in `data`), `donetime` (HASH id -> "finished ms:started ms", the start of the
//! run that completed), `donepushed` (how many ids were ever pushed: positions for pages),
//! `results` (HASH id -> JSON) and `resexp` (ZSET id -> result expiry ms). Expired results are
//! dropped by later completions, at most 1000 per call, and ignored by reads.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use queue_core::{
    from_unix_ms, Completion, Cursor, Error, JobId, JobInfo, JobPage, JobQuery, JobState, Keep,
    Lane, LanePosition, Order, Result, Retention,
};
use redis::Value;
use std::collections::HashMap;

use crate::record::into_bytes;
use crate::scripts::{Clean, Complete, ListDone, JOBS_PER_CALL};
use crate::RedisDriver;

/// A kept completed job's times, as `donetime` holds them: "finished ms:started ms" (the start
/// empty when it was not recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DoneTimes {
    /// When the job completed, unix ms.
    pub(crate) finished_ms: u64,
    /// When the run that completed started, unix ms.
    pub(crate) started_ms: Option<u64>,
}

impl DoneTimes {
    /// Reads `donetime`'s text; `None` when it is not "ms:" or "ms:ms".
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (finished, started) = text.split_once(':')?;
        Some(Self {
            finished_ms: finished.parse().ok()?,
            started_ms: match started {
                "" => None,
                ms => Some(ms.parse().ok()?),
            },
        })
    }
}

/// Marks a job read from `data` as completed: its last run ended (the envelope counts only
/// failed runs) and it is in no lane. The start of the run that completed, when recorded, is
/// the job's latest start, and its first unless an earlier run's was recorded in the envelope.
pub(crate) fn mark_completed(info: &mut JobInfo, times: DoneTimes) {
    info.state = JobState::Completed;
    info.finished_at = Some(from_unix_ms(times.finished_ms));
    info.attempts += 1;
    // Without a record of the completing run's start, the envelope's latest start is that of a
    // run that ended without success: say nothing rather than that.
    info.started_at = times.started_ms.map(from_unix_ms);
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
        type Reply = (Value, Option<f64>, (u64, u64), bool, bool, bool);
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
                    .cmd("HEXISTS")
                    .arg(keys.done_times())
                    .arg(id.as_str()),
            )
            .await?;
        // A job of this id that exists and has not completed was dispatched again (a chosen
        // id): the result is the previous job's.
        if (ready || scheduled) && !done {
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
    /// A page of the queue's completed jobs in the order they completed, from `donelist`: a
    /// window of the list after the cursor's position (`lua/list_done.lua`), O(page).
    /// Completed jobs are kept per queue: a listing by name filters them, reading at most four
    /// pages' worth per call, and may return a short page with a cursor to go on.
    pub(crate) async fn list_completed(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        let keys = self.queue_keys(queue)?;
        let cursor = Cursor::read(query)?.unwrap_or_default();
        let after = match cursor.lane("") {
            Some(p) if p.phase != 0 || p.at < 0 => return Err(query.bad_cursor("bad position")),
            Some(p) => Some(p.at as u64),
            None => None,
        };
        let window = (query.limit + 1) * if query.name.is_some() { 4 } else { 1 };
        let read = ListDone {
            queue: &keys,
            newest: query.order == Order::Newest,
            after,
            window,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        let ids: Vec<String> = read.jobs.iter().map(|(_, id, _)| id.clone()).collect();
        let found: HashMap<&str, (u64, Option<DoneTimes>)> = read
            .jobs
            .iter()
            .map(|(at, id, times)| (id.as_str(), (*at, DoneTimes::parse(times))))
            .collect();
        let infos = self.infos(queue, &keys, ids).await?;
        let mut jobs = Vec::new();
        let mut more = read.read == window;
        // Where the next page starts: after the last entry read, or after the last job looked
        // at when the page filled first.
        let mut last = read.last;
        let mut looked = None;
        for mut info in infos {
            let Some(&(at, times)) = found.get(info.id.as_str()) else {
                continue;
            };
            if jobs.len() == query.limit {
                more = true;
                last = looked.unwrap_or(last);
                break;
            }
            looked = Some(at);
            if let Some(times) = times {
                mark_completed(&mut info, times);
            }
            if query.name.as_deref().is_none_or(|n| n == info.name) {
                jobs.push(info);
            }
        }
        let next = more.then(|| {
            let mut cursor = Cursor::default();
            cursor.set(LanePosition::new("", 0, last as i64, ""));
            cursor.write(query.state, query.order)
        });
        Ok(JobPage::new(jobs, next))
    }
}

#[cfg(test)]
mod tests {
    use super::DoneTimes;

    #[test]
    fn done_times_read_with_and_without_a_start() {
        assert_eq!(
            DoneTimes::parse("1764760000123:1764760000100"),
            Some(DoneTimes {
                finished_ms: 1764760000123,
                started_ms: Some(1764760000100),
            })
        );
        assert_eq!(
            DoneTimes::parse("1764760000123:"),
            Some(DoneTimes {
                finished_ms: 1764760000123,
                started_ms: None,
            })
        );
        for bad in ["", "1764760000123", ":5", "x:5", "5:y"] {
            assert_eq!(DoneTimes::parse(bad), None, "{bad:?}");
        }
    }
}
