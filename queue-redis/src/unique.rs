//! Unique jobs and cancellation: each job one script call (`enqueue_unique.lua`,
//! `cancel.lua`). Jobs dispatched without a unique key never come here.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use queue_core::{
    Cancel, CancelOutcome, Dispatched, Error, JobId, Lane, NewJob, Result, UniqueJobs,
};

use crate::record::Header;
use crate::scripts::{CancelJob, EnqueueUnique};
use crate::RedisDriver;

#[async_trait]
impl UniqueJobs for RedisDriver {
    async fn enqueue_unique(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
        let durable = self.durable().then(|| Self::queues_of(&jobs));
        let generation = self.inner.conn.generation();
        let mut out: Vec<Dispatched> = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let stored = async {
                let lane = job.lane()?;
                self.note_queue(lane.queue()).await?;
                EnqueueUnique {
                    keys: &self.inner.keys.lane(&lane),
                    queue: &self.inner.keys.queue(lane.queue()),
                    job: lane.job(),
                    new: job,
                    created_ms,
                }
                .call(&self.inner.scripts, &self.inner.conn)
                .await
            }
            .await;
            match stored {
                Ok(dispatched) => out.push(dispatched),
                Err(error) if i == 0 => return Err(error),
                Err(error) => {
                    return Err(Error::PartlyStored {
                        stored: out.into_iter().enumerate().collect(),
                        not_stored: jobs.into_iter().enumerate().skip(i).collect(),
                        source: Box::new(error),
                    })
                }
            }
        }
        match durable {
            Some(queues) => self.confirm_replicated(&queues, out, generation).await,
            None => Ok(out),
        }
    }
}

#[async_trait]
impl Cancel for RedisDriver {
    async fn cancel(&self, queue: &str, id: &JobId) -> Result<CancelOutcome> {
        let keys = self.queue_keys(queue)?;
        for _ in 0..3 {
            let Some(raw) = self.record(&keys, id).await? else {
                return Ok(CancelOutcome::NotFound);
            };
            let Some(name) = Header::parse(&raw).map(|h| h.name.to_string()) else {
                // Not an envelope: it cannot be running; nothing to stop.
                return Ok(CancelOutcome::Finished);
            };
            let lane = Lane::new(queue, &name)?;
            let outcome = CancelJob {
                keys: &self.inner.keys.lane(&lane),
                queue: &keys,
                id: id.as_str(),
                job: &name,
                max_failed: self.inner.options.max_failed,
            }
            .call(&self.inner.scripts, &self.inner.conn)
            .await?;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
        Err(Error::storage(format!(
            "job `{id}` kept changing lanes while being cancelled"
        )))
    }
}
