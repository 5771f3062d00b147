//! Job definitions shared by the producer and the worker (each binary includes this file, so
//! each registers the handlers it needs).

use std::time::Duration;

use queue_core::{job, JobContext, JobError};
use serde::{Deserialize, Serialize};

/// A unit of work that takes `ms` milliseconds.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) struct Item {
    /// Which item.
    pub(crate) n: u64,
    /// How long processing takes.
    pub(crate) ms: u64,
}

/// Processes an item, printing `start <id> <attempt>` and `done <id>` lines.
#[job(
    queue = "split",
    concurrency = 10,
    attempts = 5,
    backoff = "fixed(100ms)"
)]
pub(crate) async fn process(item: Item, ctx: JobContext) -> Result<(), JobError> {
    println!("start {} {}", ctx.id(), ctx.attempt());
    tokio::time::sleep(Duration::from_millis(item.ms)).await;
    println!("done {} {}", ctx.id(), item.n);
    Ok(())
}
