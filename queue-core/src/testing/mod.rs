//! The driver conformance suite: one test per promise of the [`Driver`](crate::Driver) trait.
//!
//! A driver crate runs all of it from one test file, each case reporting as its own test:
//!
//! ```ignore
//! async fn driver() -> std::sync::Arc<dyn queue_core::Driver> {
//!     std::sync::Arc::new(queue_memory::MemoryDriver::with_max_failed(queue_core::testing::FAILED_CAP))
//! }
//! queue_core::driver_conformance!(driver);
//! ```
//!
//! The drivers given to the suite must cap each failed list at [`FAILED_CAP`] jobs and keep the
//! default lost-lease limit, [`DEFAULT_MAX_LOST_LEASES`](crate::DEFAULT_MAX_LOST_LEASES).
//! The cases observe the storage through the driver's [`Admin`](crate::Admin) capability, and
//! the presence case through [`Presence`](crate::Presence): a driver under test offers both (a
//! case that needs one the driver lacks fails saying which).
//! Cases use their own randomly named queues, so they can share one storage and run in parallel.
//! Waits are bounded: a case that waits for something that never happens fails with a message
//! instead of hanging.

pub mod cases;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::driver::Driver;
use crate::job::{Lane, NewJob, ReservedJob};

/// Expands to one `#[tokio::test]` per conformance case, each calling `$make().await` for a
/// fresh `Arc<dyn Driver>`. The calling crate needs `tokio` with the `macros` and
/// `rt-multi-thread` features among its dev-dependencies.
#[macro_export]
macro_rules! driver_conformance {
    ($make:path) => {
        $crate::driver_conformance!(@cases $make;
            fifo_within_a_lane,
            priority_order,
            delayed_job_becomes_ready_at_its_time,
            wait_wakes_on_dispatch,
            wake_up_passes_on_to_the_next_waiter,
            lanes_are_independent,
            expired_lease_is_reaped_without_spending_an_attempt,
            a_sooner_lease_wakes_an_idle_waiter,
            poison_job_ends_in_failed_list,
            stale_token_is_fenced,
            renewal_keeps_the_lease,
            retry_with_backoff,
            failed_list_and_retry_from_failed,
            failed_list_is_trimmed,
            bulk_enqueue,
            pause_and_resume,
            requeue_keeps_the_attempt_and_goes_first,
            returned_jobs_go_first_latest_first,
            delayed_jobs_due_together_keep_dispatch_order,
            retried_jobs_keep_dispatch_order,
            reaped_batch_keeps_dispatch_order,
            requeued_batch_keeps_dispatch_order,
            out_of_range_delays_saturate,
            ack_and_reserve_in_one_step,
            counts_by_state,
            chosen_ids_are_unique,
            job_lookup_follows_the_state,
            delete_in_any_state,
            purge_empties_the_queue,
            progress_is_recorded,
            payload_bytes_round_trip,
            queues_are_listed,
            workers_are_listed_until_retired_or_expired,
            lane_counts_by_job,
        );
    };
    (@cases $make:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let driver = $make().await;
                $crate::testing::cases::$case(driver).await;
            }
        )+
    };
}

/// The failed-list cap the drivers under test must be built with: the trimming case dispatches
/// more failures than this and checks that exactly this many, the newest, remain.
pub const FAILED_CAP: usize = 20;

/// A queue name no other case uses.
pub fn unique_queue(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A job for `lane` with a JSON payload.
pub fn job(lane: &Lane, payload: serde_json::Value) -> NewJob {
    NewJob::named(lane.job(), serde_json::to_vec(&payload).expect("json")).queue(lane.queue())
}

/// Reserves until `n` jobs arrived from `lane`, waiting on the driver in between; panics after
/// `limit`.
pub async fn reserve_n(
    driver: &Arc<dyn Driver>,
    lane: &Lane,
    n: usize,
    lease: Duration,
    limit: Duration,
) -> Vec<ReservedJob> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < n {
        let r = driver
            .reserve(lane, n - got.len(), lease)
            .await
            .expect("reserve");
        let empty = r.jobs.is_empty();
        got.extend(r.jobs);
        if got.len() >= n {
            break;
        }
        let now = tokio::time::Instant::now();
        assert!(
            now < deadline,
            "only {} of {n} jobs arrived on lane {lane} within {limit:?}",
            got.len()
        );
        if empty {
            let wait = r.next_due.unwrap_or(deadline - now).min(deadline - now);
            driver.wait(lane, Some(wait)).await.expect("wait");
        }
    }
    got
}
