//! The standalone dashboard (`queue web`): refuses to listen beyond loopback without
//! credentials, then serves until shutdown.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::auth::{Credentials, PASSWORD_ENV, TOKEN_ENV, USER_ENV};

/// Why the standalone dashboard could not serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address is reachable from other machines and no credentials are set.
    #[error(
        "refusing to listen on {0} without credentials: it is reachable from other machines; \
         set {TOKEN_ENV} (or {USER_ENV} and {PASSWORD_ENV}), or listen on 127.0.0.1"
    )]
    Unprotected(SocketAddr),
    /// The address could not be bound, or serving failed.
    #[error("could not serve the dashboard on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
}

/// Refuses an address beyond loopback (such as `0.0.0.0` or a LAN address) unless
/// `credentials` protect the dashboard.
pub fn check_listen(addr: SocketAddr, credentials: Option<&Credentials>) -> Result<(), ServeError> {
    if addr.ip().is_loopback() || credentials.is_some() {
        Ok(())
    } else {
        Err(ServeError::Unprotected(addr))
    }
}

/// Serves `router` on `addr` until `shutdown` completes, behind `credentials` when given;
/// `on_listen` is called with the bound address (the port chosen for port 0).
pub async fn serve(
    router: Router,
    addr: SocketAddr,
    credentials: Option<Credentials>,
    on_listen: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    check_listen(addr, credentials.as_ref())?;
    let router = match credentials {
        Some(credentials) => credentials.protect(router),
        // Without credentials only loopback names are answered, so a page of another site
        // whose name resolves to this machine (DNS rebinding) reads nothing.
        None => router.layer(middleware::from_fn(loopback_host_only)),
    };
    let io = |source| ServeError::Io { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    on_listen(listener.local_addr().map_err(io)?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(io)
}

/// Answers only requests addressed to a loopback name (`localhost`, `127.0.0.1`, `[::1]`).
async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if is_loopback_host(host) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard answers only requests for localhost, 127.0.0.1 or [::1]\n",
        )
            .into_response()
    }
}

/// Whether `host` (a Host header: name or address, with an optional port) names this machine's
/// loopback interface.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_are_recognised() {
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for no in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:80",
            "[::2]:1",
        ] {
            assert!(!is_loopback_host(no), "{no}");
        }
    }

    #[test]
    fn loopback_only_without_credentials() {
        let token = Credentials::Bearer("t".into());
        for ok in ["127.0.0.1:8080", "[::1]:8080", "127.0.0.2:1"] {
            assert!(check_listen(ok.parse().unwrap(), None).is_ok(), "{ok}");
        }
        for open in ["0.0.0.0:8080", "[::]:8080", "192.168.1.4:8080"] {
            let addr: SocketAddr = open.parse().unwrap();
            let err = check_listen(addr, None).unwrap_err();
            assert!(err.to_string().contains("QUEUE_WEB_TOKEN"), "{err}");
            assert!(check_listen(addr, Some(&token)).is_ok());
        }
    }
}
