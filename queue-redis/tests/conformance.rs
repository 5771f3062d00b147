//! The Redis driver against the shared driver conformance suite, on a real redis-server.

mod support;

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use queue_core::Driver;
use queue_redis::{RedisDriver, RedisOptions};
use support::RedisServer;

/// One server for every case of this binary; cases use their own queues.
fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

async fn driver() -> Arc<dyn Driver> {
    let mut options = RedisOptions::default();
    options.max_failed = queue_core::testing::FAILED_CAP;
    Arc::new(
        RedisDriver::connect_with(&server().url(), options)
            .await
            .expect("connect to the test redis-server"),
    )
}

fn main() -> ExitCode {
    queue_core::testing::conformance(driver)
}
