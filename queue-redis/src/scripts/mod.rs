//! The Lua scripts, one per atomic step, loaded once per driver, and a typed wrapper for each:
//! a struct naming the script's keys and arguments whose `call` sends it and parses its reply.
//! Nothing outside this module builds a script's arguments or reads its reply.
//!
//! - [`jobs`]: the hot path (enqueue, reserve, ack, renew, fail, requeue, progress, reap).
//! - [`admin`]: administration (delete, retry of failed jobs, purge, resume) and the worker
//!   heartbeat.
//! - [`list`]: a page of a queue's jobs in one state.
//! - [`retain`]: completing runs whose handlers keep something, cleaning old jobs.
//! - [`unique`]: dispatching unique jobs, cancelling jobs.
//! - [`keyed`]: the scripts of keyed lanes (limits per rate key, keys served round robin).
//! - [`limits`]: the limited reserve of lanes with limits, postponing a job, waking a worker
//!   for a freed slot.

mod admin;
mod jobs;
mod keyed;
mod limits;
mod list;
mod retain;
mod unique;

use std::time::Duration;

use queue_core::{Error, NewJob, Result, MAX_DELAY};
use redis::{Script, Value};

use crate::connection::Commands;
use crate::keys::LaneKeys;
use crate::record::as_i64;

pub(crate) use crate::script_call::ScriptCall;
pub(crate) use admin::{Delete, Deleted, Heartbeat, Purge, Resume, RetryFailed};
pub(crate) use jobs::{
    call_together, Ack, Enqueue, Fail, Progress, Reap, Renew, Requeue, Reserve, ReserveReply,
};
pub(crate) use keyed::{EnqueueKeyed, PostponeKey, ReleasedKeyed, ReserveKeyed};
pub(crate) use limits::{Postpone, Released, ReserveLimited};
pub(crate) use list::{ListDone, ListJobs};
pub(crate) use retain::{Clean, Complete};
pub(crate) use unique::{CancelJob, EnqueueUnique};

/// Most jobs one script call carries: jobs dispatched, leases acked, renewed or requeued, jobs
/// reserved, failed jobs retried. Bigger batches are split across calls (Lua's `unpack` takes
/// at most ~8000 values, and `lua/lib.lua` sends at most 2048 values per command).
pub(crate) const JOBS_PER_CALL: usize = 1000;

/// Most payload bytes one enqueue call carries (past [`JOBS_PER_CALL`] jobs, a batch is cut
/// here too): a call's bytes sit in the server's query buffer, and a large-payload batch's
/// `MULTI` in its memory at once, so a batch of big jobs goes in calls of about this size.
pub(crate) const BYTES_PER_CALL: usize = 16 << 20;

/// How many jobs the first enqueue call of jobs with payloads of these lengths carries: at
/// most [`JOBS_PER_CALL`] and, past the first job, at most [`BYTES_PER_CALL`] payload bytes.
pub(crate) fn batch_len(payload_lens: impl Iterator<Item = usize>) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for len in payload_lens.take(JOBS_PER_CALL) {
        bytes += len;
        if n > 0 && bytes > BYTES_PER_CALL {
            break;
        }
        n += 1;
    }
    n
}

/// `jobs` cut into enqueue calls ([`batch_len`] each), in order.
pub(crate) fn batches<'j, 'n>(jobs: &'j [&'n NewJob]) -> impl Iterator<Item = &'j [&'n NewJob]> {
    let mut rest = jobs;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = batch_len(rest.iter().map(|job| job.spec().payload.len()));
        let (batch, after) = rest.split_at(n);
        rest = after;
        Some(batch)
    })
}

/// A script on the lane key set: `lua/lib.lua`, then the named files of `lua/` in order.
macro_rules! lane_script {
    ($($file:literal),+) => {
        Script::new(concat!(
            include_str!("../../lua/lib.lua"),
            $("\n", include_str!(concat!("../../lua/", $file))),+
        ))
    };
}

/// Every script of the driver, each called through a [`ScriptCall`] sent by `Commands::invoke`
/// (EVALSHA, loading the script on NOSCRIPT: after a server restart, for instance).
#[derive(Debug)]
pub(crate) struct Scripts {
    enqueue: Script,
    reserve: Script,
    ack: Script,
    fail: Script,
    renew: Script,
    requeue: Script,
    progress: Script,
    reap: Script,
    delete: Script,
    retry_failed: Script,
    purge: Script,
    resume: Script,
    heartbeat: Script,
    list_jobs: Script,
    list_done: Script,
    complete: Script,
    clean: Script,
    enqueue_unique: Script,
    cancel: Script,
    reserve_limited: Script,
    postpone: Script,
    released: Script,
    keyed: keyed::KeyedScripts,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            enqueue: lane_script!("enqueue.lua"),
            reserve: lane_script!("reserve.lua"),
            ack: lane_script!("ack.lua"),
            fail: lane_script!("fail.lua"),
            renew: lane_script!("renew.lua"),
            requeue: lane_script!("requeue.lua"),
            progress: lane_script!("progress.lua"),
            reap: lane_script!("reap.lua"),
            delete: lane_script!("revoked.lua", "delete.lua"),
            retry_failed: lane_script!("revoked.lua", "retry_failed.lua"),
            purge: Script::new(concat!(
                include_str!("../../lua/revoked.lua"),
                "\n",
                include_str!("../../lua/purge.lua")
            )),
            resume: Script::new(include_str!("../../lua/resume.lua")),
            heartbeat: Script::new(include_str!("../../lua/heartbeat.lua")),
            list_jobs: Script::new(include_str!("../../lua/list_jobs.lua")),
            list_done: Script::new(include_str!("../../lua/list_done.lua")),
            complete: lane_script!("done_order.lua", "complete.lua"),
            clean: Script::new(concat!(
                include_str!("../../lua/done_order.lua"),
                "\n",
                include_str!("../../lua/clean.lua")
            )),
            // enqueue.lua's body as a function, so a unique job is stored as any other.
            enqueue_unique: Script::new(concat!(
                include_str!("../../lua/lib.lua"),
                "\n",
                include_str!("../../lua/revoked.lua"),
                "\nlocal function plain_enqueue()\n",
                include_str!("../../lua/enqueue.lua"),
                "\nend\n",
                include_str!("../../lua/enqueue_unique.lua")
            )),
            cancel: lane_script!("cancel.lua"),
            reserve_limited: limits::reserve_limited_script(),
            postpone: lane_script!("postpone.lua"),
            released: lane_script!("released.lua"),
            keyed: keyed::KeyedScripts::new(),
        }
    }
}

/// Where a script's arguments are written: a [`ScriptCall`] (sent with `EVALSHA`, loaded on
/// `NOSCRIPT`) or a command of a pipeline.
pub(crate) trait ArgSink {
    /// Adds one argument.
    fn put<T: redis::ToRedisArgs>(&mut self, arg: T);
}

impl ArgSink for ScriptCall<'_> {
    fn put<T: redis::ToRedisArgs>(&mut self, arg: T) {
        self.arg(arg);
    }
}

impl ArgSink for redis::Cmd {
    fn put<T: redis::ToRedisArgs>(&mut self, arg: T) {
        self.arg(arg);
    }
}

/// A call of a lane script: the lane's key set (the KEYS of `lua/lib.lua`), arguments to follow.
fn lane_call<'s>(script: &'s Script, keys: &LaneKeys) -> ScriptCall<'s> {
    let mut inv = ScriptCall::new(script);
    for key in keys.all() {
        inv.key(key);
    }
    inv
}

/// Sends `inv` and reads its reply as one integer (`None` when it is not one).
async fn integer(conn: &Commands, inv: &ScriptCall<'_>) -> Result<Option<i64>> {
    Ok(as_i64(&conn.invoke(inv).await?))
}

/// Sends `inv` and reads its reply as a list of 1/0 flags, one per job.
async fn flags(conn: &Commands, inv: &ScriptCall<'_>) -> Result<Vec<bool>> {
    match conn.invoke(inv).await? {
        Value::Array(items) => Ok(items.iter().map(|v| as_i64(v) == Some(1)).collect()),
        other => Err(unexpected("a list of flags", &other)),
    }
}

fn unexpected(what: &str, got: &Value) -> Error {
    Error::storage(format!("expected {what} from Redis, got {got:?}"))
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// A dispatch or retry delay in milliseconds, at most [`MAX_DELAY`]'s: due times stay exact
/// integers in a sorted set's scores (doubles).
fn delay_ms(d: Duration) -> u64 {
    ms(d.min(MAX_DELAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_by_count_and_bytes() {
        let job = |len: usize| NewJob::named("j", vec![b'x'; len]);
        let sizes = |jobs: &[NewJob]| -> Vec<usize> {
            let refs: Vec<&NewJob> = jobs.iter().collect();
            batches(&refs).map(|b| b.len()).collect()
        };
        let small: Vec<NewJob> = (0..2500).map(|_| job(10)).collect();
        assert_eq!(sizes(&small), [1000, 1000, 500]);
        let big: Vec<NewJob> = (0..5).map(|_| job(6 << 20)).collect();
        assert_eq!(sizes(&big), [2, 2, 1]);
        // A job bigger than a call's bytes goes alone.
        let huge = vec![job(20 << 20), job(1), job(20 << 20)];
        assert_eq!(sizes(&huge), [1, 1, 1]);
        assert_eq!(sizes(&[]), Vec::<usize>::new());
    }
}
