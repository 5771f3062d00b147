//! How long a worker waits before trying a failed storage call again.

use std::time::Duration;

/// 50 ms doubling up to 5 s, for the `failures`-th failure in a row.
pub(crate) fn retry_pause(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(7)).min(Duration::from_secs(5))
}
