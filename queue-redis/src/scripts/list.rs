//! The wrappers of `list_jobs.lua` (one page of a queue's jobs in one state) and
//! `list_done.lua` (a window of its kept completed jobs).

use queue_core::{Cursor, Error, JobQuery, JobState, LanePosition, Order, Result};
use redis::Value;

use super::{unexpected, ScriptCall, Scripts};
use crate::connection::Commands;
use crate::keys::QueueKeys;
use crate::record::{as_i64, as_string};

/// `list_jobs.lua`: a page of the jobs of `lanes` (or of the failed list) after `cursor`.
pub(crate) struct ListJobs<'a> {
    pub(crate) queue: &'a QueueKeys,
    /// The job names of the lanes listed (none for the failed list).
    pub(crate) lanes: &'a [String],
    pub(crate) query: &'a JobQuery,
    pub(crate) cursor: &'a Cursor,
}

/// One listed job as the script found it.
pub(crate) struct Listed {
    /// Where its lane stands once it is listed.
    pub(crate) position: LanePosition,
    pub(crate) id: String,
    /// Its envelope, error, progress, lost leases and error history (`Nil` when missing).
    pub(crate) record: [Value; 5],
}

/// What the script returned.
pub(crate) struct ListReply {
    pub(crate) jobs: Vec<Listed>,
    /// Jobs remain after the page.
    pub(crate) more: bool,
    /// Where a listing of failed jobs by name goes on when it ran out of its window.
    pub(crate) stop: Option<i64>,
}

impl ListJobs<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<ListReply> {
        let q = self.queue;
        let mut inv = ScriptCall::new(&scripts.list_jobs);
        for key in [
            q.data(),
            q.later(),
            q.err(),
            q.prog(),
            q.lost(),
            q.order(),
            q.failed(),
            q.errs(),
        ] {
            inv.key(key);
        }
        let state = match self.query.state {
            JobState::Ready => "ready",
            JobState::Scheduled => "scheduled",
            JobState::Active => "active",
            JobState::Failed => "failed",
            other => {
                return Err(Error::InvalidQuery {
                    reason: format!("jobs in state {other:?} cannot be listed"),
                })
            }
        };
        let order = match self.query.order {
            Order::Newest => "newest",
            _ => "oldest",
        };
        let failed_list = [String::new()];
        let lanes: &[String] = if self.query.state == JobState::Failed {
            &failed_list
        } else {
            self.lanes
        };
        // Each lane's keys (its four lists), then, after the query, each lane's cursor.
        if self.query.state != JobState::Failed {
            for lane in lanes {
                let keys = q.lane(lane);
                inv.key(keys.ready())
                    .key(keys.prio())
                    .key(keys.sched())
                    .key(keys.active());
            }
        }
        inv.arg(state)
            .arg(order)
            .arg(self.query.limit)
            .arg(self.query.name.as_deref().unwrap_or(""));
        for lane in lanes {
            match self.cursor.lane(lane) {
                Some(p) => inv.arg("1").arg(p.phase).arg(p.at).arg(&p.member),
                None => inv.arg("0").arg(0).arg(0).arg(""),
            };
        }
        let reply = match conn.invoke(&inv).await? {
            Value::Array(items) => items,
            other => return Err(unexpected("a page of jobs", &other)),
        };
        let bad = || unexpected("a page of jobs", &Value::Nil);
        let mut items = reply.into_iter();
        let more = items.next().and_then(|v| as_i64(&v)) == Some(1);
        let stop = items
            .next()
            .and_then(|v| as_string(&v))
            .and_then(|s| s.parse().ok());
        let rest: Vec<Value> = items.collect();
        let mut jobs = Vec::with_capacity(rest.len() / 10);
        for chunk in rest.chunks_exact(10) {
            let lane = as_i64(&chunk[0])
                .and_then(|i| lanes.get(usize::try_from(i).ok()?.checked_sub(1)?))
                .ok_or_else(bad)?;
            let phase = as_i64(&chunk[1])
                .and_then(|p| u8::try_from(p).ok())
                .ok_or_else(bad)?;
            let at = as_string(&chunk[2])
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(bad)?;
            let member = as_string(&chunk[3]).unwrap_or_default();
            let id = as_string(&chunk[4]).ok_or_else(bad)?;
            jobs.push(Listed {
                position: LanePosition::new(lane, phase, at, member),
                id,
                record: [
                    chunk[5].clone(),
                    chunk[6].clone(),
                    chunk[7].clone(),
                    chunk[8].clone(),
                    chunk[9].clone(),
                ],
            });
        }
        Ok(ListReply { jobs, more, stop })
    }
}

/// `list_done.lua`: a window of the queue's kept completed jobs after a position.
pub(crate) struct ListDone<'a> {
    pub(crate) queue: &'a QueueKeys,
    pub(crate) newest: bool,
    /// The position listed last, if any.
    pub(crate) after: Option<u64>,
    /// Most entries to read.
    pub(crate) window: usize,
}

/// What `list_done.lua` returned.
pub(crate) struct DoneWindow {
    /// Entries read, deleted jobs' places included: fewer than the window at the end.
    pub(crate) read: usize,
    /// The position of the last entry read.
    pub(crate) last: u64,
    /// Per kept job: its position, id and times ("finished ms:started ms").
    pub(crate) jobs: Vec<(u64, String, String)>,
}

impl ListDone<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<DoneWindow> {
        let mut inv = ScriptCall::new(&scripts.list_done);
        inv.key(self.queue.done())
            .key(self.queue.done_pushed())
            .key(self.queue.done_times());
        inv.arg(if self.newest { "newest" } else { "oldest" })
            .arg(self.after.map(|p| p.to_string()).unwrap_or_default())
            .arg(self.window)
            .arg(crate::keys::HASHED_SENTINEL);
        let reply = conn.invoke(&inv).await?;
        let Value::Array(items) = &reply else {
            return Err(unexpected("a window of completed jobs", &reply));
        };
        let number = |v: &Value| as_i64(v).and_then(|n| u64::try_from(n).ok());
        let (Some(read), Some(last)) = (
            items.first().and_then(number),
            items.get(1).and_then(number),
        ) else {
            return Err(unexpected("a window of completed jobs", &reply));
        };
        let mut jobs = Vec::with_capacity((items.len() - 2) / 3);
        for job in items[2..].chunks(3) {
            match job {
                [position, id, times] => {
                    match (number(position), as_string(id), as_string(times)) {
                        (Some(position), Some(id), Some(times)) => jobs.push((position, id, times)),
                        _ => {
                            return Err(unexpected(
                                "a completed job's position, id and times",
                                &reply,
                            ))
                        }
                    }
                }
                _ => {
                    return Err(unexpected(
                        "a completed job's position, id and times",
                        &reply,
                    ))
                }
            }
        }
        Ok(DoneWindow {
            read: read as usize,
            last,
            jobs,
        })
    }
}
