//! Order on a real Redis Cluster: a pool running one job at a time while it reserves ahead
//! starts them in dispatch order, and jobs handed back at shutdown run again in dispatch order
//! (the scenarios are shared with `redis_shutdown.rs` and the memory driver's tests).

#[path = "support/cluster.rs"]
mod cluster;
#[path = "../../queue-core/tests/shared/shutdown_order.rs"]
mod shutdown_order;
mod support;

use std::sync::Arc;

use cluster::RedisCluster;
use queue_core::Queue;
use queue_redis::RedisDriver;

/// A queue over a fresh cluster of three primaries (kept alive by the returned cluster).
async fn cluster_queue() -> (RedisCluster, Queue) {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start_without_replicas)
        .await
        .unwrap();
    let driver = RedisDriver::connect(&cluster.url()).await.expect("connect");
    (cluster, Queue::new(Arc::new(driver)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_at_a_time_runs_in_dispatch_order_on_a_cluster() {
    let (_cluster, queue) = cluster_queue().await;
    shutdown_order::one_at_a_time_in_dispatch_order(queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_requeued_at_shutdown_keep_their_dispatch_order_on_a_cluster() {
    let (_cluster, queue) = cluster_queue().await;
    shutdown_order::requeued_at_shutdown_keep_dispatch_order(queue).await;
}
