//! Which shard a sharded job goes to, and how many shards each job name has: the handlers'
//! `#[job(shards = n)]` and the counts a [`Queue`](crate::Queue) was given
//! ([`Queue::shard`](crate::Queue::shard)). Jobs of unsharded lanes never get here.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::job::{
    parse_shard_queue, shard_for_key, shard_job_id, shard_queue, validate_name, JobId, NewJob,
    MAX_SHARDS,
};
use crate::registry::registry;

/// Shard counts given to a queue handle, and the state of round-robin dispatch.
#[derive(Debug)]
pub(crate) struct Sharding {
    /// Shard counts by job name, overriding the handlers' (empty for most programs).
    counts: HashMap<String, u16>,
    /// The next shard in turn, counted per process (across job names: each name still visits
    /// its shards in turn when dispatched alone, and evenly in any case).
    turn: AtomicU64,
    /// Random per process: generated ids of sharded jobs start from it.
    seed: u64,
    /// How many ids were generated.
    serial: AtomicU64,
}

impl Default for Sharding {
    fn default() -> Self {
        Self {
            counts: HashMap::new(),
            turn: AtomicU64::new(0),
            seed: std::collections::hash_map::RandomState::new().hash_one(std::process::id()),
            serial: AtomicU64::new(0),
        }
    }
}

impl Sharding {
    /// A copy with job `job` split into `count` shards.
    pub(crate) fn with(&self, job: &str, count: u16) -> Result<Self> {
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "job `{job}` asked for {count} shards: a lane has 1 to {MAX_SHARDS} shards"
                ),
            });
        }
        validate_name("job name", job)?;
        let mut counts = self.counts.clone();
        counts.insert(job.to_string(), count);
        Ok(Self {
            counts,
            ..Self::default()
        })
    }

    /// How many shards job `job` has: this handle's count, else its handler's, else 1.
    pub(crate) fn count(&self, job: &str, declared: u16) -> u16 {
        if self.counts.is_empty() {
            return declared.max(1);
        }
        self.counts.get(job).copied().unwrap_or(declared).max(1)
    }

    /// The shard counts above 1 this program uses for queue `queue`: those of the handlers
    /// whose queue it is, and this handle's counts of jobs without a handler here. Shards of
    /// other queues are found by the queue names in storage.
    pub(crate) fn counts_for(&self, queue: &str) -> Vec<u16> {
        let handlers = registry().by_name.values().map(|r| r.definition);
        let mut counts: Vec<u16> = handlers
            .filter(|def| def.queue == queue)
            .map(|def| self.count(def.name, def.shards))
            .chain(
                self.counts
                    .iter()
                    .filter(|(job, _)| !registry().by_name.contains_key(job.as_str()))
                    .map(|(_, &count)| count),
            )
            .filter(|&n| n > 1)
            .collect();
        counts.sort_unstable();
        counts.dedup();
        counts
    }

    /// Applies the handle's count to `job` (checked, not yet stored).
    pub(crate) fn count_job(&self, job: &mut NewJob) {
        if !self.counts.is_empty() {
            job.shards = self.count(&job.name, job.shards);
        }
    }

    /// Sends a job of a sharded lane (`job.shards > 1`) to one of its shards: the one its
    /// shard key picks, else its unique key, else its chosen id, else the next in turn. A job
    /// without a chosen id is given one that names its shard. A job sent to one of the lane's
    /// shards by name (`.queue("q@shard-1-of-3")`) stays there.
    pub(crate) fn route(&self, job: &mut NewJob) -> Result<()> {
        let count = job.shards;
        if let Some((_, index, _)) = parse_shard_queue(&job.queue).filter(|s| s.2 == count) {
            if job.id.is_none() {
                let serial = self.serial.fetch_add(1, Ordering::Relaxed);
                job.id = Some(JobId::from(shard_job_id(index, self.seed, serial)));
            }
            return Ok(());
        }
        let key = job.shard_key.or_else(|| {
            let key = match (&job.unique, &job.id) {
                (Some(unique), _) => unique.key.as_bytes(),
                (None, Some(id)) => id.as_str().as_bytes(),
                (None, None) => return None,
            };
            Some(crate::hash::fingerprint(key))
        });
        let index = match key {
            Some(key) => shard_for_key(key, count),
            None => (self.turn.fetch_add(1, Ordering::Relaxed) % u64::from(count)) as u16,
        };
        let queue = shard_queue(&job.queue, index, count);
        validate_name("queue name", &queue).map_err(|_| Error::InvalidName {
            what: "queue name",
            value: job.queue.to_string(),
            reason: "too long for a sharded lane: its shards' names add up to 16 bytes",
        })?;
        job.queue = queue.as_str().into();
        if job.id.is_none() {
            let serial = self.serial.fetch_add(1, Ordering::Relaxed);
            job.id = Some(JobId::from(shard_job_id(index, self.seed, serial)));
        }
        Ok(())
    }
}
