//! Checks that a deployment taking only TLS, with an ACL user (the `default` user off),
//! refuses every wrong way of connecting at `Queue::connect` with a clear error that never
//! shows a password (include with `#[path = "support/tls_checks.rs"] mod tls_checks;` next to
//! `mod support;`).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use queue_core::{Error, Queue};

use crate::support::{Security, TlsFiles};

/// The ACL user of the checked deployments.
pub const USER: &str = "queue-app";
/// Its password.
pub const PASSWORD: &str = "s3cret-acl-pw";

/// Fresh certificates, and the security of a deployment taking only TLS with them (and
/// asking clients for a certificate when `client_certs` says so) and requiring [`USER`] and
/// [`PASSWORD`].
pub fn tls_with_acl_user(client_certs: bool) -> (Arc<TlsFiles>, Security) {
    let tls = Arc::new(TlsFiles::generate());
    let security = Security {
        client_certs,
        ..Security::acl_user(USER, PASSWORD).with_tls(&tls)
    };
    (tls, security)
}

/// Why connecting with `url` fails (it must), as shown: `Display` and `Debug`.
async fn refusal(url: &str) -> (Error, String) {
    let err = match Queue::connect(url).await {
        Ok(_) => panic!("connecting with {url} must fail"),
        Err(err) => err,
    };
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!shown.contains("wr0ng-pw"), "{shown}");
    (err, shown)
}

/// `url` (of a deployment from [`tls_with_acl_user`]`(true)`: with the right password, `tls`'s
/// CA and the client certificate) connects, and a wrong password, no credentials, no client
/// certificate, a client certificate of another CA, a CA that did not sign the servers'
/// certificate, no private CA, no TLS, and an unreadable CA file are each refused with an
/// error naming the cause.
pub async fn check_refusals(url: &str, tls: &TlsFiles) {
    let queue = Queue::connect(url)
        .await
        .expect("the right credentials and CA");
    queue.counts("refusals").await.expect("a call over TLS");

    let (err, shown) = refusal(&url.replace(PASSWORD, "wr0ng-pw")).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{shown}");
    assert!(
        shown.contains("Password authentication failed"),
        "a wrong password should say so: {shown}"
    );

    // A CA of the same name but another key: the certificate's signature does not match.
    let other = TlsFiles::generate();
    let (err, shown) = refusal(&url.replace(&tls.path("ca.crt"), &other.path("ca.crt"))).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{shown}");
    assert!(
        shown.contains("the server's TLS certificate was refused")
            && shown.contains("BadSignature")
            && shown.contains("tls_ca_file"),
        "a CA that did not sign the server's certificate should be named as the cause: {shown}"
    );

    // No client certificate: the servers end the handshake.
    let (base, params) = url.split_once('?').expect("the TLS parameters");
    let ca_only = params.split('&').next().expect("tls_ca_file comes first");
    let (_, shown) = refusal(&format!("{base}?{ca_only}")).await;
    assert!(
        shown.contains("CertificateRequired") && shown.contains("tls_cert_file"),
        "{shown}"
    );

    // A client certificate that the servers' CA did not sign.
    let stranger = url
        .replace(&tls.path("server.crt"), &other.path("server.crt"))
        .replace(&tls.path("server.key"), &other.path("server.key"));
    let (_, shown) = refusal(&stranger).await;
    assert!(
        shown.contains("the server ended the TLS handshake") && shown.contains("UnknownCA"),
        "{shown}"
    );

    // No private CA: the public roots do not know the issuer.
    let without_ca = base;
    let (_, shown) = refusal(without_ca).await;
    assert!(
        shown.contains("the server's TLS certificate was refused")
            && shown.contains("UnknownIssuer"),
        "{shown}"
    );

    // No credentials: the `default` user is off.
    let (_, shown) = refusal(&url.replace(&format!("{USER}:{PASSWORD}@"), "")).await;
    assert!(shown.contains("NOAUTH"), "{shown}");

    // No TLS: the servers reset plain connections, and the error says what that may mean.
    let (_, shown) = refusal(&without_ca.replacen("rediss+", "redis+", 1)).await;
    assert!(
        shown.contains("a server that takes only TLS resets plain connections"),
        "{shown}"
    );

    let (err, shown) = refusal(&format!("{without_ca}?tls_ca_file=/no/such/ca.pem")).await;
    assert!(matches!(err, Error::InvalidUrl { .. }), "{shown}");
    assert!(
        shown.contains("cannot read the CA file `/no/such/ca.pem`"),
        "{shown}"
    );
}
