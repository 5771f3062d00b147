//! Limits held per rate key and round-robin service of keys, kept under each queue's lock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Dispatched, KeyedLimits, Lane, Lease, LimitSpec, NewJob, Reservation, Result};

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
        let now = self.now();
        let lease_ms = lease.as_millis().min(u128::from(u64::MAX)) as u64;
        let tokens = &self.shared.tokens;
        let mut payloads = Vec::with_capacity(done.len());
        let mut q = queue.lock();
        let acked = match q.existing_lane(lane.job()) {
            Some(id) => done
                .iter()
                .map(|l| q.ack_keyed(id, l).map(|p| payloads.push(p)).is_some())
                .collect(),
            None => vec![false; done.len()],
        };
        let reservation = q.reserve_keyed(lane.job(), max, now, lease_ms, limits, |n| {
            tokens.fetch_add(n, Ordering::Relaxed)
        });
        drop(q);
        drop(payloads);
        Ok((acked, reservation))
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
