//! Building the dashboard: options, then the axum router to mount.

use axum::Router;
use queue_core::Queue;

use crate::state::AppState;

/// The dashboard's router over `queue`, with actions enabled; mount it under any path:
///
/// ```no_run
/// # async fn mount(queue: queue_core::Queue) {
/// let app = axum::Router::new().nest("/admin/jobs", queue_web::router(queue));
/// # let _: axum::Router = app;
/// # }
/// ```
///
/// It has no authentication of its own: add the application's as a layer
/// (`router.layer(...)`), or use [`Credentials::protect`](crate::Credentials::protect).
pub fn router(queue: Queue) -> Router {
    Dashboard::new(queue).router()
}

/// The dashboard's options.
///
/// ```no_run
/// # fn build(queue: queue_core::Queue) -> axum::Router {
/// queue_web::Dashboard::new(queue).read_only(true).router()
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Dashboard {
    queue: Queue,
    read_only: bool,
    secrets: Vec<String>,
}

impl Dashboard {
    /// A dashboard over `queue`, actions enabled.
    pub fn new(queue: Queue) -> Self {
        Self {
            queue,
            read_only: false,
            secrets: Vec::new(),
        }
    }

    /// Hides every action and refuses (403) every action request when `read_only` is true.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Text that must never be shown (such as the storage's password): replaced by `***` in
    /// every error message the dashboard shows.
    pub fn hide(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The router, to mount or serve.
    pub fn router(self) -> Router {
        crate::routes::routes(AppState::new(self.queue, self.read_only, self.secrets))
    }
}
