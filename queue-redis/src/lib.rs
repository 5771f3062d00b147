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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use queue_core::{
    redact_url, validate_name, Counts, Dispatched, Driver, Error, Failure, JobId, JobInfo, Lane,
    Lease, NewJob, Reservation, Result, WorkerPresence,
};
use redis::Value;

use coalesce::{Gatherer, Sender};
use connection::{open_client, Commands};
use keys::{Keys, QueueKeys};
use options::split_prefix;
use record::{as_string, into_bytes, lost_count, Header, Stored};
use scripts::Scripts;
use scripts::{
    Ack, Delete, Deleted, Enqueue, Fail, Progress, Purge, Reap, Renew, Requeue, Reserve,
    ReserveReply, Resume, RetryFailed, JOBS_PER_CALL,
};
use wait::Waiters;

pub use options::RedisOptions;

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
    /// Key names, with each lane's key set cached.
    keys: Keys,
    scripts: Scripts,
    /// Queues noted in `<prefix>:queues`, and when (see [`NOTED_FOR`]).
    known_queues: Mutex<HashMap<String, Instant>>,
    /// Blocking connections of idle workers.
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
}

/// Most queue names remembered as listed in `<prefix>:queues`; past it the memory starts over.
pub(crate) const MAX_NOTED_QUEUES: usize = 1024;

/// How long a queue name noted in `<prefix>:queues` is trusted to still be there (a purge in
/// another process removes it); the next dispatch after that notes it again.
pub(crate) const NOTED_FOR: Duration = Duration::from_secs(60);

impl RedisDriver {
    /// Dispatches `jobs`, a lone job together with other lone dispatches of its lane (see
    /// [`coalesce`]), others one lane after another in dispatch order.
    pub(crate) async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
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

    /// Stores jobs of one lane, [`JOBS_PER_CALL`] per script call; returns what became of each,
    /// in order.
    pub(crate) async fn enqueue_lane(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
    ) -> Result<Vec<Dispatched>> {
        let mut out = Vec::with_capacity(jobs.len());
        self.enqueue_into(lane, jobs, &mut out).await?;
        Ok(out)
    }

    /// Stores jobs of one lane, [`JOBS_PER_CALL`] per script call, adding what became of each to
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
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
        for chunk in jobs.chunks(JOBS_PER_CALL) {
            Enqueue {
                keys: &keys,
                job: lane.job(),
                jobs: chunk,
                created_ms,
            }
            .call(&self.inner.scripts, &self.inner.conn, out)
            .await?;
        }
        Ok(())
    }

    /// Remembers `queue` in the set of queue names, once per process and [`NOTED_FOR`].
    pub(crate) async fn note_queue(&self, queue: &str) -> Result<()> {
        let fresh = |at: &Instant| at.elapsed() < NOTED_FOR;
        if self.inner.known_queues.lock().get(queue).is_some_and(fresh) {
            return Ok(());
        }
        let key = self.inner.keys.queues();
        let noted_at = Instant::now();
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

    pub(crate) async fn reserve(
        &self,
        lane: &Lane,
        max: usize,
        lease: Duration,
    ) -> Result<Reservation> {
        Ok(self.ack_and_reserve(lane, &[], max, lease).await?.1)
    }

    pub(crate) async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        // A batch too big for one script's arguments acks its excess first.
        let (excess, done) = done.split_at(done.len().saturating_sub(JOBS_PER_CALL));
        let mut acked = Vec::with_capacity(excess.len() + done.len());
        for chunk in excess.chunks(JOBS_PER_CALL) {
            acked.extend(self.ack(lane, chunk).await?);
        }
        let keys = self.inner.keys.lane(lane);
        let reply = Reserve {
            keys: &keys,
            lane,
            max,
            lease,
            max_failed: self.inner.options.max_failed,
            max_lost_leases: self.max_lost_leases(),
            done,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        let ReserveReply {
            acked: flags,
            reservation,
            unreadable,
        } = reply;
        acked.extend(flags);
        // A record the driver cannot hand out is failed on its own; when even that fails, the
        // job stays leased, for the reaper to return when the lease expires.
        for (lease, why) in unreadable {
            if let Err(error) = self.fail_unreadable(lane, &lease, why).await {
                tracing::warn!(%lane, id = %lease.id, %error, "could not fail an unreadable job record; its lease will expire and the reaper returns it");
            }
        }
        Ok((acked, reservation))
    }

    /// Fails a job the driver itself cannot hand out (its record is unreadable or names another
    /// job), keeping the record whole in the failed list.
    async fn fail_unreadable(&self, lane: &Lane, lease: &Lease, why: String) -> Result<bool> {
        self.fail(lane, lease, Failure::fail(format!("malformed job: {why}")))
            .await
    }

    pub(crate) async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        let keys = self.inner.keys.lane(lane);
        self.inner
            .waiters
            .wait(keys.wake(), timeout, &self.inner.conn)
            .await
            .map_err(|e| self.inner.conn.error(e))
    }

    pub(crate) async fn renew(
        &self,
        lane: &Lane,
        leases: &[Lease],
        lease: Duration,
    ) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        let mut held = Vec::with_capacity(leases.len());
        for chunk in leases.chunks(JOBS_PER_CALL) {
            let renew = Renew {
                keys: &keys,
                lease,
                leases: chunk,
            };
            held.extend(renew.call(&self.inner.scripts, &self.inner.conn).await?);
        }
        Ok(held)
    }

    pub(crate) async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        Ack {
            keys: &keys,
            job: lane.job(),
            leases,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    pub(crate) async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        Fail {
            keys: &keys,
            job: lane.job(),
            lease,
            error: &failure.error,
            retry_in: failure.retry_in,
            max_failed: self.inner.options.max_failed,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    pub(crate) async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        Requeue {
            keys: &keys,
            leases,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    pub(crate) async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        Progress {
            keys: &keys,
            lease,
            progress: &progress.to_string(),
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    pub(crate) async fn reap(&self, lane: &Lane) -> Result<usize> {
        let keys = self.inner.keys.lane(lane);
        Reap {
            keys: &keys,
            job: lane.job(),
            max_failed: self.inner.options.max_failed,
            max_lost_leases: self.max_lost_leases(),
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    /// The poison limit the scripts get (at least 1).
    fn max_lost_leases(&self) -> u32 {
        self.inner.options.max_lost_leases.max(1)
    }
}

/// Lone dispatches gathered by [`coalesce`] go in one [`Enqueue`] call per
/// lane.
impl Sender for RedisDriver {
    fn send(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
    ) -> impl std::future::Future<Output = Result<Vec<Dispatched>>> + Send {
        self.enqueue_lane(lane, jobs)
    }
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

impl RedisDriver {
    /// The keys of `queue`, once its name is known to be valid.
    fn queue_keys(&self, queue: &str) -> Result<QueueKeys> {
        validate_name("queue name", queue)?;
        Ok(self.inner.keys.queue(queue))
    }

    /// The job names of the queue's lanes, sorted.
    async fn lanes_of(&self, keys: &QueueKeys) -> Result<Vec<String>> {
        let mut lanes: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("SMEMBERS").arg(keys.lanes()))
            .await?;
        lanes.sort();
        Ok(lanes)
    }

    pub(crate) async fn queues(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("SMEMBERS").arg(self.inner.keys.queues()))
            .await?;
        names.sort();
        Ok(names)
    }

    pub(crate) async fn counts(&self, queue: &str) -> Result<Counts> {
        let (mut counts, lanes) = self.counts_by_lane(queue).await?;
        for (_, lane) in lanes {
            counts.ready += lane.ready;
            counts.scheduled += lane.scheduled;
            counts.active += lane.active;
        }
        Ok(counts)
    }

    pub(crate) async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        Ok(self.counts_by_lane(queue).await?.1)
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

    pub(crate) async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>> {
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

    pub(crate) async fn failed(
        &self,
        queue: &str,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<JobInfo>> {
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

    /// The details of failed jobs `ids`, in one pipeline; ids without a readable record are
    /// left out.
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

    pub(crate) async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
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
        for chunk in ids.chunks(JOBS_PER_CALL) {
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
                moved += RetryFailed {
                    keys: &self.inner.keys.lane(&lane),
                    job: &name,
                    ids: &ids,
                }
                .call(&self.inner.scripts, &self.inner.conn)
                .await?;
            }
        }
        Ok(moved)
    }

    pub(crate) async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
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
            let deleted = Delete {
                keys: &self.inner.keys.lane(&lane),
                id: id.as_str(),
                job: &name,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
            match deleted {
                Deleted::Yes => return Ok(true),
                Deleted::Missing => return Ok(false),
                Deleted::OtherLane => continue,
            }
        }
        Err(Error::storage(format!(
            "job `{id}` kept changing lanes while being deleted"
        )))
    }

    pub(crate) async fn purge(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        let lanes = self.lanes_of(&keys).await?;
        Purge {
            queue: &keys,
            lanes: &lanes,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        // Out of the list of queues too (a dispatch lists it again). A dispatch racing with
        // this from a process that noted the queue within `NOTED_FOR` lists it again then.
        self.inner.known_queues.lock().remove(queue);
        self.inner
            .conn
            .query::<i64>(redis::cmd("SREM").arg(self.inner.keys.queues()).arg(queue))
            .await?;
        Ok(())
    }

    pub(crate) async fn pause(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        self.note_queue(queue).await?;
        self.inner
            .conn
            .query::<()>(redis::cmd("SET").arg(keys.paused()).arg(1))
            .await
    }

    pub(crate) async fn resume(&self, queue: &str) -> Result<()> {
        let keys = self.queue_keys(queue)?;
        let lanes = self.lanes_of(&keys).await?;
        Resume {
            queue: &keys,
            lanes: &lanes,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }
}

#[async_trait]
impl Driver for RedisDriver {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        RedisDriver::enqueue(self, jobs).await
    }

    async fn reserve(&self, lane: &Lane, max: usize, lease: Duration) -> Result<Reservation> {
        RedisDriver::reserve(self, lane, max, lease).await
    }

    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        RedisDriver::ack_and_reserve(self, lane, done, max, lease).await
    }

    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        RedisDriver::wait(self, lane, timeout).await
    }

    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        RedisDriver::renew(self, lane, leases, lease).await
    }

    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        RedisDriver::ack(self, lane, leases).await
    }

    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        RedisDriver::fail(self, lane, lease, failure).await
    }

    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        RedisDriver::requeue(self, lane, leases).await
    }

    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        RedisDriver::progress(self, lane, lease, progress).await
    }

    async fn reap(&self, lane: &Lane) -> Result<usize> {
        RedisDriver::reap(self, lane).await
    }

    async fn queues(&self) -> Result<Vec<String>> {
        RedisDriver::queues(self).await
    }

    async fn counts(&self, queue: &str) -> Result<Counts> {
        RedisDriver::counts(self, queue).await
    }

    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        RedisDriver::lane_counts(self, queue).await
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
        RedisDriver::job(self, queue, id).await
    }

    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        RedisDriver::failed(self, queue, offset, limit).await
    }

    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
        RedisDriver::retry_failed(self, queue, id).await
    }

    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        RedisDriver::delete(self, queue, id).await
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        RedisDriver::purge(self, queue).await
    }

    async fn pause(&self, queue: &str) -> Result<()> {
        RedisDriver::pause(self, queue).await
    }

    async fn resume(&self, queue: &str) -> Result<()> {
        RedisDriver::resume(self, queue).await
    }
}

fn connect(url: String) -> BoxFuture<'static, Result<Arc<dyn Driver>>> {
    Box::pin(async move { Ok(Arc::new(RedisDriver::connect(&url).await?) as Arc<dyn Driver>) })
}

queue_core::register_driver!(["redis", "rediss", "redis+unix", "unix"], connect);
