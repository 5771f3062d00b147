//! What a dispatch reports for each job.

use super::id::JobId;

/// What a dispatch stored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dispatched {
    /// The job's id.
    pub id: JobId,
    /// False when a job with the chosen id already existed, so nothing new was stored.
    pub created: bool,
}

impl Dispatched {
    /// A record of a stored job.
    pub fn new(id: JobId, created: bool) -> Self {
        Self { id, created }
    }
}
