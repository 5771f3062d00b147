//! Wrappers of the administration scripts and of the worker heartbeat: each names its keys and
//! arguments (see the contract at the top of its `lua/<name>.lua`) and parses its reply.

use std::time::Duration;

use queue_core::Result;

use super::{integer, lane_call, ScriptCall, Scripts};
use crate::connection::Commands;
use crate::keys::{LaneKeys, QueueKeys};

/// `delete.lua`: removes one job, whatever its state.
pub(crate) struct Delete<'a> {
    /// The key set of the lane the caller read from the job's record.
    pub(crate) keys: &'a LaneKeys,
    /// The queue's keys (for what is kept after success).
    pub(crate) queue: &'a QueueKeys,
    pub(crate) id: &'a str,
    /// The job name the caller read from the job's record.
    pub(crate) job: &'a str,
}

/// What became of a job to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deleted {
    /// It was deleted.
    Removed,
    /// There is no such job.
    Missing,
    /// Its record names another lane (it changed meanwhile): read it again.
    OtherLane,
}

impl Delete<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Deleted> {
        let mut inv = lane_call(&scripts.delete, self.keys);
        for key in self.queue.kept() {
            inv.key(key);
        }
        inv.key(self.queue.revoked());
        inv.arg(self.id).arg(self.job);
        Ok(match integer(conn, &inv).await? {
            Some(1) => Deleted::Removed,
            Some(0) => Deleted::Missing,
            _ => Deleted::OtherLane,
        })
    }
}

/// `retry_failed.lua`: moves failed jobs of one lane back to ready.
pub(crate) struct RetryFailed<'a> {
    pub(crate) keys: &'a LaneKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    /// Oldest failure first, at most [`JOBS_PER_CALL`](super::JOBS_PER_CALL).
    pub(crate) ids: &'a [&'a String],
}

impl RetryFailed<'_> {
    /// How many jobs moved.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<usize> {
        let mut inv = lane_call(&scripts.retry_failed, self.keys);
        inv.key(self.keys.revoked());
        inv.arg(self.job);
        for id in self.ids {
            inv.arg(*id);
        }
        Ok(integer(conn, &inv).await?.unwrap_or(0) as usize)
    }
}

/// `purge.lua`: deletes every job of a queue.
pub(crate) struct Purge<'a> {
    pub(crate) queue: &'a QueueKeys,
    /// The job names of the queue's lanes.
    pub(crate) lanes: &'a [String],
}

impl Purge<'_> {
    /// Returns false when the queue gained a lane since the client listed them: nothing was
    /// deleted, and the caller lists the lanes again.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<bool> {
        let mut inv = ScriptCall::new(&scripts.purge);
        inv.key(self.queue.lanes());
        // The id and token counters stay (reusing ids or tokens would let a stale lease match a
        // new job), and so does the pause flag.
        let kept = [
            self.queue.seq(),
            self.queue.tok(),
            self.queue.paused(),
            self.queue.lanes(),
        ];
        for key in self.queue.own().into_iter().filter(|k| !kept.contains(k)) {
            inv.key(key);
        }
        for key in self.queue.kept() {
            inv.key(key);
        }
        inv.key(self.queue.cancelled());
        for job in self.lanes {
            for key in self.queue.lane(job).own() {
                inv.key(key);
            }
            // A keyed lane's job indexes (its keys' lines, the ring of keys with waiting jobs,
            // the jobs' keys) go with its jobs; each key's window, pause and leases stay, so a
            // purge does not let a key start more than its rate allows.
            let [kjobs, kring, _kpark, _kfull, _kstate, kof] = self.queue.keyed(job);
            inv.key(kjobs).key(kring).key(kof);
        }
        // Kept: ids of the running jobs go to it.
        inv.key(self.queue.revoked());
        // Each lane's job name, in the order of their keys.
        for job in self.lanes {
            inv.arg(job);
        }
        Ok(integer(conn, &inv).await? != Some(-1))
    }
}

/// `resume.lua`: unpauses a queue and wakes a blocked worker of each lane.
pub(crate) struct Resume<'a> {
    pub(crate) queue: &'a QueueKeys,
    /// The job names of the queue's lanes.
    pub(crate) lanes: &'a [String],
}

impl Resume<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<()> {
        let mut inv = ScriptCall::new(&scripts.resume);
        inv.key(self.queue.paused());
        for job in self.lanes {
            inv.key(self.queue.lane(job).wake());
        }
        conn.invoke(&inv).await?;
        Ok(())
    }
}

/// `heartbeat.lua`: records a live worker and drops expired ones from the index.
pub(crate) struct Heartbeat<'a> {
    /// The index of live workers.
    pub(crate) index: &'a str,
    /// This worker's record key.
    pub(crate) record_key: &'a str,
    pub(crate) id: &'a str,
    /// The record, as JSON.
    pub(crate) record: &'a str,
    /// How long the record lives without another heartbeat.
    pub(crate) ttl: Duration,
}

impl Heartbeat<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<()> {
        let mut inv = ScriptCall::new(&scripts.heartbeat);
        inv.key(self.index)
            .key(self.record_key)
            .arg(self.id)
            .arg(self.record)
            .arg(self.ttl.as_millis().max(1) as u64);
        conn.invoke(&inv).await.map(drop)
    }
}
