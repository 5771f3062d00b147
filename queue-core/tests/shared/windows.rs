//! Checks of rate limits over recorded start times, shared by the limit tests of the memory
//! driver (`queue-core/tests/worker_limits.rs`, `worker_keyed.rs`) and of Redis
//! (`queue-redis/tests/redis_limits.rs`, `redis_keyed.rs`).
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

/// Panics when some window of `per` (less `slack`, the spread between a start's reserve and
/// its handler's first poll) holds more than `count` of `starts`.
pub fn assert_no_window_over(starts: &mut [Instant], count: usize, per: Duration, slack: Duration) {
    starts.sort();
    for (i, pair) in starts.windows(count + 1).enumerate() {
        let spread = pair[count] - pair[0];
        assert!(
            spread + slack >= per,
            "starts {i} to {} fall within {spread:?}: more than {count} in a window of {per:?}",
            i + count
        );
    }
}
