//! A [`Queue`]'s inspection and administration, through the driver's [`Admin`](crate::Admin),
//! covering every shard of a queue's sharded lanes: a queue `q` stands for its own storage
//! queue and its shards' (`q@shard-<i>-of-<n>`, see [`shard_queue`]). Counts add up, lookups
//! by id try the shard the id names first, listings page through the storage queues one after
//! the other, and retrying, deleting, purging and pausing reach each of them. A queue that has
//! no shards costs one listing of the queue names more than the driver's own call.

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::job::{
    parse_shard_queue, shard_of_id, shard_queue, Counts, JobId, JobInfo, JobPage, JobQuery, Lane,
};
use crate::queue::Queue;

/// What separates the storage queue's position from its own cursor in the cursor of a
/// listing over several storage queues.
const CURSOR_MARK: char = '~';

impl Queue {
    /// The storage queues `queue` stands for, sorted: itself and its shards, those named by the
    /// queue names storage lists and those this program's shard counts make (so a queue can be
    /// paused before its shards received anything). A shard storage lists brings every shard of
    /// its count (`q@shard-1-of-3` brings shards 0 to 2, some of which may have held nothing
    /// yet). A shard's own name stands for itself.
    pub(crate) async fn storage_queues(&self, queue: &str) -> Result<Vec<String>> {
        storage_queues_of(
            self.driver().as_ref(),
            queue,
            &self.sharding.counts_for(queue),
        )
        .await
    }

    /// Names of the queues that hold or held jobs; a sharded queue's shards are listed as
    /// their queue.
    pub async fn queues(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .admin()?
            .queues()
            .await?
            .into_iter()
            .map(|name| match parse_shard_queue(&name) {
                Some((queue, _, _)) => queue.to_string(),
                None => name,
            })
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// How many jobs of `queue` are in each state, its shards' added up; paused when any of
    /// them is.
    pub async fn counts(&self, queue: &str) -> Result<Counts> {
        let admin = self.admin()?;
        let mut total = Counts::default();
        for name in self.storage_queues(queue).await? {
            add_counts(&mut total, &admin.counts(&name).await?);
        }
        Ok(total)
    }

    /// How many jobs of each lane of `queue` are ready, scheduled and active, by job name in
    /// name order, its shards' added up per job name (see
    /// [`Admin::lane_counts`](crate::Admin::lane_counts)).
    pub async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        let admin = self.admin()?;
        let names = self.storage_queues(queue).await?;
        if let [name] = names.as_slice() {
            return admin.lane_counts(name).await;
        }
        let mut by_job = std::collections::BTreeMap::<String, Counts>::new();
        for name in &names {
            for (job, counts) in admin.lane_counts(name).await? {
                add_counts(by_job.entry(job).or_default(), &counts);
            }
        }
        Ok(by_job.into_iter().collect())
    }

    /// The storage queues of `queue`, those the id `id` names first (a sharded job's generated
    /// id names its shard).
    async fn queues_for_id(&self, queue: &str, id: &JobId) -> Result<Vec<String>> {
        let mut names = self.storage_queues(queue).await?;
        if let Some(index) = shard_of_id(id.as_str()) {
            names.sort_by_key(|name| parse_shard_queue(name).map(|(_, i, _)| i) != Some(index));
        }
        Ok(names)
    }

    /// The storage queue of `queue` (itself or one of its shards) that holds job `id`: the
    /// shard its id names, else the one where a lookup finds it, else `queue` itself.
    pub(crate) async fn holder_of(&self, queue: &str, id: &JobId) -> Result<String> {
        let mut names = self.queues_for_id(queue, id).await?;
        if names.len() == 1 {
            return Ok(names.remove(0));
        }
        if let Some(index) = shard_of_id(id.as_str()) {
            if let Some(name) = names
                .iter()
                .find(|name| parse_shard_queue(name).is_some_and(|(_, i, _)| i == index))
            {
                return Ok(name.clone());
            }
        }
        if let Some(admin) = self.driver().admin() {
            for name in &names {
                if admin.job(name, id).await?.is_some() {
                    return Ok(name.clone());
                }
            }
        }
        Ok(queue.to_string())
    }

    /// Looks a job up by id, in `queue` and its shards. Its [`JobInfo::queue`] is the storage
    /// queue that holds it (a shard's, for a sharded lane).
    ///
    /// An active job's [`JobInfo::held_by`] names the worker running it, found among the live
    /// workers' records by its lease's token (when the driver keeps such records).
    pub async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>> {
        let mut found = None;
        for name in self.queues_for_id(queue, id).await? {
            if let Some(info) = self.admin()?.job(&name, id).await? {
                found = Some(info);
                break;
            }
        }
        let Some(mut info) = found else {
            return Ok(None);
        };
        if let (Some(token), Some(presence)) = (info.token, self.driver().presence()) {
            let lane = Lane::unchecked(&info.queue, &info.name);
            info.held_by = presence
                .workers()
                .await?
                .into_iter()
                .find(|w| {
                    w.lanes
                        .iter()
                        .zip(&w.tokens)
                        .any(|(l, tokens)| *l == lane && tokens.contains(&token))
                })
                .map(|w| w.id);
        }
        Ok(Some(info))
    }

    /// Failed jobs of `queue` and its shards, newest first.
    pub async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        let admin = self.admin()?;
        let names = self.storage_queues(queue).await?;
        if let [name] = names.as_slice() {
            return admin.failed(name, offset, limit).await;
        }
        let mut all = Vec::new();
        for name in &names {
            all.extend(admin.failed(name, 0, offset.saturating_add(limit)).await?);
        }
        all.sort_by_key(|info| std::cmp::Reverse(info.failed_at));
        Ok(all.into_iter().skip(offset).take(limit).collect())
    }

    /// A page of `queue`'s jobs in one state (see [`Admin::list_jobs`](crate::Admin::list_jobs));
    /// pass the page's [`JobPage::next`] as [`JobQuery::cursor`] for the next one. A sharded
    /// queue is listed one storage queue after the other (each in the listing's order), so a
    /// page may end early where one ends.
    pub async fn jobs(&self, queue: &str, query: JobQuery) -> Result<JobPage> {
        let admin = self.admin()?;
        query.check()?;
        let names = self.storage_queues(queue).await?;
        if let [name] = names.as_slice() {
            return admin.list_jobs(name, &query).await;
        }
        let bad = |cursor: &str| Error::InvalidQuery {
            reason: format!("cursor `{cursor}` was not made by a listing of queue `{queue}`"),
        };
        let (at, inner) = match &query.cursor {
            None => (0, None),
            Some(cursor) => {
                let (at, inner) = cursor.split_once(CURSOR_MARK).ok_or_else(|| bad(cursor))?;
                let at: usize = at.parse().map_err(|_| bad(cursor))?;
                if at >= names.len() {
                    return Err(bad(cursor));
                }
                (at, (!inner.is_empty()).then(|| inner.to_string()))
            }
        };
        let mut inner_query = query.clone();
        inner_query.cursor = inner;
        let page = admin.list_jobs(&names[at], &inner_query).await?;
        let next = match page.next {
            Some(next) => Some(format!("{at}{CURSOR_MARK}{next}")),
            None if at + 1 < names.len() => Some(format!("{}{CURSOR_MARK}", at + 1)),
            None => None,
        };
        Ok(JobPage::new(page.jobs, next))
    }

    /// Moves one failed job of `queue` or its shards back to ready with fresh attempts.
    pub async fn retry_failed(&self, queue: &str, id: &JobId) -> Result<()> {
        for name in self.queues_for_id(queue, id).await? {
            if self.admin()?.retry_failed(&name, Some(id)).await? > 0 {
                return Ok(());
            }
        }
        Err(Error::JobNotFound {
            queue: queue.to_string(),
            id: id.to_string(),
        })
    }

    /// Moves every failed job of `queue` and its shards back to ready; returns how many.
    pub async fn retry_all_failed(&self, queue: &str) -> Result<usize> {
        let mut moved = 0;
        for name in self.storage_queues(queue).await? {
            moved += self.admin()?.retry_failed(&name, None).await?;
        }
        Ok(moved)
    }

    /// Deletes a job of `queue` or its shards in any state; returns whether it existed. A
    /// workflow step's job that existed ends its step as cancelled (error `deleted`), which its
    /// dependents treat as a failure. A running job's run goes on until its worker's next
    /// renewal, at the latest until its lease would have ended: until then its id stays held,
    /// and a job dispatched with it waits (scheduled) rather than running beside it.
    pub async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        for name in self.queues_for_id(queue, id).await? {
            if self.admin()?.delete(&name, id).await? {
                if crate::flow::is_step_id(id) {
                    let outcome = crate::flow::StepOutcome::Cancelled("deleted".into());
                    crate::flow::pump::end_step(self.driver(), id, outcome).await?;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes every job of `queue` and its shards. The ids of running jobs stay held until
    /// their leases would have ended, as [`delete`](Self::delete) holds one.
    pub async fn purge(&self, queue: &str) -> Result<()> {
        for name in self.storage_queues(queue).await? {
            self.admin()?.purge(&name).await?;
        }
        Ok(())
    }

    /// Stops workers from taking jobs of `queue` and its shards; dispatch still stores them.
    pub async fn pause(&self, queue: &str) -> Result<()> {
        for name in self.storage_queues(queue).await? {
            self.admin()?.pause(&name).await?;
        }
        Ok(())
    }

    /// Lets workers take jobs of `queue` and its shards again.
    pub async fn resume(&self, queue: &str) -> Result<()> {
        for name in self.storage_queues(queue).await? {
            self.admin()?.resume(&name).await?;
        }
        Ok(())
    }
}

/// Adds `more` to `total`: the numbers summed, paused when either is.
fn add_counts(total: &mut Counts, more: &Counts) {
    total.completed += more.completed;
    total.scheduled += more.scheduled;
    total.ready += more.ready;
    total.active += more.active;
    total.failed += more.failed;
    total.paused |= more.paused;
}

/// The storage queues `queue` stands for ([`Queue::storage_queues`]), with `known` the shard
/// counts this program gives its lanes.
pub(crate) async fn storage_queues_of(
    driver: &dyn Driver,
    queue: &str,
    known: &[u16],
) -> Result<Vec<String>> {
    crate::job::validate_name("queue name", queue)?;
    if parse_shard_queue(queue).is_some() {
        return Ok(vec![queue.to_string()]);
    }
    let mut counts = known.to_vec();
    // Without inspection, only the shards this program knows of.
    if let Some(admin) = driver.admin() {
        counts.extend(
            admin
                .queues()
                .await?
                .iter()
                .filter_map(|name| parse_shard_queue(name).filter(|(q, _, _)| *q == queue))
                .map(|(_, _, count)| count),
        );
    }
    counts.sort_unstable();
    counts.dedup();
    let mut out = vec![queue.to_string()];
    for count in counts {
        out.extend((0..count).map(|i| shard_queue(queue, i, count)));
    }
    out.sort();
    Ok(out)
}
