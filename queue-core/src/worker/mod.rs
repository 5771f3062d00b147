//! Workers: one pool per handler, lease renewal, graceful shutdown.

use crate::queue::Queue;

/// Placeholder, replaced by the worker implementation.
#[derive(Debug)]
pub struct WorkerBuilder {
    #[allow(dead_code)]
    queue: Queue,
}

impl WorkerBuilder {
    pub(crate) fn new(queue: Queue) -> Self {
        Self { queue }
    }
}

/// Placeholder.
#[derive(Debug)]
pub struct Worker;
