//! Waiting for a queue to settle after a fault: every job ran and none is left pending.

use std::time::{Duration, Instant};

use queue_core::Queue;

/// Waits (at most `within`) until `queue` has nothing pending: runs whose acks were lost with
/// a killed server stay active until their leases run out, then go back and run again. Fails
/// at once should any job fail for good.
pub(crate) async fn until_nothing_pending(queue: &Queue, name: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let counts = queue.counts(name).await.expect("counts");
        assert_eq!(counts.failed, 0, "{counts:?}");
        if counts.pending() == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "jobs left: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
