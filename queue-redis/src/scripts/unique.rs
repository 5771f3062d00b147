//! Wrappers of the unique-job and cancellation scripts: each names its keys and arguments (see
//! the contract at the top of its `lua/<name>.lua`) and parses its reply.

use queue_core::{CancelOutcome, Dispatched, Error, JobId, NewJob, Result, UniqueMode};
use redis::Value;

use super::{delay_ms, integer, lane_call, ms, unexpected, Scripts};
use crate::connection::Commands;
use crate::keys::{LaneKeys, QueueKeys};
use crate::record::{as_i64, as_string, Envelope};

/// `enqueue_unique.lua` (after `enqueue.lua`'s body): stores one unique job unless its key's
/// lock is held.
pub(crate) struct EnqueueUnique<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) queue: &'a QueueKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    /// A job with a unique key filled in.
    pub(crate) new: &'a NewJob,
    /// When the job was dispatched, in ms since the epoch.
    pub(crate) created_ms: u64,
}

impl EnqueueUnique<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Dispatched> {
        let spec = self.new.spec();
        let unique = spec
            .unique
            .ok_or_else(|| Error::storage("a unique dispatch of a job without a unique key"))?;
        let mut inv = lane_call(&scripts.enqueue_unique, self.keys);
        inv.key(self.queue.unique(self.job, &unique.key))
            .key(self.queue.done_times())
            .key(self.keys.revoked());
        inv.arg(self.job)
            .arg(1)
            .arg(4)
            .arg(spec.id.map_or("", |id| id.as_str()))
            .arg(spec.priority)
            .arg(delay_ms(spec.delay))
            .arg(Envelope {
                max_attempts: spec.attempts,
                priority: spec.priority,
                created_ms: self.created_ms,
                ready_ms: self.created_ms.saturating_add(delay_ms(spec.delay)),
                name: self.job,
                payload: spec.payload,
            })
            .arg(match unique.mode {
                UniqueMode::UntilFinished => "f",
                UniqueMode::Debounce => "d",
                _ => "s",
            })
            .arg(ms(unique.ttl).max(1));
        let reply = conn.invoke(&inv).await?;
        let Value::Array(items) = &reply else {
            return Err(unexpected("a list from enqueue_unique", &reply));
        };
        let first = items.first().and_then(as_i64);
        match first {
            Some(0) => {
                let holder = items
                    .get(1)
                    .and_then(as_string)
                    .ok_or_else(|| unexpected("the id holding a unique lock", &reply))?;
                Ok(Dispatched::new(JobId::from(holder), false))
            }
            Some(first) => Ok(match spec.id {
                Some(id) => Dispatched::new(id.clone(), items.len() == 1),
                None => Dispatched::new(JobId::from(first.to_string()), true),
            }),
            None => Err(unexpected("a first id from enqueue_unique", &reply)),
        }
    }
}

/// `cancel.lua`: cancels one job of the lane read from its record.
pub(crate) struct CancelJob<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) queue: &'a QueueKeys,
    pub(crate) id: &'a str,
    /// The job name the caller read from the job's record.
    pub(crate) job: &'a str,
    /// How many failed jobs the queue keeps.
    pub(crate) max_failed: usize,
}

impl CancelJob<'_> {
    /// What became of the job; `None` when its record names another lane (read it again).
    pub(crate) async fn call(
        self,
        scripts: &Scripts,
        conn: &Commands,
    ) -> Result<Option<CancelOutcome>> {
        let mut inv = lane_call(&scripts.cancel, self.keys);
        inv.key(self.queue.done_times()).key(self.queue.cancelled());
        inv.arg(self.id).arg(self.job).arg(self.max_failed);
        Ok(match integer(conn, &inv).await? {
            Some(0) => Some(CancelOutcome::NotFound),
            Some(1) => Some(CancelOutcome::Removed),
            Some(2) => Some(CancelOutcome::Finished),
            Some(3) => Some(CancelOutcome::Stopped),
            _ => None,
        })
    }
}
