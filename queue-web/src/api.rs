//! The JSON API under `/api`: the same views the pages render, and the same actions.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use crate::data::{self, FailedView, JobView, JobsParams, JobsView, Overview, QueueView};
use crate::data::{ScheduleView, WorkersView};
use crate::error::ApiError;
use crate::state::AppState;

type Answer<T> = Result<Json<T>, ApiError>;

/// `GET /api`: what the API offers, whether actions are allowed, and the CSRF token that
/// action requests carry in the `x-csrf-token` header (absent in read-only mode).
pub(crate) async fn index(State(state): State<AppState>) -> Json<Value> {
    let token = (!state.read_only()).then(|| state.csrf().as_str().to_string());
    Json(json!({
        "read_only": state.read_only(),
        "csrf_token": token,
        "csrf_header": crate::csrf::HEADER,
        "read": [
            "GET /api/overview",
            "GET /api/queues/{queue}",
            "GET /api/queues/{queue}/jobs?state=ready|scheduled|active|failed|completed&name=&order=oldest|newest&cursor=&limit=",
            "GET /api/jobs/{queue}/{id}",
            "GET /api/failed",
            "GET /api/workers",
            "GET /api/schedules",
        ],
        "actions": [
            "POST /api/jobs/{queue}/{id}/retry|delete|cancel",
            "POST /api/queues/{queue}/pause|resume|retry-failed",
            "POST /api/queues/{queue}/clean {\"state\": \"completed|failed\", \"older_than\": seconds}",
            "POST /api/queues/{queue}/purge {\"confirm\": \"<queue name>\"}",
            "POST /api/queues/{queue}/jobs/bulk {\"op\": \"retry|delete\", \"id\": [...]} or {\"op\": ..., \"scope\": \"matching\", \"state\": ..., \"name\": ...}",
            "POST /api/schedules/{queue}/{name}/trigger|pause|resume",
        ],
    }))
}

/// `GET /api/overview`
pub(crate) async fn overview(State(state): State<AppState>) -> Answer<Overview> {
    Ok(Json(data::overview(&state).await?))
}

/// `GET /api/queues/{queue}`
pub(crate) async fn queue(
    State(state): State<AppState>,
    Path(queue): Path<String>,
) -> Answer<QueueView> {
    Ok(Json(data::queue(&state, &queue).await?))
}

/// `GET /api/queues/{queue}/jobs`
pub(crate) async fn jobs(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    Query(params): Query<JobsParams>,
) -> Answer<JobsView> {
    Ok(Json(data::jobs(&state, &queue, &params).await?))
}

/// `GET /api/jobs/{queue}/{id}`
pub(crate) async fn job(
    State(state): State<AppState>,
    Path((queue, id)): Path<(String, String)>,
) -> Answer<JobView> {
    Ok(Json(data::job(&state, &queue, &id).await?))
}

/// `GET /api/failed`
pub(crate) async fn failed(State(state): State<AppState>) -> Answer<FailedView> {
    Ok(Json(data::failed(&state).await?))
}

/// `GET /api/workers`
pub(crate) async fn workers(State(state): State<AppState>) -> Answer<WorkersView> {
    Ok(Json(data::workers(&state).await?))
}

/// `GET /api/schedules`: `{"supported": bool, "schedules": [...]}`
pub(crate) async fn schedules(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list: Option<Vec<ScheduleView>> = data::schedules(&state).await?;
    Ok(Json(json!({
        "supported": list.is_some(),
        "schedules": list.unwrap_or_default(),
    })))
}
