//! The hot path: dispatching jobs, reserving and settling them (ack, renew, fail, requeue,
//! progress), waiting for work, and reaping expired leases. Each step is one script call
//! through its wrapper in [`scripts`](crate::scripts), [`JOBS_PER_CALL`] jobs at most.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use queue_core::{Dispatched, Error, Failure, Lane, Lease, NewJob, Reservation, Result};

use crate::coalesce::Sender;
use crate::keys::LaneKeys;
use crate::scripts::{
    call_together, Ack, Enqueue, Fail, Progress, Reap, Renew, Requeue, Reserve, ReserveReply,
    JOBS_PER_CALL,
};
use crate::RedisDriver;

/// Most queue names remembered as listed in `<prefix>:queues`; past it the memory starts over.
pub(crate) const MAX_NOTED_QUEUES: usize = 1024;

/// How long a queue name noted in `<prefix>:queues` is trusted to still be there (a purge in
/// another process removes it); the next dispatch after that notes it again.
pub(crate) const NOTED_FOR: Duration = Duration::from_secs(60);

impl RedisDriver {
    /// Dispatches `jobs`, a lone job together with other lone dispatches of its lane (see
    /// [`coalesce`](crate::coalesce)), others one lane after another in dispatch order, in
    /// calls of at most [`JOBS_PER_CALL`] jobs. Calls of one lane whose payloads all pass
    /// through the script go out several in one transaction (see [`call_together`]), the
    /// others one at a time. A failed call ends the dispatch: the error
    /// ([`Error::PartlyStored`] when any job was stored) lists what was stored, by the calls
    /// before it and by any call of its transaction that ran after it, and hands back the
    /// rest, so jobs dispatched again from its list come after those.
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
        for (lane, _) in &groups {
            self.note_queue(lane.queue()).await?;
        }
        let keys: Vec<Arc<LaneKeys>> = groups
            .iter()
            .map(|(lane, _)| self.inner.keys.lane(lane))
            .collect();
        let members: Vec<Vec<&NewJob>> = groups
            .iter()
            .map(|(_, indices)| indices.iter().map(|&i| &jobs[i]).collect())
            .collect();
        // Every lane's calls, the lanes in turn: (lane, where in the lane's jobs, how many).
        let mut calls: Vec<(usize, usize, usize)> = Vec::new();
        for (g, group) in members.iter().enumerate() {
            let mut at = 0;
            for chunk in crate::scripts::batches(group) {
                calls.push((g, at, chunk.len()));
                at += chunk.len();
            }
        }
        let created_ms = created_ms();
        let large = self.large_payloads();
        let enqueue = |(g, at, n): (usize, usize, usize)| Enqueue {
            keys: &keys[g],
            job: groups[g].0.job(),
            jobs: &members[g][at..at + n],
            created_ms,
            large: Some(large),
        };
        let (scripts, conn) = (&self.inner.scripts, &self.inner.conn);
        let mut out: Vec<Option<Dispatched>> = vec![None; jobs.len()];
        let mut failure = None;
        let mut record = |(g, at, _): (usize, usize, usize), stored: Vec<Dispatched>| {
            for (&i, dispatched) in groups[g].1[at..].iter().zip(stored) {
                out[i] = Some(dispatched);
            }
        };
        // Calls of one lane go together in a transaction (see `call_together`): never a
        // pipeline, where Redis runs every command, so a call refused while a later one is
        // stored would leave a hole in its lane. A call taking bodies, and every call on a
        // cluster, goes alone.
        let mut next = 0;
        while next < calls.len() {
            let end = if conn.is_cluster() {
                next + 1
            } else {
                together_until(&calls, next, enqueue)
            };
            // What each call of the group stored, or its error; an error for the whole group
            // (nothing of it known to be stored) stands first, as the first call's.
            let results = if end - next == 1 {
                let mut stored = Vec::new();
                let sent = enqueue(calls[next]).call(scripts, conn, &mut stored).await;
                vec![sent.map(|()| stored)]
            } else {
                let group: Vec<Enqueue<'_>> =
                    calls[next..end].iter().map(|&c| enqueue(c)).collect();
                call_together(&group, scripts, conn)
                    .await
                    .unwrap_or_else(|error| vec![Err(error)])
            };
            for (&call, result) in calls[next..end].iter().zip(results) {
                match result {
                    Ok(stored) => record(call, stored),
                    Err(error) => {
                        failure.get_or_insert(error);
                    }
                }
            }
            if failure.is_some() {
                break;
            }
            next = end;
        }
        if let Some(error) = failure {
            return Err(partly_stored(jobs, out, error));
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
        let created_ms = created_ms();
        let large = self.large_payloads();
        for chunk in crate::scripts::batches(jobs) {
            Enqueue {
                keys: &keys,
                job: lane.job(),
                jobs: chunk,
                created_ms,
                large: Some(large),
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

    pub(crate) async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        let (acked, done) = self.ack_excess(lane, done).await?;
        let keys = self.inner.keys.lane(lane);
        let reply = self
            .reserve_call(&keys, lane, max, lease, done)
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
        self.take_reply(lane, acked, reply).await
    }

    /// Acks what of `done` does not fit in one reserve call's arguments; returns those acks'
    /// outcomes and the rest, for the reserve to carry.
    pub(crate) async fn ack_excess<'d>(
        &self,
        lane: &Lane,
        done: &'d [Lease],
    ) -> Result<(Vec<bool>, &'d [Lease])> {
        let (excess, done) = done.split_at(done.len().saturating_sub(JOBS_PER_CALL));
        let mut acked = Vec::with_capacity(excess.len() + done.len());
        for chunk in excess.chunks(JOBS_PER_CALL) {
            acked.extend(self.ack(lane, chunk).await?);
        }
        Ok((acked, done))
    }

    /// The reserve script's call on `lane` (key set `keys`) for up to `max` jobs, carrying the
    /// acks of `done` (at most [`JOBS_PER_CALL`]); the limited and keyed reserves extend it.
    pub(crate) fn reserve_call<'a>(
        &self,
        keys: &'a LaneKeys,
        lane: &'a Lane,
        max: usize,
        lease: Duration,
        done: &'a [Lease],
    ) -> Reserve<'a> {
        Reserve {
            keys,
            lane,
            max,
            lease,
            max_failed: self.inner.options.max_failed,
            max_lost_leases: self.max_lost_leases(),
            done,
        }
    }

    /// The acks and reservation of a reserve's reply, after `acked` (the acks sent before it).
    /// A record the driver cannot hand out is failed on its own; when even that fails, the job
    /// stays leased, for the reaper to return when the lease expires.
    pub(crate) async fn take_reply(
        &self,
        lane: &Lane,
        mut acked: Vec<bool>,
        reply: ReserveReply,
    ) -> Result<(Vec<bool>, Reservation)> {
        let ReserveReply {
            acked: flags,
            mut reservation,
            mut unreadable,
        } = reply;
        acked.extend(flags);
        self.fill_reserved(lane, &mut reservation, &mut unreadable)
            .await;
        for (lease, why) in unreadable {
            if let Err(error) = self.fail_unreadable(lane, &lease, why).await {
                tracing::warn!(%lane, id = %lease.id, %error, "could not fail an unreadable job record; its lease will expire and the reaper returns it");
            }
        }
        Ok((acked, reservation))
    }

    /// Fails a job the driver itself cannot hand out (its record is unreadable or names another
    /// job), keeping the record whole in the failed list.
    pub(crate) async fn fail_unreadable(
        &self,
        lane: &Lane,
        lease: &Lease,
        why: String,
    ) -> Result<bool> {
        self.fail(lane, lease, Failure::fail(format!("malformed job: {why}")))
            .await
    }

    pub(crate) async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        let keys = self.inner.keys.lane(lane);
        if !self.inner.conn.is_cluster() {
            let [kjobs, ..] = self.inner.keys.queue(lane.queue()).keyed(lane.job());
            let due_check = [
                keys.ready(),
                keys.prio(),
                keys.sched(),
                keys.leases(),
                &kjobs,
            ]
            .map(String::from);
            self.inner
                .hubs
                .wait(keys.wake(), due_check, timeout, &self.inner)
                .await;
            return Ok(());
        }
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

    /// Puts the jobs of `leases` back at the head of `lane`, [`JOBS_PER_CALL`] per script
    /// call; returns whether each lease was current, in the order of `leases`.
    ///
    /// Each call puts its jobs ahead of everything waiting, so the chunks go in dispatch order
    /// (numbered ids by number, chosen ids after them by text) and the last chunk first: the
    /// first jobs end up first. The script orders each chunk exactly (it knows the sequence of a
    /// chosen id); across chunks, a chosen id is placed by its text.
    pub(crate) async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        let keys = self.inner.keys.lane(lane);
        if leases.len() <= JOBS_PER_CALL {
            return Requeue {
                keys: &keys,
                leases,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await;
        }
        let mut order: Vec<usize> = (0..leases.len()).collect();
        order.sort_by_cached_key(|&i| {
            let id = leases[i].id.as_str();
            (id.parse::<u64>().map_or((1, 0), |n| (0, n)), id.to_owned())
        });
        let mut held = vec![false; leases.len()];
        for chunk in order.chunks(JOBS_PER_CALL).rev() {
            let part: Vec<Lease> = chunk.iter().map(|&i| leases[i].clone()).collect();
            let replies = Requeue {
                keys: &keys,
                leases: &part,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
            for (&i, current) in chunk.iter().zip(replies) {
                held[i] = current;
            }
        }
        Ok(held)
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
    pub(crate) fn max_lost_leases(&self) -> u32 {
        self.inner.options.max_lost_leases.max(1)
    }
}

/// Lone dispatches gathered by [`coalesce`](crate::coalesce) go in one [`Enqueue`] call per
/// lane.
impl Sender for RedisDriver {
    fn send(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
    ) -> impl std::future::Future<Output = Result<Vec<Dispatched>>> + std::marker::Send {
        self.enqueue_lane(lane, jobs)
    }
}

/// Now, in ms since the epoch: when jobs dispatched now were created.
fn created_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64)
}

/// Most enqueue calls sent together in one transaction.
const TOGETHER: usize = 4;

/// Most payload bytes of the calls sent together in one transaction: as much as one call
/// carries at most, so the server's query buffer holds no more than for a call alone.
const TOGETHER_BYTES: usize = crate::scripts::BYTES_PER_CALL;

/// Where the calls sent together with `calls[from]` end: the calls after it of the same lane
/// (first of each triple) whose payloads all pass through the script, up to [`TOGETHER`]
/// calls and [`TOGETHER_BYTES`] of payloads. A call that takes bodies goes alone.
fn together_until<'e>(
    calls: &[(usize, usize, usize)],
    from: usize,
    enqueue: impl Fn((usize, usize, usize)) -> Enqueue<'e>,
) -> usize {
    let bytes = |call: &Enqueue<'_>| -> usize {
        call.jobs.iter().map(|job| job.spec().payload.len()).sum()
    };
    let first = enqueue(calls[from]);
    if first.takes_bodies() {
        return from + 1;
    }
    let mut total = bytes(&first);
    let mut end = from + 1;
    while end < calls.len() && end - from < TOGETHER && calls[end].0 == calls[from].0 {
        let call = enqueue(calls[end]);
        total += bytes(&call);
        if call.takes_bodies() || total > TOGETHER_BYTES {
            break;
        }
        end += 1;
    }
    end
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
