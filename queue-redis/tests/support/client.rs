//! A test's own connection to a test server, beside the harness's (included next to `support`
//! by the tests that use it: it needs the `redis` crate, which not every crate sharing
//! `support` has).

use crate::support::RedisServer;

/// A multiplexed connection of the test's own to `server`.
pub(crate) async fn connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("the test server's URL")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test server")
}
