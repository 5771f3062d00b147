//! The standalone dashboard (`queue web`): refuses to listen beyond loopback without
//! credentials, then serves until shutdown.

use std::future::Future;
use std::net::SocketAddr;

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
        None => router,
    };
    let io = |source| ServeError::Io { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    on_listen(listener.local_addr().map_err(io)?);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

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
