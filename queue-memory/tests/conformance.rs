//! The memory driver against the shared driver conformance suite.

use std::process::ExitCode;
use std::sync::Arc;

use queue_core::Driver;
use queue_memory::MemoryDriver;

async fn driver() -> Arc<dyn Driver> {
    Arc::new(MemoryDriver::with_max_failed(
        queue_core::testing::FAILED_CAP,
    ))
}

fn main() -> ExitCode {
    queue_core::testing::conformance(driver)
}
