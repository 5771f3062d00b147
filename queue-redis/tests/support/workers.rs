//! Queues and workers of the limit tests, each on a connection of its own as separate
//! processes' would be (included next to `support` by `redis_limits` and `redis_keyed`: it
//! needs `queue-redis` and `tokio-util`, which not every crate sharing `support` has).

use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::Queue;
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

use crate::support::RedisServer;

/// A queue on a connection of its own to `server`.
pub(crate) async fn connect(server: &RedisServer) -> Queue {
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    Queue::new(Arc::new(driver))
}

/// A worker of `handler` on its own connection, until the token is cancelled.
pub(crate) async fn worker(
    server: &RedisServer,
    handler: &str,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<queue_core::Result<()>> {
    let queue = connect(server).await;
    let builder = queue.worker().handlers([handler]);
    tokio::spawn(builder.run_until(stop.clone().cancelled_owned()))
}

/// Waits until `check` holds, checking every 5 ms; panics naming `what` after `within`.
pub(crate) async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} not reached within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
