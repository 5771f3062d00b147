//! Errors as pages and as JSON: a status and a one-line message, escaped when shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use maud::{html, DOCTYPE};

/// A request that could not be answered: its status and why.
#[derive(Debug)]
pub(crate) struct WebError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl WebError {
    /// An error of `status` saying `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 404 saying what was not found.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 400 saying what was wrong with the request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// An error of the storage, with secrets masked by `mask`.
    pub(crate) fn storage(error: &queue_core::Error, mask: impl Fn(&str) -> String) -> Self {
        use queue_core::Error as E;
        let status = match error {
            E::JobNotFound { .. } | E::ScheduleNotFound { .. } => StatusCode::NOT_FOUND,
            E::InvalidName { .. }
            | E::InvalidQuery { .. }
            | E::InvalidPayload { .. }
            | E::InvalidSchedule { .. }
            | E::UnknownJob { .. } => StatusCode::BAD_REQUEST,
            E::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
            E::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, mask(&error.to_string()))
    }

    /// The error as the JSON API (`api`) or a page answers it.
    pub(crate) fn respond(self, api: bool) -> Response {
        if api {
            ApiError(self).into_response()
        } else {
            self.into_response()
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) " · queue dashboard" }
                }
                body {
                    main {
                        h1 { (title) }
                        p role="alert" { (self.message) }
                        p { "Go back to the page you came from to try again." }
                    }
                }
            }
        };
        (self.status, page).into_response()
    }
}

/// An error of the JSON API: `{"error": "..."}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError(pub(crate) WebError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.0.message, "status": self.0.status.as_u16() });
        (self.0.status, Json(body)).into_response()
    }
}

impl From<WebError> for ApiError {
    fn from(error: WebError) -> Self {
        Self(error)
    }
}
