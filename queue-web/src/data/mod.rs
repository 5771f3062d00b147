//! What the pages show, read from the queue's inspection API: one type per page, serialized
//! as is by the JSON API (`/api/...`) and rendered by the pages. Nothing here scans a queue:
//! lists are single pages, totals come from counters.

mod failed;
mod job;
mod jobs;
mod overview;
mod queue;
mod schedules;
mod workers;

pub(crate) use failed::{failed, FailedView};
pub(crate) use job::{job, JobView};
pub(crate) use jobs::{jobs, JobsParams, JobsView, STATES};
pub(crate) use overview::{overview, MinuteView, Overview};
pub(crate) use queue::{queue, QueueView};
pub(crate) use schedules::{schedules, ScheduleView};
pub(crate) use workers::{workers, WorkersView};

use std::time::SystemTime;

use queue_core::{JobInfo, JobState, RunCounts};
use serde::{Serialize, Serializer};

use crate::error::WebError;
use crate::state::AppState;

/// A point in time: RFC 3339 text in UTC in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Time(pub(crate) SystemTime);

impl Time {
    /// The time as RFC 3339 text in UTC, to the millisecond.
    pub(crate) fn rfc3339(&self) -> String {
        chrono::DateTime::<chrono::Utc>::from(self.0)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

/// Runs that ended, by outcome.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Runs {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) retried: u64,
}

impl From<RunCounts> for Runs {
    fn from(runs: RunCounts) -> Self {
        Self {
            completed: runs.completed,
            failed: runs.failed,
            retried: runs.retried,
        }
    }
}

/// One job in a list.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) name: String,
    pub(crate) state: JobState,
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    pub(crate) priority: i8,
    pub(crate) created_at: Time,
    pub(crate) failed_at: Option<Time>,
    pub(crate) finished_at: Option<Time>,
    pub(crate) last_error: Option<String>,
}

impl JobRow {
    /// The row of `info`.
    pub(crate) fn of(info: &JobInfo) -> Self {
        Self {
            id: info.id.to_string(),
            queue: info.queue.clone(),
            name: info.name.clone(),
            state: info.state,
            attempts: info.attempts,
            max_attempts: info.max_attempts,
            priority: info.priority,
            created_at: Time(info.created_at),
            failed_at: info.failed_at.map(Time),
            finished_at: info.finished_at.map(Time),
            last_error: info.last_error.clone(),
        }
    }
}

/// The name of a state as pages, the API and query strings spell it.
pub(crate) fn state_name(state: JobState) -> &'static str {
    match state {
        JobState::Scheduled => "scheduled",
        JobState::Ready => "ready",
        JobState::Active => "active",
        JobState::Failed => "failed",
        JobState::Completed => "completed",
        JobState::Cancelled => "cancelled",
        _ => "other",
    }
}

impl AppState {
    /// A storage error as the dashboard reports it, secrets masked.
    pub(crate) fn fail(&self, error: queue_core::Error) -> WebError {
        WebError::storage(&error, |text| self.mask(text))
    }

    /// The queue names the storage knows, sorted.
    pub(crate) async fn queue_names(&self) -> Result<Vec<String>, WebError> {
        let mut names = self.queue().queues().await.map_err(|e| self.fail(e))?;
        names.sort();
        Ok(names)
    }

    /// Fails with 404 unless storage knows `queue`.
    pub(crate) async fn known_queue(&self, queue: &str) -> Result<(), WebError> {
        if self.queue_names().await?.iter().any(|q| q == queue) {
            Ok(())
        } else {
            Err(WebError::not_found(format!("no queue named `{queue}`")))
        }
    }
}
