//! The harness's own connections to the nodes of a test deployment, secured as its
//! [`Security`] says (included by `cluster.rs` and `sentinel.rs`, which need the `redis`
//! crate).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use crate::support::Security;

/// A client of the node on `port`, trusting the deployment's CA and presenting its
/// certificate when TLS is on.
pub fn client(security: &Security, port: u16) -> redis::Client {
    let url = security.node_url(port);
    match &security.tls {
        Some(tls) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: tls.read("server.crt"),
                    client_key: tls.read("server.key"),
                }),
                root_cert: Some(tls.read("ca.crt")),
            },
        ),
        None => redis::Client::open(url),
    }
    .expect("a client of a test node")
}

/// A connection to the node on `port`, or why there is none within 2 s.
pub fn connect(security: &Security, port: u16) -> redis::RedisResult<redis::Connection> {
    client(security, port).get_connection_with_timeout(Duration::from_secs(2))
}

/// Sends `cmd` to the node on `port`.
pub fn query<T: redis::FromRedisValue>(
    security: &Security,
    port: u16,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    cmd.query(&mut connect(security, port)?)
}
