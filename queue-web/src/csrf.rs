//! Cross-site request forgery protection: a random token per process that every action must
//! carry (a hidden form field, or the `x-csrf-token` header for the JSON API), and a check of
//! the browser's `Origin` and `Sec-Fetch-Site` headers.

use std::sync::Arc;

use axum::http::{header, HeaderMap};

/// The form field that carries the token.
pub(crate) const FIELD: &str = "csrf";

/// The header that carries the token for the JSON API.
pub(crate) const HEADER: &str = "x-csrf-token";

/// A secret token made when the dashboard is built.
#[derive(Clone)]
pub(crate) struct CsrfToken(Arc<str>);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(***)")
    }
}

impl CsrfToken {
    /// 32 random bytes from the operating system, as hex.
    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(hex.into())
    }

    /// The token's text, for forms and the API index.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, compared in constant time.
    pub(crate) fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Why a request from another site is refused, if it is: a browser says where a request
/// comes from in `Sec-Fetch-Site` and `Origin`; requests without them (scripts) pass here and
/// must still carry the token.
pub(crate) fn cross_site(headers: &HeaderMap) -> Option<&'static str> {
    // Every copy of a header counts: a request carrying two is judged by the worse.
    for site in headers.get_all("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin") | Ok("none")) {
            return Some("the request came from another site (Sec-Fetch-Site)");
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    for origin in headers.get_all(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host);
        if host.is_none() || origin_host != host {
            return Some("the request's Origin is not this dashboard's");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (CsrfToken::random(), CsrfToken::random());
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 64);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(&a.as_str()[..63]));
        assert!(!a.matches(""));
        assert_eq!(format!("{a:?}"), "CsrfToken(***)");
    }

    #[test]
    fn other_sites_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(cross_site(&headers), None);
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert_eq!(cross_site(&headers), None);
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_site(&headers).is_some());
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_site(&headers).is_some());
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_site(&headers).is_some());
    }
}
