//! The `Retention` capability of the memory driver: completed jobs and results kept after
//! success, and cleaning by age.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::atomic::Ordering;

use queue_core::{
    unix_ms, Completion, Driver, Error, JobId, JobState, Keep, Lane, Reservation, Result, Retention,
};

use crate::MemoryDriver;

#[async_trait]
impl Retention for MemoryDriver {
    async fn complete(&self, lane: &Lane, done: &[Completion], keep: &Keep) -> Result<Vec<bool>> {
        let Some(queue) = self.existing(lane.queue()) else {
            return Ok(vec![false; done.len()]);
        };
        let now = self.now();
        // One wall-clock reading for the call's completions (their `finished_at`).
        let wall = unix_ms(SystemTime::now());
        let mut q = queue.lock();
        let Some(id) = q.existing_lane(lane.job()) else {
            return Ok(vec![false; done.len()]);
        };
        let held: Vec<bool> = done
            .iter()
            .map(|c| q.complete(id, c, keep, now, wall))
            .collect();
        // A call whose leases were all stale changes nothing, trimming included.
        if held.contains(&true) {
            q.trim_kept(keep, now);
        }
        Ok(held)
    }

    fn completes_with_reserve(&self) -> bool {
        true
    }

    async fn complete_and_reserve(
        &self,
        _driver: &dyn Driver,
        lane: &Lane,
        done: &[Completion],
        keep: &Keep,
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        let Some(queue) = self.existing(lane.queue()) else {
            return Ok((vec![false; done.len()], Reservation::default()));
        };
        let now = self.now();
        let wall = unix_ms(SystemTime::now());
        let lease_ms = lease.as_millis().min(u128::from(u64::MAX)) as u64;
        let tokens = &self.shared.tokens;
        // One lock for both steps, as ack_and_reserve.
        let mut q = queue.lock();
        let held: Vec<bool> = match q.existing_lane(lane.job()) {
            Some(id) => done
                .iter()
                .map(|c| q.complete(id, c, keep, now, wall))
                .collect(),
            None => vec![false; done.len()],
        };
        if held.contains(&true) {
            q.trim_kept(keep, now);
        }
        let reservation = q.reserve(lane.job(), max, now, lease_ms, |n| {
            tokens.fetch_add(n, Ordering::Relaxed)
        });
        Ok((held, reservation))
    }

    async fn result(&self, queue: &str, id: &JobId) -> Result<Option<Bytes>> {
        let now = self.now();
        Ok(self.existing(queue).and_then(|q| q.lock().result(id, now)))
    }

    async fn clean(
        &self,
        queue: &str,
        state: JobState,
        older_than: Duration,
        limit: usize,
    ) -> Result<usize> {
        if !matches!(state, JobState::Completed | JobState::Failed) {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "only completed and failed jobs can be cleaned, not {state:?} ones"
                ),
            });
        }
        let Some(q) = self.existing(queue) else {
            return Ok(0);
        };
        // `None` when the age reaches back before this driver existed: no completed job is
        // that old.
        let before_ms = self
            .now()
            .checked_sub(older_than.as_millis().min(u128::from(u64::MAX)) as u64);
        let before_wall = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let now = self.now();
        let removed = q.lock().clean(state, before_ms, before_wall, limit, now);
        Ok(removed)
    }
}
