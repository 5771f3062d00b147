//! The conformance suite against a driver that offers only the hot path (the memory driver
//! behind a wrapper that hides its `Admin` and `Presence` and uses the trait's own `reserve`):
//! the hot-path cases pass and the rest are listed as ignored, so a third-party driver needs
//! no more than the hot-path trait to be checked.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{Dispatched, Driver, Failure, Lane, Lease, NewJob, Reservation, Result};
use queue_memory::MemoryDriver;

/// The memory driver's hot path and nothing else.
#[derive(Debug)]
struct HotPathOnly(MemoryDriver);

#[async_trait]
impl Driver for HotPathOnly {
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
}

async fn driver() -> Arc<dyn Driver> {
    Arc::new(HotPathOnly(MemoryDriver::with_max_failed(
        queue_core::testing::FAILED_CAP,
    )))
}

fn main() -> ExitCode {
    queue_core::testing::conformance(driver)
}
