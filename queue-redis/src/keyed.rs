//! Limits held per rate key and round-robin service of keys, kept in Redis so that they hold
//! across every worker (`lua/keyed.lua`). Lanes without a rate key never run these scripts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use queue_core::{
    Dispatched, Error, KeyedLimits, Lane, Lease, LimitSpec, NewJob, Reservation, Result,
};

use crate::scripts::{
    Enqueue, EnqueueKeyed, PostponeKey, ReleasedKeyed, ReserveKeyed, JOBS_PER_CALL,
};
use crate::RedisDriver;

impl RedisDriver {
    /// Stores keyed jobs of one lane, [`JOBS_PER_CALL`] per script call, adding what became
    /// of each to `out` as its call answers.
    async fn enqueue_keyed_lane(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
        out: &mut Vec<Dispatched>,
    ) -> Result<()> {
        self.note_queue(lane.queue()).await?;
        let keys = self.inner.keys.lane(lane);
        let keyed = self.inner.keys.queue(lane.queue()).keyed(lane.job());
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
        for chunk in jobs.chunks(JOBS_PER_CALL) {
            EnqueueKeyed {
                enqueue: Enqueue {
                    keys: &keys,
                    job: lane.job(),
                    jobs: chunk,
                    created_ms,
                    large: None,
                },
                keyed: &keyed,
            }
            .call(&self.inner.scripts, &self.inner.conn, out)
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl KeyedLimits for RedisDriver {
    async fn enqueue_keyed(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        // Runs of jobs of one lane, in dispatch order.
        let mut out = Vec::with_capacity(jobs.len());
        let mut start = 0;
        while start < jobs.len() {
            let lane = jobs[start].lane()?;
            let mut end = start + 1;
            while end < jobs.len() && jobs[end].lane()? == lane {
                end += 1;
            }
            let run: Vec<&NewJob> = jobs[start..end].iter().collect();
            if let Err(source) = self.enqueue_keyed_lane(&lane, &run, &mut out).await {
                let done = out.len();
                let stored = out.into_iter().enumerate().collect();
                return Err(Error::PartlyStored {
                    stored,
                    not_stored: jobs.into_iter().enumerate().skip(done).collect(),
                    source: Box::new(source),
                });
            }
            start = end;
        }
        Ok(out)
    }

    async fn ack_and_reserve_keyed(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)> {
        let (acked, done) = self.ack_excess(lane, done).await?;
        let keys = self.inner.keys.lane(lane);
        let keyed = self.inner.keys.queue(lane.queue()).keyed(lane.job());
        let reply = ReserveKeyed {
            reserve: self.reserve_call(&keys, lane, max, lease, done),
            keyed: &keyed,
            limits,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        self.take_reply(lane, acked, reply).await
    }

    async fn postpone_key(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        let keyed = self.inner.keys.queue(lane.queue()).keyed(lane.job());
        PostponeKey {
            keys: &keys,
            keyed: &keyed,
            lease,
            delay,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    async fn released_keyed(&self, lane: &Lane, limits: &LimitSpec) -> Result<()> {
        let keys = self.inner.keys.lane(lane);
        let keyed = self.inner.keys.queue(lane.queue()).keyed(lane.job());
        ReleasedKeyed {
            keys: &keys,
            keyed: &keyed,
            limits,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }
}
