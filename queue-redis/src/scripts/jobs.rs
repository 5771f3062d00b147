//! Wrappers of the hot-path scripts: each names its keys and arguments (see the contract at the
//! top of its `lua/<name>.lua`) and parses its reply.

use std::collections::HashSet;
use std::time::Duration;

use queue_core::{Dispatched, Error, JobId, Lane, Lease, NewJob, Reservation, ReservedJob, Result};
use redis::Value;

use super::{
    delay_ms, flags, integer, lane_call, ms, unexpected, ArgSink, ScriptCall, Scripts,
    JOBS_PER_CALL,
};
use crate::bodies::LargePayloads;
use crate::connection::Commands;
use crate::keys::LaneKeys;
use crate::record::{as_i64, as_string, into_bytes, Envelope, Header};

/// Most digits of a job's number (an `i64`), as an argument.
const ID_DIGITS: usize = 20;

/// Bytes of an enqueue call's arguments per job besides its payload and name: the envelope's
/// numbers and separators, and the id, priority and delay of a call that is not plain.
const ENQUEUE_ARG_BYTES: usize = 128;

/// `enqueue.lua`: stores jobs of one lane, at most [`JOBS_PER_CALL`].
pub(crate) struct Enqueue<'a> {
    pub(crate) keys: &'a LaneKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    pub(crate) jobs: &'a [&'a NewJob],
    /// When the jobs were dispatched, in ms since the epoch (written into their envelopes).
    pub(crate) created_ms: u64,
    /// Which payloads go to the body hash (`None`: none, as for keyed jobs).
    pub(crate) large: Option<LargePayloads>,
}

impl Enqueue<'_> {
    /// Adds what became of each job to `out`, in order: its id, and whether it was stored
    /// (a job whose chosen id already exists is not).
    pub(crate) async fn call(
        self,
        scripts: &Scripts,
        conn: &Commands,
        out: &mut Vec<Dispatched>,
    ) -> Result<()> {
        let plain = self.plain();
        if let Some(large) = self.large.filter(|_| self.takes_bodies()) {
            let outside: Vec<bool> = self.jobs.iter().map(|j| large.takes(&j.spec())).collect();
            {
                return self
                    .call_with_bodies(scripts, conn, out, large, &outside, plain)
                    .await;
            }
        }
        let mut inv = lane_call(&scripts.enqueue, self.keys);
        inv.key(self.keys.revoked());
        inv.expect_bytes(self.arg_bytes(None));
        self.args(&mut inv, plain, None);
        let reply = conn.invoke(&inv).await?;
        self.read(reply, out)
    }

    /// About how many bytes the call's arguments take, payloads kept in the body hash
    /// (marked in `outside`) left out: to size its command once.
    fn arg_bytes(&self, outside: Option<&[bool]>) -> usize {
        let payloads: usize = (self.jobs.iter().enumerate())
            .filter(|&(k, _)| !outside.is_some_and(|outside| outside[k]))
            .map(|(_, job)| job.spec().payload.len())
            .sum();
        payloads + self.jobs.len() * (ENQUEUE_ARG_BYTES + self.job.len())
    }

    /// Whether every job is plain (numbered, priority 0, no delay): such jobs send only their
    /// envelopes.
    pub(crate) fn plain(&self) -> bool {
        self.jobs
            .iter()
            .map(|job| job.spec())
            .all(|job| job.id.is_none() && job.priority == 0 && job.delay.is_zero())
    }

    /// `EVALSHA` of the enqueue script with the lane's keys, ready for [`Enqueue::args`], for a
    /// call sent inside a pipeline (a lone call goes through a [`ScriptCall`](crate::scripts::ScriptCall)).
    fn evalsha(&self, scripts: &Scripts, outside: Option<&[bool]>) -> redis::Cmd {
        let keys = self.keys.all();
        let revoked = self.keys.revoked();
        let keys_bytes: usize = keys.iter().map(String::len).sum::<usize>() + revoked.len();
        let mut eval = redis::Cmd::with_capacity(
            4 + keys.len() + 4 * self.jobs.len(),
            64 + keys_bytes + self.arg_bytes(outside),
        );
        eval.arg("EVALSHA")
            .arg(scripts.enqueue.get_hash())
            .arg(keys.len() + 1)
            .arg(keys)
            .arg(revoked);
        eval
    }

    /// Whether some payload of the batch goes to the body hash ([`bodies`](crate::bodies)).
    pub(crate) fn takes_bodies(&self) -> bool {
        self.large
            .is_some_and(|large| self.jobs.iter().any(|job| large.takes(&job.spec())))
    }

    /// [`Enqueue::call`] for a batch some of whose payloads go to the body hash
    /// ([`bodies`](crate::bodies)): takes the batch's ids first, then sends the bodies and the
    /// script in one `MULTI`. A transaction refused as a whole (out of memory) stores neither;
    /// one whose script the server refused (an error it answered, not a lost connection, which
    /// leaves the outcome unknown) keeps the bodies written before it, which are then deleted.
    /// The script checks that the body hash can be written before it stores anything.
    async fn call_with_bodies(
        self,
        scripts: &Scripts,
        conn: &Commands,
        out: &mut Vec<Dispatched>,
        large: LargePayloads,
        outside: &[bool],
        plain: bool,
    ) -> Result<()> {
        let n = self.jobs.len() as i64;
        let last: i64 = conn
            .query(redis::cmd("INCRBY").arg(self.keys.seq()).arg(n))
            .await?;
        let first = last - n + 1;
        // Sized for the payloads up front: grown as they are written, the buffer would copy
        // what it holds at each doubling, about one more copy of them all.
        let body_key = self.keys.body();
        let bytes = body_key.len()
            + (self.jobs.iter().enumerate())
                .filter(|&(k, _)| outside[k])
                .map(|(_, job)| ID_DIGITS + 1 + job.spec().payload.len())
                .sum::<usize>();
        let mut hset = redis::Cmd::with_capacity(2 + 2 * self.jobs.len(), bytes);
        hset.arg("HSET").arg(body_key);
        for (k, job) in self.jobs.iter().enumerate() {
            if outside[k] {
                hset.arg(first + k as i64)
                    .arg(large.body(job.spec().payload));
            }
        }
        let mut eval = self.evalsha(scripts, Some(outside));
        self.args(&mut eval, plain, Some((first, outside)));
        let mut pipe = redis::pipe();
        pipe.atomic().add_command(hset).add_command(eval);
        match conn
            .pipe_loading::<(Value, Value)>(&pipe, &scripts.enqueue)
            .await
        {
            Ok((_, reply)) => self.read(reply, out),
            Err(error @ Error::Storage { .. }) => {
                let ids: Vec<i64> = (0..n)
                    .filter(|&k| outside[k as usize])
                    .map(|k| first + k)
                    .collect();
                let forget = redis::cmd("HDEL").arg(self.keys.body()).arg(&ids).clone();
                if let Err(e) = conn.query::<i64>(&forget).await {
                    tracing::warn!(error = %e, "could not delete the stored payloads of a refused dispatch");
                }
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// The script's arguments after its keys: 1 value per job when `plain`, else 4. With
    /// `numbered`, the client took the ids from `first` on, and the jobs marked there keep
    /// their payloads in the body hash (their envelopes' are empty).
    pub(super) fn args(
        &self,
        inv: &mut impl ArgSink,
        plain: bool,
        numbered: Option<(i64, &[bool])>,
    ) {
        inv.put(self.job);
        match numbered {
            Some((first, _)) => inv.put(format!("{}@{first}", self.jobs.len())),
            None => inv.put(self.jobs.len()),
        }
        inv.put(if plain { 1 } else { 4 });
        for (k, job) in self.jobs.iter().map(|job| job.spec()).enumerate() {
            if !plain {
                inv.put(job.id.map_or("", |id| id.as_str()));
                inv.put(job.priority);
                inv.put(delay_ms(job.delay));
            }
            let ready_ms = self.created_ms.saturating_add(delay_ms(job.delay));
            let outside = numbered.is_some_and(|(_, outside)| outside[k]);
            inv.put(Envelope {
                max_attempts: job.attempts,
                priority: job.priority,
                created_ms: self.created_ms,
                ready_ms,
                name: self.job,
                payload: if outside { &[] } else { job.payload },
            });
        }
    }

    /// Reads the script's reply (the keyed enqueue's has the same shape).
    pub(super) fn read(&self, reply: Value, out: &mut Vec<Dispatched>) -> Result<()> {
        let Value::Array(items) = reply else {
            return Err(Error::storage("enqueue returned no list"));
        };
        let first = items
            .first()
            .and_then(as_i64)
            .ok_or_else(|| Error::storage("enqueue returned no first id"))?;
        let existing: HashSet<i64> = items[1..].iter().filter_map(as_i64).collect();
        for (k, job) in self.jobs.iter().enumerate() {
            let id = match job.spec().id {
                Some(id) => id.clone(),
                None => JobId::from((first + k as i64).to_string()),
            };
            let created = !existing.contains(&(k as i64 + 1));
            out.push(Dispatched::new(id, created));
        }
        Ok(())
    }
}

/// Sends enqueue calls of one lane whose payloads all pass through the script (none takes
/// bodies) in one `MULTI`/`EXEC`: one round trip for all of them, which across a network is
/// what a big bulk dispatch waits on. Returns what each call stored, or its error, in order.
///
/// The transaction keeps a lane's order whatever happens to it. A command refused when queued
/// (`OOM` at `maxmemory`) makes `EXEC` run none (`EXECABORT`, the outer error, retryable and
/// classed by that refusal). A server that lost its scripts answers `NOSCRIPT` to every call,
/// having run none, and the whole transaction is sent again once the script is loaded. A lost
/// connection leaves the outcome unknown (the outer error), as for one call. A script that
/// fails while running stops its own call alone; the calls after it may have stored theirs,
/// which their results say. On a server demoted to a replica by a failover, the scripts are
/// queued (they declare no flags) and each call's first write is refused with `READONLY`:
/// every call fails alone, having stored nothing, and that reply replaces the connection as
/// the same error of one call does (see [`Commands::pipe_each`]), so a retry reaches the
/// primary.
pub(crate) async fn call_together(
    calls: &[Enqueue<'_>],
    scripts: &Scripts,
    conn: &Commands,
) -> Result<Vec<Result<Vec<Dispatched>>>> {
    let mut pipe = redis::pipe();
    pipe.atomic().ignore_errors();
    for call in calls {
        let mut eval = call.evalsha(scripts, None);
        call.args(&mut eval, call.plain(), None);
        pipe.add_command(eval);
    }
    let mut replies = conn.pipe_each(&pipe).await?;
    let lost_script =
        |reply: &Value| matches!(reply, Value::ServerError(e) if e.code() == "NOSCRIPT");
    if !replies.is_empty() && replies.iter().all(lost_script) {
        conn.load(&scripts.enqueue).await?;
        replies = conn.pipe_each(&pipe).await?;
    }
    if replies.len() != calls.len() {
        return Err(Error::storage(format!(
            "a transaction of {} enqueue calls had {} replies",
            calls.len(),
            replies.len()
        )));
    }
    Ok(calls
        .iter()
        .zip(replies)
        .map(|(call, reply)| match reply {
            Value::ServerError(e) => Err(conn.error(e.into())),
            reply => {
                let mut out = Vec::with_capacity(call.jobs.len());
                call.read(reply, &mut out).map(|()| out)
            }
        })
        .collect())
}

/// `reserve.lua`: acks finished jobs, then leases up to `max` ready jobs (at most
/// [`JOBS_PER_CALL`]).
pub(crate) struct Reserve<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) lane: &'a Lane,
    pub(crate) max: usize,
    pub(crate) lease: Duration,
    /// How many failed jobs the queue keeps.
    pub(crate) max_failed: usize,
    /// Lost leases that make a job poison (at least 1).
    pub(crate) max_lost_leases: u32,
    /// Leases to ack first, at most [`JOBS_PER_CALL`].
    pub(crate) done: &'a [Lease],
}

/// What a reserve did.
#[derive(Debug)]
pub(crate) struct ReserveReply {
    /// Per lease of [`Reserve::done`], whether it was acked (false also when unknown).
    pub(crate) acked: Vec<bool>,
    /// The jobs leased whose records could be read.
    pub(crate) reservation: Reservation,
    /// Jobs leased whose records cannot be read or name another job, each with why: for the
    /// caller to fail with their lease.
    pub(crate) unreadable: Vec<(Lease, String)>,
}

impl Reserve<'_> {
    /// Once the script ran, every job it leased that can be read reaches the caller whatever
    /// else in the reply cannot be read, or it would wait out its lease without running: ack
    /// flags that cannot be read count as not acked, and a job whose id or batch token cannot
    /// be read is logged and left leased, for the reaper to return when the lease expires.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<ReserveReply> {
        let mut inv = lane_call(&scripts.reserve, self.keys);
        self.args(&mut inv);
        let reply = conn.invoke(&inv).await?;
        self.read(reply)
    }

    /// The script's arguments after its keys (the limited reserve sends more after them).
    pub(super) fn args(&self, inv: &mut ScriptCall<'_>) {
        inv.arg(self.max.min(JOBS_PER_CALL))
            .arg(ms(self.lease))
            .arg(self.max_failed)
            .arg(self.lane.job())
            .arg(self.max_lost_leases);
        for l in self.done {
            inv.arg(l.id.as_str()).arg(l.token);
        }
    }

    /// Reads the script's reply (the limited reserve's has the same shape).
    pub(super) fn read(self, reply: Value) -> Result<ReserveReply> {
        let lane = self.lane;
        let Value::Array(items) = reply else {
            return Err(unexpected("a list from reserve", &reply));
        };
        let acked = ack_flags_or_unknown(items.get(2), self.done.len(), lane);
        let mut reservation = Reservation::default();
        let next = items.first().and_then(as_i64).unwrap_or(-1);
        if next >= 0 {
            reservation.next_due = Some(Duration::from_millis(next as u64));
        }
        let token = items
            .get(1)
            .and_then(as_i64)
            .and_then(|t| u64::try_from(t).ok());
        if let Some(Value::Array(poisoned)) = items.get(3) {
            reservation.poisoned = poisoned_pairs(poisoned);
        }
        let mut unreadable = Vec::new();
        let now_ms = queue_core::unix_ms(std::time::SystemTime::now());
        let mut rest = items.into_iter().skip(4);
        while let (Some(id), Some(env)) = (rest.next(), rest.next()) {
            let (Some(id), Some(token)) = (as_string(&id), token) else {
                tracing::error!(%lane, id = ?id, "reserve returned a job without a readable id or token; its lease will expire and the reaper returns it");
                continue;
            };
            let id = JobId::from(id);
            let raw = into_bytes(env).unwrap_or_default();
            match Header::parse(&raw) {
                Some(h) if h.name == lane.job() => {
                    let payload = raw.slice(h.body_at..);
                    let (attempt, max) = (h.attempts + 1, h.max_attempts);
                    let waited = Duration::from_millis(now_ms.saturating_sub(h.ready_ms));
                    reservation
                        .jobs
                        .push(ReservedJob::new(id, token, payload, attempt, max).waited(waited));
                }
                Some(h) => {
                    let why = format!(
                        "job `{id}` is named `{}` but was found in lane `{lane}`",
                        h.name
                    );
                    unreadable.push((Lease { id, token }, why));
                }
                None => {
                    let why = format!("unreadable job record for id `{id}`");
                    unreadable.push((Lease { id, token }, why));
                }
            }
        }
        crate::record::stamp_starts(&mut reservation.jobs);
        Ok(ReserveReply {
            acked,
            reservation,
            unreadable,
        })
    }
}

/// The (id, attempt) pairs of jobs a reap failed as poison, from a flat reply list.
fn poisoned_pairs(items: &[Value]) -> Vec<(JobId, u32)> {
    items
        .chunks_exact(2)
        .filter_map(|pair| {
            let id = as_string(&pair[0])?;
            let attempt = as_i64(&pair[1]).and_then(|a| u32::try_from(a).ok())?;
            Some((JobId::from(id), attempt))
        })
        .collect()
}

/// `ack.lua`: completes jobs whose handlers succeeded.
pub(crate) struct Ack<'a> {
    pub(crate) keys: &'a LaneKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    pub(crate) leases: &'a [Lease],
}

impl Ack<'_> {
    /// Per lease, whether it was current (and the job is done).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Vec<bool>> {
        if self.leases.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = lane_call(&scripts.ack, self.keys);
        inv.arg(self.job);
        for l in self.leases {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        ack_flags(Some(&conn.invoke(&inv).await?), self.leases.len())
    }
}

/// `renew.lua`: extends the leases of running jobs.
pub(crate) struct Renew<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) lease: Duration,
    /// At most [`JOBS_PER_CALL`].
    pub(crate) leases: &'a [Lease],
}

impl Renew<'_> {
    /// Per lease, whether it is still held (and was extended).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Vec<bool>> {
        let mut inv = lane_call(&scripts.renew, self.keys);
        inv.arg(ms(self.lease));
        for l in self.leases {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        flags(conn, &inv).await
    }
}

/// `fail.lua`: ends a failed run with a retry or in the failed list.
pub(crate) struct Fail<'a> {
    pub(crate) keys: &'a LaneKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    pub(crate) lease: &'a Lease,
    pub(crate) error: &'a str,
    /// When to retry; `None` fails the job for good.
    pub(crate) retry_in: Option<Duration>,
    /// How many failed jobs the queue keeps.
    pub(crate) max_failed: usize,
}

impl Fail<'_> {
    /// Whether the lease was current (else nothing changed).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<bool> {
        let mut inv = lane_call(&scripts.fail, self.keys);
        let retry = self.retry_in.map_or(-1, |d| delay_ms(d) as i64);
        inv.arg(self.lease.id.as_str())
            .arg(self.lease.token)
            .arg(self.error)
            .arg(retry)
            .arg(self.max_failed)
            .arg(self.job);
        Ok(integer(conn, &inv).await? == Some(1))
    }
}

/// `requeue.lua`: puts running jobs back at the head of their lane.
pub(crate) struct Requeue<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) leases: &'a [Lease],
}

impl Requeue<'_> {
    /// Per lease, whether it was current (and the job was requeued).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<Vec<bool>> {
        if self.leases.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = lane_call(&scripts.requeue, self.keys);
        for l in self.leases {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        flags(conn, &inv).await
    }
}

/// `progress.lua`: records a running job's progress.
pub(crate) struct Progress<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) lease: &'a Lease,
    /// The progress as JSON text.
    pub(crate) progress: &'a str,
}

impl Progress<'_> {
    /// Whether the lease was current (else nothing changed).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<bool> {
        let mut inv = lane_call(&scripts.progress, self.keys);
        inv.arg(self.lease.id.as_str())
            .arg(self.lease.token)
            .arg(self.progress);
        Ok(integer(conn, &inv).await? == Some(1))
    }
}

/// `reap.lua`: returns the jobs of expired leases, or fails them as poison.
pub(crate) struct Reap<'a> {
    pub(crate) keys: &'a LaneKeys,
    /// The lane's job name.
    pub(crate) job: &'a str,
    /// How many failed jobs the queue keeps.
    pub(crate) max_failed: usize,
    /// Lost leases that make a job poison (at least 1).
    pub(crate) max_lost_leases: u32,
}

impl Reap<'_> {
    /// How many expired leases were handled.
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<usize> {
        let mut inv = lane_call(&scripts.reap, self.keys);
        inv.arg(self.max_failed)
            .arg(self.job)
            .arg(self.max_lost_leases);
        Ok(integer(conn, &inv).await?.unwrap_or(0) as usize)
    }
}

/// Reads the ack flags of a reserve that ran: unreadable flags are logged and reported as not
/// acked (their outcome is unknown; acking again is harmless), since the jobs the script leased
/// must reach the caller anyway.
fn ack_flags_or_unknown(reply: Option<&Value>, n: usize, lane: &Lane) -> Vec<bool> {
    ack_flags(reply, n).unwrap_or_else(|error| {
        tracing::warn!(%lane, %error, "could not read the ack flags of a reserve; the acks' outcome is unknown");
        vec![false; n]
    })
}

/// Reads the ack flags string of `ack.lua` (and `complete.lua`): one '1' or '0' per lease.
pub(super) fn ack_flags(reply: Option<&Value>, n: usize) -> Result<Vec<bool>> {
    let text = reply.and_then(as_string).unwrap_or_default();
    if text.len() != n {
        return Err(Error::storage(format!(
            "expected {n} ack flags from Redis, got {text:?}"
        )));
    }
    Ok(text.bytes().map(|b| b == b'1').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_ack_flags_of_a_reserve_are_unknown_not_an_error() {
        let lane = Lane::new("q", "job").unwrap();
        let good = Value::BulkString(b"101".to_vec());
        assert_eq!(
            ack_flags_or_unknown(Some(&good), 3, &lane),
            [true, false, true]
        );
        for bad in [None, Some(&Value::Nil), Some(&good)] {
            assert_eq!(ack_flags_or_unknown(bad, 2, &lane), [false, false]);
        }
        assert!(ack_flags(Some(&good), 2).is_err(), "ack alone reports it");
    }
}
