//! The conformance suite against a driver that offers only the hot path (the memory driver
//! behind a wrapper that hides its `Admin` and `Presence` and uses the trait's own `reserve`):
//! the hot-path cases pass and the rest are listed as ignored, so a third-party driver needs
//! no more than the hot-path trait to be checked.

use std::process::ExitCode;
use std::sync::Arc;

use queue_core::testing::HotPathOnly;
use queue_core::Driver;
use queue_memory::MemoryDriver;

async fn driver() -> Arc<dyn Driver> {
    Arc::new(HotPathOnly(MemoryDriver::with_max_failed(
        queue_core::testing::FAILED_CAP,
    )))
}

fn main() -> ExitCode {
    queue_core::testing::conformance(driver)
}
