//! Wrappers of the retention scripts: completing runs whose handlers keep something, and
//! cleaning old completed or failed jobs.

use std::time::Duration;

use queue_core::{Completion, JobState, Keep, Result};

use super::jobs::ack_flags;
use super::{integer, lane_call, ms, ScriptCall, Scripts};
use crate::connection::Commands;
use crate::keys::{LaneKeys, QueueKeys};

/// `complete.lua`: ends runs that succeeded, keeping the jobs and their results.
pub(crate) struct Complete<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) queue: &'a QueueKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    /// At most [`JOBS_PER_CALL`](super::JOBS_PER_CALL).
    pub(crate) done: &'a [Completion],
    pub(crate) keep: &'a Keep,
}

impl Complete<'_> {
    /// Per completion, whether its lease was current.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Vec<bool>> {
        if self.done.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = lane_call(&scripts.complete, self.keys);
        for key in self.queue.kept() {
            inv.key(key);
        }
        inv.arg(self.job)
            .arg(self.keep.completed)
            .arg(self.keep.completed_for.map_or(0, |d| ms(d).max(1)))
            .arg(self.keep.result_for.map_or(0, |d| ms(d).max(1)))
            .arg(self.done.len());
        for c in self.done {
            inv.arg(c.lease.id.as_str()).arg(c.lease.token);
        }
        // The results only when they are kept: each argument costs the server a string.
        if self.keep.result_for.is_some() {
            for c in self.done {
                inv.arg(c.result.as_deref().unwrap_or_default());
            }
        }
        ack_flags(Some(&conn.invoke(&inv).await?), self.done.len())
    }
}

/// `clean.lua`: removes old completed or failed jobs of a queue.
pub(crate) struct Clean<'a> {
    pub(crate) queue: &'a QueueKeys,
    /// Completed or failed.
    pub(crate) state: JobState,
    pub(crate) older_than: Duration,
    pub(crate) limit: usize,
}

impl Clean<'_> {
    /// How many jobs were removed.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<usize> {
        let q = self.queue;
        let mut inv = ScriptCall::new(&scripts.clean);
        for key in [
            q.data(),
            q.err(),
            q.prog(),
            q.lost(),
            q.order(),
            q.later(),
            q.failed(),
        ] {
            inv.key(key);
        }
        for key in q.kept() {
            inv.key(key);
        }
        inv.key(q.errs()).key(q.body());
        let state = if self.state == JobState::Completed {
            "completed"
        } else {
            "failed"
        };
        inv.arg(state)
            .arg(ms(self.older_than))
            .arg(self.limit)
            .arg(crate::keys::HASHED_SENTINEL);
        Ok(integer(conn, &inv).await?.unwrap_or(0) as usize)
    }
}
