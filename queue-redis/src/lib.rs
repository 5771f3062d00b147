#![doc = include_str!("../README.md")]

mod coalesce;
mod connection;
mod errors;
mod keys;
mod options;
mod presence;
mod record;
mod scripts;
mod wait;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use queue_core::{
    redact_url, validate_name, Counts, Dispatched, Driver, Error, Failure, JobId, JobInfo, Lane,
    Lease, NewJob, Reservation, ReservedJob, Result, WorkerPresence, MAX_DELAY,
};
use redis::{ScriptInvocation, Value};

use coalesce::{Gatherer, Sender};
use connection::{open_client, Commands};
use keys::{Keys, LaneKeys, QueueKeys};
use options::split_prefix;
use record::{as_i64, as_string, envelope, into_bytes, Header, Stored};
use scripts::Scripts;
use wait::Waiters;

pub use options::RedisOptions;

/// Most queue names remembered as listed in `<prefix>:queues`; past it the memory starts over.
const MAX_NOTED_QUEUES: usize = 1024;

/// How long a queue name noted in `<prefix>:queues` is trusted to still be there (a purge in
/// another process removes it); the next dispatch after that notes it again.
const NOTED_FOR: Duration = Duration::from_secs(60);

/// Jobs per script call; bigger batches are split (Lua's `unpack` takes at most ~8000 values).
const ENQUEUE_CHUNK: usize = 1000;

/// Stores jobs in Redis (or a Redis-compatible server), with every multi-key step one Lua
/// script. Cloning shares the connection.
///
/// Connect with `redis://[user:password@]host[:port][/db][?prefix=app]` or `rediss://...` (TLS,
/// with the `tls` feature), or through [`Queue::connect`](queue_core::Queue::connect).
#[derive(Clone)]
pub struct RedisDriver {
    inner: Arc<Inner>,
}

struct Inner {
    /// The command connection (its URL, redacted, names the server in errors).
    conn: Commands,
    options: RedisOptions,
    scripts: Scripts,
    /// Key names, with each lane's key set cached.
    keys: Keys,
    /// Queues noted in `<prefix>:queues`, and when, at most [`MAX_NOTED_QUEUES`].
    known_queues: Mutex<HashMap<String, std::time::Instant>>,
    waiters: Waiters,
    /// Lone dispatches gathering for one call (see [`coalesce`]).
    dispatches: Gatherer,
}

impl std::fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDriver")
            .field("url", &self.inner.conn.url())
            .field("prefix", &self.inner.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisDriver {
    /// Connects with default options; `?prefix=` in the URL sets the key prefix.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// Connects with `options`; a `?prefix=` in the URL overrides `options.prefix`.
    pub async fn connect_with(url: &str, mut options: RedisOptions) -> Result<Self> {
        let redacted = redact_url(url);
        let (url, prefix) = split_prefix(url);
        if let Some(prefix) = prefix {
            options.prefix = prefix;
        }
        validate_name("key prefix", &options.prefix)?;
        let client = open_client(&url, &options).map_err(|e| Error::InvalidUrl {
            url: redacted.clone(),
            reason: e.to_string(),
        })?;
        let conn = Commands::connect(client.clone(), &options, redacted.clone())
            .await
            .map_err(|e| Error::Unavailable {
                url: redacted,
                source: Box::new(e),
            })?;
        let waiters = Waiters::new(client, &options);
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                keys: Keys::new(&options.prefix),
                options,
                scripts: Scripts::new(),
                known_queues: Mutex::new(HashMap::new()),
                waiters,
                dispatches: Gatherer::default(),
            }),
        })
    }

    /// Stores jobs of one lane, [`ENQUEUE_CHUNK`] per script call; returns what became of each,
    /// in order.
    async fn enqueue_lane(&self, lane: &Lane, jobs: &[&NewJob]) -> Result<Vec<Dispatched>> {
        let mut out = Vec::with_capacity(jobs.len());
        self.enqueue_into(lane, jobs, &mut out).await?;
        Ok(out)
    }

    /// Stores jobs of one lane, [`ENQUEUE_CHUNK`] per script call, adding what became of each to
    /// `out` as its call answers: on an error, `out` holds the jobs stored before it. (A chunk
    /// refused for lack of memory stores nothing: the script's first write is refused.)
    async fn enqueue_into(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
        out: &mut Vec<Dispatched>,
    ) -> Result<()> {
        self.note_queue(lane.queue()).await?;
        let keys = self.inner.keys.lane(lane);
        let created_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, ms);
        for chunk in jobs.chunks(ENQUEUE_CHUNK) {
            let mut inv = self.lane_call(&self.inner.scripts.enqueue, &keys);
            // Plain jobs (numbered, priority 0, no delay) send only their envelopes.
            let plain = chunk.iter().all(|job| {
                job.chosen_id().is_none()
                    && job.priority_value() == 0
                    && job.delay_duration().is_zero()
            });
            inv.arg(lane.job())
                .arg(chunk.len())
                .arg(if plain { 1 } else { 4 });
            for job in chunk {
                if !plain {
                    inv.arg(job.chosen_id().map_or("", |id| id.as_str()))
                        .arg(job.priority_value())
                        .arg(delay_ms(job.delay_duration()));
                }
                inv.arg(envelope(
                    job.max_attempts(),
                    job.priority_value(),
                    created_ms,
                    lane.job(),
                    job.payload(),
                ));
            }
            let Value::Array(items) = self.inner.conn.invoke(&inv).await? else {
                return Err(Error::storage("enqueue returned no list"));
            };
            let first = items
                .first()
                .and_then(as_i64)
                .ok_or_else(|| Error::storage("enqueue returned no first id"))?;
            let existing: HashSet<i64> = items[1..].iter().filter_map(as_i64).collect();
            for (k, job) in chunk.iter().enumerate() {
                let id = match job.chosen_id() {
                    Some(id) => id.clone(),
                    None => JobId::from((first + k as i64).to_string()),
                };
                let created = !existing.contains(&(k as i64 + 1));
                out.push(Dispatched::new(id, created));
            }
        }
        Ok(())
    }

    fn queue_keys(&self, queue: &str) -> Result<QueueKeys> {
        validate_name("queue name", queue)?;
        Ok(self.inner.keys.queue(queue))
    }

    fn scripts(&self) -> &Scripts {
        &self.inner.scripts
    }

    /// Remembers `queue` in the set of queue names, once per process and [`NOTED_FOR`].
    async fn note_queue(&self, queue: &str) -> Result<()> {
        let fresh = |at: &std::time::Instant| at.elapsed() < NOTED_FOR;
        if self.inner.known_queues.lock().get(queue).is_some_and(fresh) {
            return Ok(());
        }
        let key = self.inner.keys.queues();
        let noted_at = std::time::Instant::now();
        self.inner
            .conn
            .query::<i64>(redis::cmd("SADD").arg(&key).arg(queue))
            .await?;
        let mut known = self.inner.known_queues.lock();
        if known.len() >= MAX_NOTED_QUEUES {
            known.retain(|_, at| fresh(at));
            if known.len() >= MAX_NOTED_QUEUES {
                known.clear();
            }
        }
        known.insert(queue.to_string(), noted_at);
        Ok(())
    }

    /// Runs a per-lane script: the lane's keys, then `args`.
    fn lane_call<'s>(&self, script: &'s redis::Script, keys: &LaneKeys) -> ScriptInvocation<'s> {
        let mut inv = script.prepare_invoke();
        for key in keys.all() {
            inv.key(key);
        }
        inv
    }

    async fn flags(&self, inv: &ScriptInvocation<'_>) -> Result<Vec<bool>> {
        match self.inner.conn.invoke(inv).await? {
            Value::Array(items) => Ok(items.iter().map(|v| as_i64(v) == Some(1)).collect()),
            other => Err(unexpected("a list of flags", &other)),
        }
    }

    async fn lanes_of(&self, keys: &QueueKeys) -> Result<Vec<String>> {
        let mut lanes: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("SMEMBERS").arg(keys.lanes()))
            .await?;
        lanes.sort();
        Ok(lanes)
    }

    async fn infos(&self, queue: &str, keys: &QueueKeys, ids: Vec<String>) -> Result<Vec<JobInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in [keys.data(), keys.err(), keys.prog(), keys.lost()] {
            pipe.cmd("HMGET").arg(key).arg(&ids);
        }
        let (datas, errs, progs, losts): (Vec<Value>, Vec<Value>, Vec<Value>, Vec<Value>) =
            self.inner.conn.pipe(&pipe).await?;
        let mut out = Vec::with_capacity(ids.len());
        let sides = errs.iter().zip(&progs).zip(&losts);
        for ((id, data), ((err, prog), lost)) in ids.into_iter().zip(datas).zip(sides) {
            let Some(raw) = into_bytes(data) else {
                continue;
            };
            // Listed from the failed list: never running.
            let stored = Stored {
                raw,
                leased: false,
                error: as_string(err),
                progress: as_string(prog),
                lost_leases: lost_count(lost),
            };
            out.extend(stored.info(JobId::from(id), queue, |_| false));
        }
        Ok(out)
    }

    /// The queue's failed count and pause flag, and each lane's ready, scheduled and active
    /// counts by job name, in one pipeline after listing the lanes.
    async fn counts_by_lane(&self, queue: &str) -> Result<(Counts, Vec<(String, Counts)>)> {
        let keys = self.queue_keys(queue)?;
        let lanes = self.lanes_of(&keys).await?;
        let mut pipe = redis::pipe();
        pipe.cmd("LLEN").arg(keys.failed());
        pipe.cmd("EXISTS").arg(keys.paused());
        for job in &lanes {
            let lane = keys.lane(job);
            pipe.cmd("LLEN").arg(lane.ready());
            pipe.cmd("ZCARD").arg(lane.prio());
            pipe.cmd("ZCARD").arg(lane.sched());
            // Not the sentinel (lua/lib.lua), whose score is 0; tokens start at 1.
            pipe.cmd("ZCOUNT").arg(lane.active()).arg("(0").arg("+inf");
        }
        let values: Vec<u64> = self.inner.conn.pipe(&pipe).await?;
        let mut queue_counts = Counts::default();
        queue_counts.failed = values[0];
        queue_counts.paused = values[1] == 1;
        let by_lane = lanes
            .into_iter()
            .zip(values[2..].chunks_exact(4))
            .map(|(job, lane)| {
                let mut counts = Counts::default();
                counts.ready = lane[0] + lane[1];
                counts.scheduled = lane[2];
                counts.active = lane[3];
                counts.paused = queue_counts.paused;
                (job, counts)
            })
            .collect();
        Ok((queue_counts, by_lane))
    }

    /// Fails a job the driver itself cannot hand out (its record is unreadable or names another
    /// job), keeping the record whole in the failed list.
    async fn fail_unreadable(&self, lane: &Lane, lease: &Lease, why: String) -> Result<bool> {
        self.fail(lane, lease, Failure::fail(format!("malformed job: {why}")))
            .await
    }

    /// The poison limit the scripts get (at least 1).
    fn max_lost_leases(&self) -> u32 {
        self.inner.options.max_lost_leases.max(1)
    }

    /// Reads the reply of `reserve.lua` (ack flags aside): every job it leased that can be read
    /// is returned. A record that cannot be read, or that names another job, is failed on its
    /// own; when even that fails, or its id or the batch's token cannot be read, the job is
    /// logged and left leased, for the reaper to return when the lease expires.
    async fn read_reservation(&self, lane: &Lane, items: Vec<Value>) -> Reservation {
        let mut reservation = Reservation::default();
        let next = items.first().and_then(as_i64).unwrap_or(-1);
        if next >= 0 {
            reservation.next_due = Some(Duration::from_millis(next as u64));
        }
        let token = items
            .get(1)
            .and_then(as_i64)
            .and_then(|t| u64::try_from(t).ok());
        let mut unreadable = Vec::new();
        let mut rest = items.into_iter().skip(3);
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
                    reservation
                        .jobs
                        .push(ReservedJob::new(id, token, payload, attempt, max));
                }
                Some(h) => {
                    let why = format!(
                        "job `{id}` is named `{}` but was found in lane `{lane}`",
                        h.name
                    );
                    unreadable.push((id, why));
                }
                None => {
                    let why = format!("unreadable job record for id `{id}`");
                    unreadable.push((id, why));
                }
            }
        }
        for (id, why) in unreadable {
            let lease = Lease {
                id,
                token: token.unwrap_or_default(),
            };
            if let Err(error) = self.fail_unreadable(lane, &lease, why).await {
                tracing::warn!(%lane, id = %lease.id, %error, "could not fail an unreadable job record; its lease will expire and the reaper returns it");
            }
        }
        reservation
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

/// Reads the ack flags string of `ack.lua`: one '1' or '0' per lease.
fn ack_flags(reply: Option<&Value>, n: usize) -> Result<Vec<bool>> {
    let text = reply.and_then(as_string).unwrap_or_default();
    if text.len() != n {
        return Err(Error::storage(format!(
            "expected {n} ack flags from Redis, got {text:?}"
        )));
    }
    Ok(text.bytes().map(|b| b == b'1').collect())
}

/// The error of a dispatch of `jobs` that failed with `error` when the jobs stored so far are
/// those of `out`: the error itself when none were, else [`Error::PartlyStored`].
fn partly_stored(jobs: Vec<NewJob>, out: Vec<Option<Dispatched>>, error: Error) -> Error {
    let stored: Vec<(usize, Dispatched)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i, d.clone()?)))
        .collect();
    if stored.is_empty() {
        return error;
    }
    let not_stored = jobs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| out[*i].is_none())
        .collect();
    Error::PartlyStored {
        stored,
        not_stored,
        source: Box::new(error),
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

/// A job's lost leases from the lost hash (none when the field is missing).
fn lost_count(v: &Value) -> u32 {
    as_i64(v).map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Lone dispatches gathered by [`coalesce`] go in one enqueue call per lane.
impl Sender for RedisDriver {
    fn send(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
    ) -> impl std::future::Future<Output = Result<Vec<Dispatched>>> + std::marker::Send {
        self.enqueue_lane(lane, jobs)
    }
}

fn connect(url: String) -> BoxFuture<'static, Result<Arc<dyn Driver>>> {
    Box::pin(async move { Ok(Arc::new(RedisDriver::connect(&url).await?) as Arc<dyn Driver>) })
}

queue_core::register_driver!(["redis", "rediss", "redis+unix", "unix"], connect);

#[async_trait]
impl Driver for RedisDriver {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        if jobs.len() == 1 {
            let job = jobs.into_iter().next().expect("one job");
            let one = self.inner.dispatches.dispatch(job, self.clone()).await?;
            return Ok(vec![one]);
        }
        // Group by lane, keeping dispatch order within each lane.
        let mut groups: Vec<(Lane, Vec<usize>)> = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let lane = job.lane()?;
            match groups.iter_mut().find(|(l, _)| *l == lane) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((lane, vec![i])),
            }
        }
        let mut out: Vec<Option<Dispatched>> = vec![None; jobs.len()];
        for (lane, indices) in groups {
            let group: Vec<&NewJob> = indices.iter().map(|&i| &jobs[i]).collect();
            let mut sent = Vec::with_capacity(group.len());
            let result = self.enqueue_into(&lane, &group, &mut sent).await;
            for (&i, dispatched) in indices.iter().zip(sent) {
                out[i] = Some(dispatched);
            }
            if let Err(error) = result {
                return Err(partly_stored(jobs, out, error));
            }
        }
        out.into_iter()
            .map(|d| d.ok_or_else(|| Error::storage("enqueue returned too few results")))
            .collect()
    }

    async fn reserve(&self, lane: &Lane, max: usize, lease: Duration) -> Result<Reservation> {
        Ok(self.ack_and_reserve(lane, &[], max, lease).await?.1)
    }

    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        // A batch too big for one script's arguments acks its excess first.
        let (excess, done) = done.split_at(done.len().saturating_sub(ENQUEUE_CHUNK));
        let mut acked = Vec::with_capacity(excess.len() + done.len());
        for chunk in excess.chunks(ENQUEUE_CHUNK) {
            acked.extend(self.ack(lane, chunk).await?);
        }
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.reserve, &keys);
        inv.arg(max.min(ENQUEUE_CHUNK))
            .arg(ms(lease))
            .arg(self.inner.options.max_failed)
            .arg(lane.job())
            .arg(self.max_lost_leases());
        for l in done {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        let reply = self.inner.conn.invoke(&inv).await?;
        // The script ran: the jobs it leased reach the caller whatever else in the reply cannot
        // be read, or they would wait out their lease without running.
        let Value::Array(items) = reply else {
            return Err(unexpected("a list from reserve", &reply));
        };
        acked.extend(ack_flags_or_unknown(items.get(2), done.len(), lane));
        let reservation = self.read_reservation(lane, items).await;
        Ok((acked, reservation))
    }

    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        let keys = self.inner.keys.lane(lane);
        self.inner
            .waiters
            .wait(keys.wake(), timeout, &self.inner.conn)
            .await
            .map_err(|e| self.inner.conn.error(e))
    }

    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        let mut held = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(ENQUEUE_CHUNK) {
            let mut inv = self.lane_call(&self.inner.scripts.renew, &keys);
            inv.arg(ms(lease));
            for l in chunk {
                inv.arg(l.id.as_str()).arg(l.token);
            }
            held.extend(self.flags(&inv).await?);
        }
        Ok(held)
    }

    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.ack, &keys);
        inv.arg(lane.job());
        for l in leases {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        ack_flags(Some(&self.inner.conn.invoke(&inv).await?), leases.len())
    }

    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.fail, &keys);
        let retry = failure.retry_in.map_or(-1, |d| delay_ms(d) as i64);
        inv.arg(lease.id.as_str())
            .arg(lease.token)
            .arg(&failure.error)
            .arg(retry)
            .arg(self.inner.options.max_failed)
            .arg(lane.job());
        Ok(as_i64(&self.inner.conn.invoke(&inv).await?) == Some(1))
    }

    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.requeue, &keys);
        for l in leases {
            inv.arg(l.id.as_str()).arg(l.token);
        }
        self.flags(&inv).await
    }

    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.progress, &keys);
        inv.arg(lease.id.as_str())
            .arg(lease.token)
            .arg(progress.to_string());
        Ok(as_i64(&self.inner.conn.invoke(&inv).await?) == Some(1))
    }

    async fn reap(&self, lane: &Lane) -> Result<usize> {
        let keys = self.inner.keys.lane(lane);
        let mut inv = self.lane_call(&self.inner.scripts.reap, &keys);
        inv.arg(self.inner.options.max_failed)
            .arg(lane.job())
            .arg(self.max_lost_leases());
        Ok(as_i64(&self.inner.conn.invoke(&inv).await?).unwrap_or(0) as usize)
    }

    async fn queues(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("SMEMBERS").arg(self.inner.keys.queues()))
            .await?;
        names.sort();
        Ok(names)
    }

    async fn counts(&self, queue: &str) -> Result<Counts> {
        let (mut counts, lanes) = self.counts_by_lane(queue).await?;
        for (_, lane) in lanes {
            counts.ready += lane.ready;
            counts.scheduled += lane.scheduled;
            counts.active += lane.active;
        }
        Ok(counts)
    }

    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        Ok(self.counts_by_lane(queue).await?.1)
    }

    async fn heartbeat(&self, worker: &WorkerPresence, ttl: Duration) -> Result<()> {
        self.record_worker(worker, ttl).await
    }

    async fn retire(&self, worker_id: &str) -> Result<()> {
        self.forget_worker(worker_id).await
    }

    async fn workers(&self) -> Result<Vec<WorkerPresence>> {
        self.live_workers().await
    }

    async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>> {
        let keys = self.queue_keys(queue)?;
        let mut pipe = redis::pipe();
        for key in [
            keys.data(),
            keys.later(),
            keys.err(),
            keys.prog(),
            keys.lost(),
        ] {
            pipe.cmd("HGET").arg(key).arg(id.as_str());
        }
        let (data, later, err, prog, lost): (Value, Value, Value, Value, Value) =
            self.inner.conn.pipe(&pipe).await?;
        let Some(raw) = into_bytes(data).or_else(|| into_bytes(later)) else {
            return Ok(None);
        };
        // Only a job that has not failed can be running or scheduled: look only then.
        let (mut leased, mut scheduled) = (false, false);
        if let Some(h) = Header::parse(&raw).filter(|h| h.failed_ms == 0) {
            let lane = keys.lane(h.name);
            let (in_active, in_sched): (Option<f64>, Option<f64>) = self
                .inner
                .conn
                .pipe(
                    redis::pipe()
                        .cmd("ZSCORE")
                        .arg(lane.active())
                        .arg(id.as_str())
                        .cmd("ZSCORE")
                        .arg(lane.sched())
                        .arg(id.as_str()),
                )
                .await?;
            (leased, scheduled) = (in_active.is_some(), in_sched.is_some());
        }
        let stored = Stored {
            raw,
            leased,
            error: as_string(&err),
            progress: as_string(&prog),
            lost_leases: lost_count(&lost),
        };
        Ok(stored.info(id.clone(), queue, |_| scheduled))
    }

    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.queue_keys(queue)?;
        let ids: Vec<String> = self
            .inner
            .conn
            .query(
                redis::cmd("LRANGE")
                    .arg(keys.failed())
                    .arg(offset)
                    .arg(offset + limit - 1),
            )
            .await?;
        self.infos(queue, &keys, ids).await
    }

    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
        let keys = self.queue_keys(queue)?;
        let ids: Vec<String> = match id {
            Some(id) => vec![id.to_string()],
            // Oldest failure first, so the retried jobs keep their order.
            None => {
                let mut ids: Vec<String> = self
                    .inner
                    .conn
                    .query(redis::cmd("LRANGE").arg(keys.failed()).arg(0).arg(-1))
                    .await?;
                ids.reverse();
                ids
            }
        };
        let mut moved = 0;
        for chunk in ids.chunks(ENQUEUE_CHUNK) {
            let raws: Vec<Option<Vec<u8>>> = self
                .inner
                .conn
                .query(redis::cmd("HMGET").arg(keys.data()).arg(chunk))
                .await?;
            let mut by_lane: Vec<(String, Vec<&String>)> = Vec::new();
            for (id, raw) in chunk.iter().zip(raws) {
                let Some(name) = raw.as_deref().and_then(Header::parse).map(|h| h.name) else {
                    continue;
                };
                match by_lane.iter_mut().find(|(n, _)| n == name) {
                    Some((_, ids)) => ids.push(id),
                    None => by_lane.push((name.to_string(), vec![id])),
                }
            }
            for (name, ids) in by_lane {
                let lane = Lane::new(queue, &name)?;
                let lane_keys = self.inner.keys.lane(&lane);
                let mut inv = self.lane_call(&self.inner.scripts.retry_failed, &lane_keys);
                inv.arg(&name);
                for id in ids {
                    inv.arg(id);
                }
                moved += as_i64(&self.inner.conn.invoke(&inv).await?).unwrap_or(0) as usize;
            }
        }
        Ok(moved)
    }

    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        let keys = self.queue_keys(queue)?;
        for _ in 0..3 {
            let (data, later): (Option<Vec<u8>>, Option<Vec<u8>>) = self
                .inner
                .conn
                .pipe(
                    redis::pipe()
                        .cmd("HGET")
                        .arg(keys.data())
                        .arg(id.as_str())
                        .cmd("HGET")
                        .arg(keys.later())
                        .arg(id.as_str()),
                )
                .await?;
            let Some(raw) = data.or(later) else {
                return Ok(false);
            };
            // An unreadable record still gets deleted; its lane does not matter then.
            let name = Header::parse(&raw).map_or("_", |h| h.name).to_string();
            let lane = Lane::new(queue, &name)?;
            let lane_keys = self.inner.keys.lane(&lane);
            let mut inv = self.lane_call(&self.inner.scripts.delete, &lane_keys);
            inv.arg(id.as_str()).arg(&name);
            match as_i64(&self.inner.conn.invoke(&inv).await?) {
                Some(1) => return Ok(true),
                Some(0) => return Ok(false),
                _ => continue,
            }
        }
        Err(Error::storage(format!(
            "job `{id}` kept changing lanes while being deleted"
        )))
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        let lanes = self.lanes_of(&keys).await?;
        let mut inv = self.inner.scripts.purge.prepare_invoke();
        // The id and token counters stay (reusing ids or tokens would let a stale lease match a
        // new job), and so does the pause flag.
        let kept = [keys.seq(), keys.tok(), keys.paused()];
        for key in keys.own().into_iter().filter(|k| !kept.contains(k)) {
            inv.key(key);
        }
        for job in &lanes {
            for key in keys.lane(job).own() {
                inv.key(key);
            }
        }
        self.inner.conn.invoke(&inv).await?;
        // Out of the list of queues too (a dispatch lists it again). A dispatch racing with
        // this from a process that noted the queue within `NOTED_FOR` lists it again then.
        self.inner.known_queues.lock().remove(queue);
        self.inner
            .conn
            .query::<i64>(redis::cmd("SREM").arg(self.inner.keys.queues()).arg(queue))
            .await?;
        Ok(())
    }

    async fn pause(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        self.note_queue(queue).await?;
        self.inner
            .conn
            .query::<()>(redis::cmd("SET").arg(keys.paused()).arg(1))
            .await
    }

    async fn resume(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        let lanes = self.lanes_of(&keys).await?;
        let mut inv = self.inner.scripts.resume.prepare_invoke();
        inv.key(keys.paused());
        for job in &lanes {
            inv.key(keys.lane(job).wake());
        }
        self.inner.conn.invoke(&inv).await?;
        Ok(())
    }
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
