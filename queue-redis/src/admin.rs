//! Inspection and administration: listing queues, counting jobs, reading jobs and the failed
//! list, retrying failed jobs, deleting jobs, purging, pausing and resuming queues. None of it
//! is on the hot path; the calls that change jobs are scripts (see
//! [`scripts`](crate::scripts)), the others plain reads.

use queue_core::{
    validate_name, Counts, Cursor, Error, JobId, JobInfo, JobPage, JobQuery, JobState, Lane,
    LanePosition, Result,
};
use redis::Value;

use crate::keys::QueueKeys;
use crate::record::{as_string, into_bytes, lost_count, parse_errors, Header, Stored};
use crate::scripts::{Delete, Deleted, ListJobs, Purge, Resume, RetryFailed, JOBS_PER_CALL};
use crate::RedisDriver;

impl RedisDriver {
    /// The keys of `queue`, once its name is known to be valid.
    pub(crate) fn queue_keys(&self, queue: &str) -> Result<QueueKeys> {
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

    /// The queue's token counter: every lease issued after has a higher token (`new_token` in
    /// `lua/lib.lua` counts on from it, or jumps to a timed token above it).
    pub(crate) async fn lease_floor(&self, queue: &str) -> Result<u64> {
        validate_name("queue name", queue)?;
        let tok = self.inner.keys.queue(queue).tok();
        let counter: Option<u64> = self.inner.conn.query(redis::cmd("GET").arg(tok)).await?;
        Ok(counter.unwrap_or(0))
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
        pipe.cmd("HLEN").arg(keys.done_times());
        pipe.cmd("HEXISTS")
            .arg(keys.done_times())
            .arg(crate::keys::HASHED_SENTINEL);
        for job in &lanes {
            let lane = keys.lane(job);
            pipe.cmd("LLEN").arg(lane.ready());
            pipe.cmd("ZCARD").arg(lane.prio());
            pipe.cmd("ZCARD").arg(lane.sched());
            // Not the sentinel (lua/lib.lua), whose score is 0; tokens are above 0.
            pipe.cmd("ZCOUNT").arg(lane.active()).arg("(0").arg("+inf");
        }
        let values: Vec<u64> = self.inner.conn.pipe(&pipe).await?;
        let mut queue_counts = Counts::default();
        queue_counts.failed = values[0];
        queue_counts.paused = values[1] == 1;
        // Not counting the sentinel `lua/complete.lua` keeps among the kept jobs' times.
        queue_counts.completed = values[2] - values[3];
        let by_lane = lanes
            .into_iter()
            .zip(values[4..].chunks_exact(4))
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
            keys.errs(),
        ] {
            pipe.cmd("HGET").arg(key).arg(id.as_str());
        }
        pipe.cmd("HGET").arg(keys.done_times()).arg(id.as_str());
        pipe.cmd("ZSCORE").arg(keys.cancelled()).arg(id.as_str());
        type Reply = (
            Value,
            Value,
            Value,
            Value,
            Value,
            Value,
            Option<String>,
            Option<f64>,
        );
        let (data, later, err, prog, lost, errs, done, cancelled): Reply =
            self.inner.conn.pipe(&pipe).await?;
        let done = done.as_deref().and_then(crate::retention::DoneTimes::parse);
        let Some(raw) = into_bytes(data).or_else(|| into_bytes(later)) else {
            return Ok(None);
        };
        // Only a job that has not failed or completed can be running or scheduled: look only
        // then.
        let (mut leased, mut scheduled, mut token) = (false, false, None);
        if let Some(h) = Header::parse(&raw).filter(|h| h.failed_ms == 0 && done.is_none()) {
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
            token = in_active.map(|t| t as u64);
        }
        let stored = Stored {
            raw,
            leased,
            error: as_string(&err),
            progress: as_string(&prog),
            lost_leases: lost_count(&lost),
            errors: parse_errors(&errs),
        };
        let Some(mut info) = stored.info(id.clone(), queue, |_| scheduled) else {
            return Ok(None);
        };
        info.token = token.filter(|_| info.state == JobState::Active);
        if let Some(started) = info.token.and_then(crate::record::token_started) {
            info.started_at = Some(started);
            info.first_started_at.get_or_insert(started);
        }
        mark_cancelled(&mut info, cancelled);
        if let Some(times) = done {
            crate::retention::mark_completed(&mut info, times);
        }
        info.result = queue_core::Retention::result(self, queue, id).await?;
        self.fill_infos(&keys, std::slice::from_mut(&mut info))
            .await?;
        Ok(Some(info))
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

    /// A page of the queue's jobs in one state, in one script call after listing the queue's
    /// lanes (see `lua/list_jobs.lua` for the order and the cost).
    pub(crate) async fn list_jobs(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        query.check()?;
        if query.state == JobState::Completed {
            return self.list_completed(queue, query).await;
        }
        let keys = self.queue_keys(queue)?;
        let mut cursor = Cursor::read(query)?.unwrap_or_default();
        let last_phase = if query.state == JobState::Ready { 2 } else { 0 };
        // Lists are read by index (ready's phase 1, the failed list), sorted sets by score.
        let indexed = |l: &LanePosition| query.state == JobState::Failed || l.phase == 1;
        if cursor
            .lanes
            .iter()
            .any(|l| l.phase > last_phase || (indexed(l) && l.at < 0))
        {
            return Err(query.bad_cursor("a lane position is out of range"));
        }
        let lanes = match (&query.name, query.state) {
            (_, JobState::Failed) => Vec::new(),
            (Some(name), _) => vec![name.clone()],
            (None, _) => self.lanes_of(&keys).await?,
        };
        let reply = ListJobs {
            queue: &keys,
            lanes: &lanes,
            query,
            cursor: &cursor,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        let mut jobs = Vec::with_capacity(reply.jobs.len());
        for listed in reply.jobs {
            // An active job's place in its lane is its lease's token (the active set's score).
            let token = (query.state == JobState::Active)
                .then(|| u64::try_from(listed.position.at).ok())
                .flatten();
            cursor.set(listed.position);
            let [env, err, prog, lost, errs] = listed.record;
            let Some(raw) = into_bytes(env) else {
                continue;
            };
            let stored = Stored {
                raw,
                leased: query.state == JobState::Active,
                error: as_string(&err),
                progress: as_string(&prog),
                lost_leases: lost_count(&lost),
                errors: parse_errors(&errs),
            };
            let scheduled = query.state == JobState::Scheduled;
            let Some(mut info) = stored.info(JobId::from(listed.id), queue, |_| scheduled) else {
                continue;
            };
            if let Some(token) = token {
                info.token = Some(token);
                if let Some(started) = crate::record::token_started(token) {
                    info.started_at = Some(started);
                    info.first_started_at.get_or_insert(started);
                }
            }
            jobs.push(info);
        }
        if query.state == JobState::Failed && !jobs.is_empty() {
            // Jobs cancelled while they ran are kept with the failed ones.
            let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
            let marks: Vec<Option<f64>> = self
                .inner
                .conn
                .query(redis::cmd("ZMSCORE").arg(keys.cancelled()).arg(&ids))
                .await?;
            for (job, mark) in jobs.iter_mut().zip(marks) {
                mark_cancelled(job, mark);
            }
        }
        let mut more = reply.more;
        if let (false, Some(stop)) = (more, reply.stop) {
            cursor.set(LanePosition::new("", 0, stop, ""));
            more = true;
        }
        let next = more.then(|| cursor.write(query.state, query.order));
        self.fill_infos(&keys, &mut jobs).await?;
        Ok(JobPage::new(jobs, next))
    }

    /// The details of failed jobs `ids`, in one pipeline; ids without a readable record are
    /// left out.
    pub(crate) async fn infos(
        &self,
        queue: &str,
        keys: &QueueKeys,
        ids: Vec<String>,
    ) -> Result<Vec<JobInfo>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in [
            keys.data(),
            keys.err(),
            keys.prog(),
            keys.lost(),
            keys.errs(),
        ] {
            pipe.cmd("HMGET").arg(key).arg(&ids);
        }
        pipe.cmd("ZMSCORE").arg(keys.cancelled()).arg(&ids);
        let (datas, errs, progs, losts, hists, cancels): Replies =
            self.inner.conn.pipe(&pipe).await?;
        let mut cancels = cancels.into_iter();
        let mut out = Vec::with_capacity(ids.len());
        let sides = errs.iter().zip(&progs).zip(losts.iter().zip(&hists));
        for ((id, data), ((err, prog), (lost, hist))) in ids.into_iter().zip(datas).zip(sides) {
            let cancelled = cancels.next().flatten();
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
                errors: parse_errors(hist),
            };
            out.extend(
                stored
                    .info(JobId::from(id), queue, |_| false)
                    .map(|mut info| {
                        mark_cancelled(&mut info, cancelled);
                        info
                    }),
            );
        }
        self.fill_infos(keys, &mut out).await?;
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

    /// Job `id`'s envelope, from `data` (ready, running, failed, kept) or `later` (scheduled).
    pub(crate) async fn record(&self, keys: &QueueKeys, id: &JobId) -> Result<Option<Vec<u8>>> {
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
        Ok(data.or(later))
    }

    pub(crate) async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        let keys = self.queue_keys(queue)?;
        for _ in 0..3 {
            let Some(raw) = self.record(&keys, id).await? else {
                return Ok(false);
            };
            // An unreadable record still gets deleted; its lane does not matter then.
            let name = Header::parse(&raw).map_or("_", |h| h.name).to_string();
            let lane = Lane::new(queue, &name)?;
            let deleted = Delete {
                keys: &self.inner.keys.lane(&lane),
                queue: &keys,
                id: id.as_str(),
                job: &name,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
            match deleted {
                Deleted::Removed => return Ok(true),
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
        // A dispatch to an idle lane between listing the lanes and the script names that lane
        // again (idle lanes leave the set): the script then deletes nothing, and this lists again.
        let mut tries = 0;
        loop {
            let lanes = self.lanes_of(&keys).await?;
            let purged = Purge {
                queue: &keys,
                lanes: &lanes,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
            if purged {
                break;
            }
            tries += 1;
            if tries == 10 {
                return Err(Error::storage(format!(
                    "queue `{queue}` kept gaining lanes while being purged"
                )));
            }
        }
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

/// The replies of an `infos` pipeline: five hashes' fields, then the cancelled marks.
type Replies = (
    Vec<Value>,
    Vec<Value>,
    Vec<Value>,
    Vec<Value>,
    Vec<Value>,
    Vec<Option<f64>>,
);

/// Reports a failed job as cancelled when its mark in the cancelled set (its failure time
/// when it was cancelled) is its failure time now.
fn mark_cancelled(info: &mut JobInfo, mark: Option<f64>) {
    let failed_ms = info.failed_at.map(queue_core::unix_ms);
    if let (Some(mark), Some(failed_ms)) = (mark, failed_ms) {
        if info.state == JobState::Failed && mark as u64 == failed_ms {
            info.state = JobState::Cancelled;
        }
    }
}
