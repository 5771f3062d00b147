//! A driver reduced to the hot path, for checking what code does with a driver that has no
//! capabilities beyond it.

use std::time::Duration;

use async_trait::async_trait;

use crate::driver::Driver;
use crate::error::Result;
use crate::job::{Dispatched, Failure, Lane, Lease, NewJob, Reservation};

/// Wraps a driver and offers only its hot path: every [`Driver`] method goes to the inner
/// driver, and [`Driver::capabilities`] offers nothing. A worker or queue given one behaves as
/// with a third-party driver that implements no capability (inspection, retention, the event
/// log and the rest are refused with [`Error::Unsupported`](crate::Error::Unsupported)), and
/// the conformance suite runs only its hot-path cases.
#[derive(Debug)]
pub struct HotPathOnly<D>(pub D);

#[async_trait]
impl<D: Driver> Driver for HotPathOnly<D> {
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
    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        self.0.progress(lane, lease, progress).await
    }
    async fn reap(&self, lane: &Lane) -> Result<usize> {
        self.0.reap(lane).await
    }
}
