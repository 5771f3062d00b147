//! Rate and concurrency limits of lanes, kept in Redis so they hold across every worker: the
//! limited reserve, postponing a job, and waking a worker for a freed slot. Lanes without
//! limits never run these scripts.

use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Lane, Lease, LimitSpec, Limits, Reservation, Result};

use crate::scripts::{Postpone, Released, ReserveLimited};
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
        let (acked, done) = self.ack_excess(lane, done).await?;
        let keys = self.inner.keys.lane(lane);
        let limit_keys = self.inner.keys.queue(lane.queue()).limit(lane.job());
        let reply = ReserveLimited {
            reserve: self.reserve_call(&keys, lane, max, lease, done),
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
