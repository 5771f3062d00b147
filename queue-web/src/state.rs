//! What every handler shares: the queue, the dashboard's options and its CSRF token.

use std::sync::Arc;

use queue_core::Queue;

use crate::csrf::CsrfToken;

/// The dashboard's shared state (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Queue,
    read_only: bool,
    csrf: CsrfToken,
    secrets: Vec<String>,
}

impl AppState {
    /// The state of a dashboard over `queue`.
    pub(crate) fn new(queue: Queue, read_only: bool, secrets: Vec<String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self {
            inner: Arc::new(Inner {
                queue,
                read_only,
                csrf: CsrfToken::random(),
                secrets,
            }),
        }
    }

    /// The storage.
    pub(crate) fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// Whether actions are hidden and refused.
    pub(crate) fn read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The token every action must carry.
    pub(crate) fn csrf(&self) -> &CsrfToken {
        &self.inner.csrf
    }

    /// `text` with every secret the dashboard was told of replaced by `***`.
    pub(crate) fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in &self.inner.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}
