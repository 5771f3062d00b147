//! Requests through the dashboard's router, without a network (`tower::ServiceExt::oneshot`).

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// What the router answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location: {self:#?}"))
    }
}

/// Sends `request` to `router`.
pub async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `GET path`.
pub async fn get(router: &Router, path: &str) -> Answer {
    let request = Request::get(path)
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

/// A form `POST` to `path` as a browser of the dashboard's own page sends it.
pub fn form(path: &str) -> axum::http::request::Builder {
    form_from(path, "http://127.0.0.1:8080", "same-origin")
}

/// A form `POST` to `path` as a browser sends it from a page of `origin`, which it judges
/// `site` (`Sec-Fetch-Site`).
pub fn form_from(path: &str, origin: &str, site: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, origin)
        .header("sec-fetch-site", site)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
}

/// The CSRF token a page's forms carry.
pub fn token_in(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF field in the page"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}
