//! Order on a real Redis: jobs handed back at shutdown run again in dispatch order, and a pool
//! running one job at a time while it reserves ahead starts them in dispatch order (the
//! scenarios are shared with the memory driver's `queue-core/tests/worker_shutdown.rs`).

#[path = "../../queue-core/tests/shared/shutdown_order.rs"]
mod shutdown_order;
mod support;

use std::sync::Arc;

use queue_core::Queue;
use queue_redis::RedisDriver;
use support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_requeued_at_shutdown_keep_their_dispatch_order() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    shutdown_order::requeued_at_shutdown_keep_dispatch_order(Queue::new(Arc::new(driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_at_a_time_runs_in_dispatch_order() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    shutdown_order::one_at_a_time_in_dispatch_order(Queue::new(Arc::new(driver))).await;
}
