//! The [`Driver`], [`Admin`], [`Presence`] and [`EventLog`] traits for [`RedisDriver`]: each method is the inherent one of the module that
//! owns it ([`jobs`](crate::jobs) for the hot path, [`admin`](crate::admin) for inspection and
//! administration, [`presence`](crate::presence) for live workers).

use std::time::Duration;

use async_trait::async_trait;
use queue_core::{
    Admin, Capabilities, Counts, Dispatched, Driver, Event, EventLog, Failure, JobId, JobInfo,
    JobPage, JobQuery, Lane, Lease, NewJob, Presence, Reservation, Result, WorkerPresence,
};

use crate::RedisDriver;

#[async_trait]
impl Driver for RedisDriver {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        if !self.durable() {
            return RedisDriver::enqueue(self, jobs).await;
        }
        let queues = Self::queues_of(&jobs);
        let generation = self.inner.conn.generation();
        let stored = RedisDriver::enqueue(self, jobs).await?;
        self.confirm_replicated(&queues, stored, generation).await
    }

    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        RedisDriver::ack_and_reserve(self, lane, done, max, lease).await
    }

    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        RedisDriver::wait(self, lane, timeout).await
    }

    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        RedisDriver::renew(self, lane, leases, lease).await
    }

    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        RedisDriver::ack(self, lane, leases).await
    }

    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        RedisDriver::fail(self, lane, lease, failure).await
    }

    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        RedisDriver::requeue(self, lane, leases).await
    }

    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        RedisDriver::progress(self, lane, lease, progress).await
    }

    async fn reap(&self, lane: &Lane) -> Result<usize> {
        RedisDriver::reap(self, lane).await
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::default()
            .with_admin(self)
            .with_presence(self)
            .with_retention(self)
            .with_event_log(self)
            .with_stats(self)
            .with_limits(self)
            .with_schedules(self)
            .with_unique(self)
            .with_cancel(self)
            .with_keyed_limits(self)
            .with_workflows(self)
    }
}

#[async_trait]
impl Admin for RedisDriver {
    async fn queues(&self) -> Result<Vec<String>> {
        RedisDriver::queues(self).await
    }

    async fn lease_floor(&self, queue: &str) -> Result<u64> {
        RedisDriver::lease_floor(self, queue).await
    }

    async fn counts(&self, queue: &str) -> Result<Counts> {
        RedisDriver::counts(self, queue).await
    }

    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        RedisDriver::lane_counts(self, queue).await
    }

    async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>> {
        RedisDriver::job(self, queue, id).await
    }

    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        RedisDriver::failed(self, queue, offset, limit).await
    }

    async fn list_jobs(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        RedisDriver::list_jobs(self, queue, query).await
    }

    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
        RedisDriver::retry_failed(self, queue, id).await
    }

    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        RedisDriver::delete(self, queue, id).await
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        RedisDriver::purge(self, queue).await
    }

    async fn pause(&self, queue: &str) -> Result<()> {
        RedisDriver::pause(self, queue).await
    }

    async fn resume(&self, queue: &str) -> Result<()> {
        RedisDriver::resume(self, queue).await
    }
}

#[async_trait]
impl Presence for RedisDriver {
    async fn heartbeat(&self, worker: &WorkerPresence, ttl: Duration) -> Result<()> {
        self.record_worker(worker, ttl).await
    }

    async fn retire(&self, worker_id: &str) -> Result<()> {
        self.forget_worker(worker_id).await
    }

    async fn workers(&self) -> Result<Vec<WorkerPresence>> {
        self.live_workers().await
    }
}

#[async_trait]
impl EventLog for RedisDriver {
    async fn append(&self, queue: &str, events: &[Event], max_len: usize) -> Result<()> {
        self.append_events(queue, events, max_len).await
    }

    async fn read(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(String, Event)>> {
        self.read_events(queue, after, limit, block).await
    }

    async fn last_position(&self, queue: &str) -> Result<Option<String>> {
        self.last_event_position(queue).await
    }
}
