//! A memory driver with hooks: a test states only the storage calls it changes (a reserve that
//! answers late, renewals that hang, acks that fail) by implementing [`Hooks`], whose every
//! method by default passes the call to the memory driver, and runs jobs on [`Hooked`] of it.
//! Only the worker's hot path is hooked; of the other capabilities a hooked driver offers only
//! the schedules and workflows its hooks give ([`Hooks::schedules`], [`Hooks::workflows`]).

use std::time::Duration;

use async_trait::async_trait;
use queue_core::{
    Capabilities, Dispatched, Driver, Failure, Lane, Lease, NewJob, Reservation, Result, Schedules,
    Workflows,
};
use queue_memory::MemoryDriver;

/// The worker's storage calls, each passed to [`Hooks::inner`] unless overridden.
#[async_trait]
pub trait Hooks: Send + Sync + std::fmt::Debug + 'static {
    /// The memory driver the calls go to.
    fn inner(&self) -> &MemoryDriver;

    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.inner().enqueue(jobs).await
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.inner().ack_and_reserve(lane, done, max, lease).await
    }
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        self.inner().wait(lane, timeout).await
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        self.inner().renew(lane, leases, lease).await
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner().ack(lane, leases).await
    }
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        self.inner().fail(lane, lease, failure).await
    }
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.inner().requeue(lane, leases).await
    }
    async fn progress(&self, lane: &Lane, lease: &Lease, p: serde_json::Value) -> Result<bool> {
        self.inner().progress(lane, lease, p).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.inner().reap(lane).await
    }
    /// The schedules the driver offers: none unless overridden.
    fn schedules(&self) -> Option<&dyn Schedules> {
        None
    }
    /// The workflows the driver offers: none unless overridden.
    fn workflows(&self) -> Option<&dyn Workflows> {
        None
    }
}

/// A driver whose calls go through `H`'s hooks.
#[derive(Debug, Default)]
pub struct Hooked<H>(pub H);

#[async_trait]
impl<H: Hooks> Driver for Hooked<H> {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        self.0.enqueue(jobs).await
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        self.0.ack_and_reserve(lane, done, max, lease).await
    }
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        self.0.wait(lane, timeout).await
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        self.0.renew(lane, leases, lease).await
    }
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.0.ack(lane, leases).await
    }
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        self.0.fail(lane, lease, failure).await
    }
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.0.requeue(lane, leases).await
    }
    async fn progress(&self, lane: &Lane, lease: &Lease, p: serde_json::Value) -> Result<bool> {
        self.0.progress(lane, lease, p).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.0.reap(lane).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        let mut offered = Capabilities::default();
        if let Some(schedules) = self.0.schedules() {
            offered = offered.with_schedules(schedules);
        }
        if let Some(workflows) = self.0.workflows() {
            offered = offered.with_workflows(workflows);
        }
        offered
    }
}
