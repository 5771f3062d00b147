//! The paths of the dashboard (part of its contract) and the layers around them.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;
use crate::{api, assets, guard, html, post};

/// The router of a dashboard with `state`.
pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(html::overview))
        .route("/queues/{queue}", get(html::queue))
        .route("/queues/{queue}/jobs", get(html::jobs))
        .route("/jobs/{queue}/{id}", get(html::job))
        .route("/failed", get(html::failed))
        .route("/workers", get(html::workers))
        .route("/schedules", get(html::schedules))
        .route("/queues/{queue}/jobs/bulk", post(post::bulk))
        .route("/queues/{queue}/{action}", post(post::queue))
        .route("/jobs/{queue}/{id}/{action}", post(post::job))
        .route("/schedules/{queue}/{name}/{action}", post(post::schedule))
        .route("/api", get(api::index))
        .route("/api/overview", get(api::overview))
        .route("/api/queues/{queue}", get(api::queue))
        .route("/api/queues/{queue}/jobs", get(api::jobs))
        .route("/api/jobs/{queue}/{id}", get(api::job))
        .route("/api/failed", get(api::failed))
        .route("/api/workers", get(api::workers))
        .route("/api/schedules", get(api::schedules))
        .route("/api/queues/{queue}/jobs/bulk", post(post::bulk))
        .route("/api/queues/{queue}/{action}", post(post::queue))
        .route("/api/jobs/{queue}/{id}/{action}", post(post::job))
        .route(
            "/api/schedules/{queue}/{name}/{action}",
            post(post::schedule),
        )
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Headers that keep the pages from running anything but their own script, from being framed
/// by another site, and from being sniffed as another type.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
