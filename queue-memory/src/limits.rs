//! Rate and concurrency limits of lanes, kept under each queue's lock, so they hold for every
//! worker sharing the driver.

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Lane, Lease, LimitSpec, Limits, Reservation, Result};

use crate::state::QueueState;
use crate::MemoryDriver;

#[async_trait]
impl Limits for MemoryDriver {
    async fn ack_and_reserve_limited(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)> {
        let Some(queue) = self.existing(lane.queue()) else {
            return Ok((vec![false; done.len()], Reservation::default()));
        };
        Ok(self.ack_then_reserve(
            &queue,
            lane,
            done,
            lease,
            QueueState::ack,
            |q, now, lease_ms, tokens| {
                q.reserve_limited(lane.job(), max, now, lease_ms, limits, |n| {
                    tokens.fetch_add(n, Ordering::Relaxed)
                })
            },
        ))
    }

    async fn postpone(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool> {
        let now = self.now();
        let held = self.settle(lane, std::slice::from_ref(lease), |q, id, l| {
            q.postpone(id, l, delay, now)
        });
        Ok(held[0])
    }

    async fn released(&self, lane: &Lane, limits: &LimitSpec) -> Result<()> {
        if let Some(queue) = self.existing(lane.queue()) {
            queue.lock().released(lane.job(), limits);
        }
        Ok(())
    }
}
