//! The page handlers: read a `data` view, render its page.

use axum::extract::{Path, Query, State};
use maud::Markup;

use crate::context::Ctx;
use crate::data::{self, JobsParams};
use crate::error::WebError;
use crate::pages;
use crate::state::AppState;

type Page = Result<Markup, WebError>;

/// `GET /`
pub(crate) async fn overview(State(state): State<AppState>, cx: Ctx) -> Page {
    Ok(pages::overview::render(&cx, &data::overview(&state).await?))
}

/// `GET /queues/{queue}`
pub(crate) async fn queue(
    State(state): State<AppState>,
    cx: Ctx,
    Path(queue): Path<String>,
) -> Page {
    Ok(pages::queue::render(
        &cx,
        &data::queue(&state, &queue).await?,
    ))
}

/// `GET /queues/{queue}/jobs?state=&name=&order=&cursor=&limit=`
pub(crate) async fn jobs(
    State(state): State<AppState>,
    cx: Ctx,
    Path(queue): Path<String>,
    Query(params): Query<JobsParams>,
) -> Page {
    Ok(pages::jobs::render(
        &cx,
        &data::jobs(&state, &queue, &params).await?,
    ))
}

/// `GET /jobs/{queue}/{id}`
pub(crate) async fn job(
    State(state): State<AppState>,
    cx: Ctx,
    Path((queue, id)): Path<(String, String)>,
) -> Page {
    Ok(pages::job::render(
        &cx,
        &data::job(&state, &queue, &id).await?,
    ))
}

/// `GET /failed`
pub(crate) async fn failed(State(state): State<AppState>, cx: Ctx) -> Page {
    Ok(pages::failed::render(&cx, &data::failed(&state).await?))
}

/// `GET /workers`
pub(crate) async fn workers(State(state): State<AppState>, cx: Ctx) -> Page {
    Ok(pages::workers::render(&cx, &data::workers(&state).await?))
}

/// `GET /schedules`
pub(crate) async fn schedules(State(state): State<AppState>, cx: Ctx) -> Page {
    let list = data::schedules(&state).await?;
    Ok(pages::schedules::render(&cx, list.as_deref()))
}
