//! Limits held per rate key and round-robin service of keys, kept under each queue's lock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Dispatched, KeyedLimits, Lane, Lease, LimitSpec, NewJob, Reservation, Result};

use crate::state::QueueState;
use crate::MemoryDriver;

#[async_trait]
impl KeyedLimits for MemoryDriver {
    async fn enqueue_keyed(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        Ok(self.store(&jobs))
    }

    async fn ack_and_reserve_keyed(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)> {
        let queue = self.queue(lane.queue());
        Ok(self.ack_then_reserve(
            &queue,
            lane,
            done,
            lease,
            QueueState::ack_keyed,
            |q, now, lease_ms, tokens| {
                q.reserve_keyed(lane.job(), max, now, lease_ms, limits, |n| {
                    tokens.fetch_add(n, Ordering::Relaxed)
                })
            },
        ))
    }

    async fn postpone_key(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool> {
        let now = self.now();
        let held = self.settle(lane, std::slice::from_ref(lease), |q, id, l| {
            q.postpone_key(id, l, delay, now)
        });
        Ok(held[0])
    }

    async fn released_keyed(&self, lane: &Lane, limits: &LimitSpec) -> Result<()> {
        if let Some(queue) = self.existing(lane.queue()) {
            queue.lock().released_keyed(lane.job(), limits);
        }
        Ok(())
    }
}
