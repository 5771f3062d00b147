//! The Redis driver against the whole driver conformance suite, on a real Redis Cluster of
//! three primaries and three replicas (every case's queue lands on one of the primaries).

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use cluster::RedisCluster;
use queue_core::Driver;
use queue_redis::{RedisDriver, RedisOptions};

/// One cluster for every case of this binary; cases use their own queues.
fn cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

async fn driver() -> Arc<dyn Driver> {
    let mut options = RedisOptions::default();
    options.max_failed = queue_core::testing::FAILED_CAP;
    Arc::new(
        RedisDriver::connect_with(&cluster().url(), options)
            .await
            .expect("connect to the test cluster"),
    )
}

fn main() -> ExitCode {
    queue_core::testing::conformance(driver)
}
