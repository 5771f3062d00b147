//! The stylesheet and the script, compiled into the binary and served with a long cache
//! lifetime (their paths carry the crate version, so an upgrade fetches them anew).

use axum::http::header;
use axum::response::IntoResponse;

/// The stylesheet's path under the dashboard.
pub(crate) const CSS_PATH: &str = concat!("/assets/dashboard-", env!("CARGO_PKG_VERSION"), ".css");

/// The script's path under the dashboard.
pub(crate) const JS_PATH: &str = concat!("/assets/dashboard-", env!("CARGO_PKG_VERSION"), ".js");

const CSS: &str = include_str!("../assets/dashboard.css");
const JS: &str = include_str!("../assets/dashboard.js");
const CACHE: &str = "public, max-age=86400, immutable";

/// `GET` the stylesheet.
pub(crate) async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        CSS,
    )
}

/// `GET` the script.
pub(crate) async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        JS,
    )
}
