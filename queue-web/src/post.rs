//! The action handlers, shared by the pages' forms and the JSON API: a form's action answers
//! with a redirect back to its page and a notice; the API's with `{"ok": true, "message"}`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::actions::{self, Fields};
use crate::context::Ctx;
use crate::error::WebError;
use crate::state::AppState;

/// `POST [/api]/jobs/{queue}/{id}/{action}`
pub(crate) async fn job(
    State(state): State<AppState>,
    cx: Ctx,
    uri: Uri,
    Path((queue, id, action)): Path<(String, String, String)>,
    fields: Fields,
) -> Response {
    let done = actions::job_action(&state, &queue, &id, &action).await;
    answer(&cx, &uri, &fields, done)
}

/// `POST [/api]/queues/{queue}/{action}`
pub(crate) async fn queue(
    State(state): State<AppState>,
    cx: Ctx,
    uri: Uri,
    Path((queue, action)): Path<(String, String)>,
    fields: Fields,
) -> Response {
    let done = actions::queue_action(&state, &queue, &action, &fields).await;
    answer(&cx, &uri, &fields, done)
}

/// `POST [/api]/queues/{queue}/jobs/bulk`
pub(crate) async fn bulk(
    State(state): State<AppState>,
    cx: Ctx,
    uri: Uri,
    Path(queue): Path<String>,
    fields: Fields,
) -> Response {
    let done = actions::bulk_action(&state, &queue, &fields).await;
    answer(&cx, &uri, &fields, done)
}

/// `POST [/api]/schedules/{queue}/{name}/{action}`
pub(crate) async fn schedule(
    State(state): State<AppState>,
    cx: Ctx,
    uri: Uri,
    Path((queue, name, action)): Path<(String, String, String)>,
    fields: Fields,
) -> Response {
    let done = actions::schedule_action(&state, &queue, &name, &action).await;
    answer(&cx, &uri, &fields, done)
}

/// The answer to an action: JSON for the API; for a form, a redirect to the page it came from
/// (its `back` field, a path within the dashboard) with the notice, or the error page.
fn answer(cx: &Ctx, uri: &Uri, fields: &Fields, done: Result<String, WebError>) -> Response {
    let api = uri.path().starts_with("/api");
    match (done, api) {
        (Ok(message), true) => (
            StatusCode::OK,
            Json(serde_json::json!({ "ok": true, "message": message })),
        )
            .into_response(),
        (Ok(message), false) => {
            let back = fields.get("back").filter(|b| is_local(b)).unwrap_or("/");
            Redirect::to(&cx.url(&with_notice(back, &message))).into_response()
        }
        (Err(error), api) => error.respond(api),
    }
}

/// Whether `path` is a path within the dashboard (not a URL of another site).
fn is_local(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// `path` with its `notice` query parameter set to `notice`.
fn with_notice(path: &str, notice: &str) -> String {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs.retain(|(k, _)| k != "notice");
    pairs.push(("notice".into(), notice.into()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_in_the_dashboard() {
        assert!(is_local("/failed"));
        assert!(!is_local("//evil.example/"));
        assert!(!is_local("https://evil.example/"));
        assert!(!is_local("/\\evil.example"));
        assert_eq!(with_notice("/failed", "done"), "/failed?notice=done");
        assert_eq!(
            with_notice("/q/jobs?state=failed&notice=old", "2 jobs"),
            "/q/jobs?state=failed&notice=2+jobs"
        );
    }
}
