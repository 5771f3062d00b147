//! A page of one queue's jobs in one state, optionally of one handler.

use queue_core::{JobQuery, JobState, Order, DEFAULT_PAGE};
use serde::{Deserialize, Serialize};

use super::{state_name, JobRow};
use crate::error::WebError;
use crate::state::AppState;

/// The states a listing can show, in the order of the page's tabs.
pub(crate) const STATES: [JobState; 5] = [
    JobState::Ready,
    JobState::Scheduled,
    JobState::Active,
    JobState::Failed,
    JobState::Completed,
];

/// The query string of a listing.
#[derive(Debug, Default, Deserialize, Clone)]
pub(crate) struct JobsParams {
    /// `ready` (default), `scheduled`, `active`, `failed` or `completed`.
    pub(crate) state: Option<String>,
    /// Only this job name.
    pub(crate) name: Option<String>,
    /// `oldest` or `newest`; failed and completed jobs default to newest first.
    pub(crate) order: Option<String>,
    /// The `next` of the previous page.
    pub(crate) cursor: Option<String>,
    /// Jobs per page, 1 to 1000 (default 50).
    pub(crate) limit: Option<usize>,
}

impl JobsParams {
    /// The state asked for.
    pub(crate) fn state(&self) -> Result<JobState, WebError> {
        let text = self
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or("ready");
        STATES
            .into_iter()
            .find(|s| state_name(*s) == text)
            .ok_or_else(|| {
                WebError::bad_request(format!(
                    "unknown state `{text}`: expected ready, scheduled, active, failed or completed"
                ))
            })
    }

    /// The query for the storage.
    pub(crate) fn query(&self) -> Result<JobQuery, WebError> {
        let state = self.state()?;
        let order = match self.order.as_deref().filter(|s| !s.is_empty()) {
            Some("oldest") => Order::Oldest,
            Some("newest") => Order::Newest,
            None if matches!(state, JobState::Failed | JobState::Completed) => Order::Newest,
            None => Order::Oldest,
            Some(other) => {
                return Err(WebError::bad_request(format!(
                    "unknown order `{other}`: expected oldest or newest"
                )))
            }
        };
        let mut query = JobQuery::new(state)
            .order(order)
            .limit(self.limit.unwrap_or(DEFAULT_PAGE));
        if let Some(name) = self.name.as_deref().filter(|s| !s.is_empty()) {
            query = query.name(name);
        }
        if let Some(cursor) = self.cursor.as_deref().filter(|s| !s.is_empty()) {
            query = query.cursor(cursor);
        }
        Ok(query)
    }
}

/// The jobs page.
#[derive(Debug, Serialize)]
pub(crate) struct JobsView {
    pub(crate) queue: String,
    pub(crate) state: JobState,
    pub(crate) name: Option<String>,
    pub(crate) order: &'static str,
    /// How many jobs of the queue are in this state (all handlers).
    pub(crate) total: u64,
    pub(crate) jobs: Vec<JobRow>,
    /// The cursor of the next page, if there is one.
    pub(crate) next: Option<String>,
    /// The queue's job names, for the filter.
    pub(crate) names: Vec<String>,
}

/// Reads one page of `queue`'s jobs as `params` asks.
pub(crate) async fn jobs(
    state: &AppState,
    queue_name: &str,
    params: &JobsParams,
) -> Result<JobsView, WebError> {
    state.known_queue(queue_name).await?;
    let query = params.query()?;
    let queue = state.queue();
    let fail = |e| state.fail(e);
    let page = queue.jobs(queue_name, query.clone()).await.map_err(fail)?;
    let counts = queue.counts(queue_name).await.map_err(fail)?;
    let total = match query.state {
        JobState::Ready => counts.ready,
        JobState::Scheduled => counts.scheduled,
        JobState::Active => counts.active,
        JobState::Failed => counts.failed,
        _ => counts.completed,
    };
    let names = match queue.driver().admin() {
        Some(_) => queue
            .lane_counts(queue_name)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
        None => Vec::new(),
    };
    Ok(JobsView {
        queue: queue_name.to_string(),
        state: query.state,
        name: query.name,
        order: match query.order {
            Order::Newest => "newest",
            _ => "oldest",
        },
        total,
        jobs: page.jobs.iter().map(JobRow::of).collect(),
        next: page.next,
        names,
    })
}
