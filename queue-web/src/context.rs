//! What a page needs to know about its request: where the dashboard is mounted, whether actions
//! are shown, the CSRF token for its forms and the notice of the last action.

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use serde::Deserialize;

use crate::state::AppState;

/// A page's request context.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// The path the dashboard is mounted under, without a trailing `/` (`""` at the root).
    pub(crate) base: String,
    /// Whether actions are hidden.
    pub(crate) read_only: bool,
    /// The token each form carries.
    pub(crate) csrf: String,
    /// What the last action did (`?notice=...` after its redirect).
    pub(crate) notice: Option<String>,
    /// The request's path within the dashboard, with its query.
    pub(crate) here: String,
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

impl Ctx {
    /// The dashboard path `path` (which starts with `/`) under the mount point.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The mount point: the original path less the path the dashboard's router saw.
pub(crate) fn base_of(original: &str, inner: &str) -> String {
    let original = original.trim_end_matches('/');
    let inner = inner.trim_end_matches('/');
    original
        .strip_suffix(inner)
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string()
}

impl<S> FromRequestParts<S> for Ctx
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let inner = parts.uri.path().to_string();
        let original = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| inner.clone(), |uri| uri.0.path().to_string());
        let notice = parts
            .uri
            .query()
            .and_then(|q| serde_urlencoded::from_str::<NoticeQuery>(q).ok())
            .and_then(|q| q.notice)
            .map(|n| n.chars().take(200).collect());
        let here = match parts.uri.query() {
            Some(q) => format!("{inner}?{q}"),
            None => inner.clone(),
        };
        Ok(Self {
            base: base_of(&original, &inner),
            read_only: state.read_only(),
            csrf: state.csrf().as_str().to_string(),
            notice,
            here,
        })
    }
}

/// A path segment for a URL: letters, digits and `_-.:@` as they are, anything else (such as
/// the `/` names may hold) percent-encoded.
pub(crate) fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"_-.:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_found() {
        assert_eq!(base_of("/", "/"), "");
        assert_eq!(base_of("/queues/mail", "/queues/mail"), "");
        assert_eq!(base_of("/admin/jobs", "/"), "/admin/jobs");
        assert_eq!(base_of("/admin/jobs/", "/"), "/admin/jobs");
        assert_eq!(base_of("/admin/jobs/failed", "/failed"), "/admin/jobs");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("mail"), "mail");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("x@y:z.w-v_u"), "x@y:z.w-v_u");
    }
}
