//! The gate every action passes: refused in read-only mode, refused from another site, refused
//! without the CSRF token. Reading requests (GET, HEAD) pass untouched.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::csrf::{self, cross_site};
use crate::error::WebError;
use crate::state::AppState;

/// The largest action body read (forms of selected job ids).
const MAX_BODY: usize = 1024 * 1024;

/// Checks an action before its handler runs.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let api = request.uri().path().starts_with("/api");
    let refuse = |status: StatusCode, message: &str| -> Response {
        WebError::new(status, message).respond(api)
    };
    if state.read_only() {
        return refuse(
            StatusCode::FORBIDDEN,
            "this dashboard is read-only: actions are turned off",
        );
    }
    if let Some(why) = cross_site(request.headers()) {
        return refuse(StatusCode::FORBIDDEN, &format!("action refused: {why}"));
    }
    let header_token = request
        .headers()
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is too large (at most 1 MiB)",
            )
        }
    };
    let form_token = if is_form {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| {
                fields
                    .into_iter()
                    .find(|(k, _)| k == csrf::FIELD)
                    .map(|(_, v)| v)
            })
    } else {
        None
    };
    let token = header_token.or(form_token);
    if !token.is_some_and(|t| state.csrf().matches(&t)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "action refused: the CSRF token is missing or wrong (reload the page and try again)",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
