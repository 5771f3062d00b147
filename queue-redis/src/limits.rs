//! Rate and concurrency limits of lanes, kept in Redis so they hold across every worker: the
//! limited reserve, postponing a job, and waking a worker for a freed slot. Lanes without
//! limits never run these scripts.

use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Lane, Lease, LimitSpec, Limits, Reservation, Result};

use crate::scripts::{Postpone, Released, Reserve, ReserveLimited, JOBS_PER_CALL};
use crate::RedisDriver;

#[async_trait]
impl Limits for RedisDriver {
    async fn ack_and_reserve_limited(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)> {
        let (excess, done) = done.split_at(done.len().saturating_sub(JOBS_PER_CALL));
        let mut acked = Vec::with_capacity(excess.len() + done.len());
        for chunk in excess.chunks(JOBS_PER_CALL) {
            acked.extend(self.ack(lane, chunk).await?);
        }
        let keys = self.inner.keys.lane(lane);
        let limit_keys = self.inner.keys.queue(lane.queue()).limit(lane.job());
        let reply = ReserveLimited {
            reserve: Reserve {
                keys: &keys,
                lane,
                max,
                lease,
                max_failed: self.inner.options.max_failed,
                max_lost_leases: self.max_lost_leases(),
                done,
            },
            limit_keys: &limit_keys,
            limits,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await?;
        self.take_reply(lane, acked, reply).await
    }

    async fn postpone(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool> {
        let keys = self.inner.keys.lane(lane);
        let limit_keys = self.inner.keys.queue(lane.queue()).limit(lane.job());
        Postpone {
            keys: &keys,
            limit_keys: &limit_keys,
            lease,
            delay,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    async fn released(&self, lane: &Lane, limits: &LimitSpec) -> Result<()> {
        let keys = self.inner.keys.lane(lane);
        Released {
            keys: &keys,
            limits,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }
}
