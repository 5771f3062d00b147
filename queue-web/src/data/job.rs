//! One job in full: payload, attempts and their errors, progress, timings, result, holder.

use queue_core::{JobId, JobState};
use serde::Serialize;

use super::Time;
use crate::error::WebError;
use crate::state::AppState;

/// The error of one run.
#[derive(Debug, Serialize)]
pub(crate) struct AttemptView {
    pub(crate) attempt: u32,
    pub(crate) at: Time,
    pub(crate) started_at: Option<Time>,
    pub(crate) error: String,
}

/// The job page.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) name: String,
    pub(crate) state: JobState,
    /// The payload's JSON, pretty-printed (or as stored when it is not JSON).
    pub(crate) payload: String,
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    pub(crate) lost_leases: u32,
    pub(crate) priority: i8,
    pub(crate) created_at: Time,
    pub(crate) first_started_at: Option<Time>,
    pub(crate) started_at: Option<Time>,
    pub(crate) finished_at: Option<Time>,
    pub(crate) failed_at: Option<Time>,
    pub(crate) last_error: Option<String>,
    pub(crate) errors: Vec<AttemptView>,
    pub(crate) progress: Option<serde_json::Value>,
    /// The kept result, pretty-printed.
    pub(crate) result: Option<String>,
    /// The worker running it, while active.
    pub(crate) held_by: Option<String>,
}

/// Pretty JSON of `bytes`, or the bytes as text when they are not JSON.
fn pretty(bytes: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Reads job `id` of `queue` (404 when there is none).
pub(crate) async fn job(state: &AppState, queue: &str, id: &str) -> Result<JobView, WebError> {
    queue_core::validate_name("queue name", queue).map_err(|e| state.fail(e))?;
    let info = state
        .queue()
        .job(queue, &JobId::from(id))
        .await
        .map_err(|e| state.fail(e))?
        .ok_or_else(|| WebError::not_found(format!("no job `{id}` in queue `{queue}`")))?;
    let payload = pretty(queue_core::strip_trace_context(&info.payload));
    Ok(JobView {
        id: info.id.to_string(),
        queue: info.queue.clone(),
        name: info.name.clone(),
        state: info.state,
        payload,
        attempts: info.attempts,
        max_attempts: info.max_attempts,
        lost_leases: info.lost_leases,
        priority: info.priority,
        created_at: Time(info.created_at),
        first_started_at: info.first_started_at.map(Time),
        started_at: info.started_at.map(Time),
        finished_at: info.finished_at.map(Time),
        failed_at: info.failed_at.map(Time),
        last_error: info.last_error.clone(),
        errors: info
            .errors
            .iter()
            .map(|e| AttemptView {
                attempt: e.attempt,
                at: Time(e.at),
                started_at: e.started_at.map(Time),
                error: e.error.clone(),
            })
            .collect(),
        progress: info.progress.clone(),
        result: info.result.as_deref().map(pretty),
        held_by: info.held_by.clone(),
    })
}
