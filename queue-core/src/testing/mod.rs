//! The driver conformance suite: one test per promise of the storage traits.
//!
//! A driver crate runs all of it from one test binary with its own harness, each case reporting
//! as its own test (filters, `--list` and `--nocapture` work as usual):
//!
//! ```toml
//! [[test]]
//! name = "conformance"
//! harness = false
//! ```
//!
//! ```ignore
//! async fn driver() -> std::sync::Arc<dyn queue_core::Driver> {
//!     std::sync::Arc::new(queue_memory::MemoryDriver::with_max_failed(queue_core::testing::FAILED_CAP))
//! }
//! fn main() -> std::process::ExitCode {
//!     queue_core::testing::conformance(driver)
//! }
//! ```
//!
//! The suite runs the cases of the capabilities the driver declares: every driver runs the
//! hot-path cases, and the cases that observe storage through [`Admin`](crate::Admin) or
//! [`Presence`](crate::Presence) run when the driver offers it ([`Driver::capabilities`])
//! (otherwise they are listed as ignored). The drivers given to the suite must cap each failed
//! list at [`FAILED_CAP`] jobs and keep the default lost-lease limit,
//! [`DEFAULT_MAX_LOST_LEASES`](crate::DEFAULT_MAX_LOST_LEASES).
//! Cases use their own randomly named queues, so they can share one storage and run in parallel.
//! Waits are bounded: a case that waits for something that never happens fails with a message
//! instead of hanging.

mod cancel;
mod cases;
mod errors;
mod event_log;
mod flows;
mod keyed;
mod limits;
mod listing;
mod payloads;
mod retention;
mod schedules;
mod shards;
mod stats;
mod waits;

mod hot_path;
pub use hot_path::HotPathOnly;
mod unique;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::{Arguments, Trial};

use crate::driver::Driver;
use crate::job::{Lane, NewJob, ReservedJob};

/// A storage capability beyond the hot path that a case needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capability {
    /// Inspection and administration, [`Driver::capabilities`].
    Admin,
    /// Records of live workers, [`Driver::capabilities`].
    Presence,
    /// Completed jobs and results kept, [`Driver::capabilities`].
    Retention,
    /// A log of job events per queue, [`Driver::capabilities`].
    EventLog,
    /// Queue statistics, [`Driver::capabilities`].
    Stats,
    /// Rate and concurrency limits, [`Driver::capabilities`].
    Limits,
    /// Recurring jobs, [`Driver::capabilities`].
    Schedules,
    /// Unique jobs, [`Driver::capabilities`].
    Unique,
    /// Cancelling jobs, [`Driver::capabilities`].
    Cancel,
    /// Limits held per rate key, [`Driver::capabilities`].
    KeyedLimits,
    /// Workflows and batches, [`Driver::capabilities`].
    Workflows,
}

impl Capability {
    fn offered_by(self, driver: &dyn Driver) -> bool {
        match self {
            Capability::Admin => driver.admin().is_some(),
            Capability::Presence => driver.presence().is_some(),
            Capability::Retention => driver.retention().is_some(),
            Capability::EventLog => driver.event_log().is_some(),
            Capability::Stats => driver.stats().is_some(),
            Capability::Limits => driver.limits().is_some(),
            Capability::Schedules => driver.schedules().is_some(),
            Capability::Unique => driver.unique().is_some(),
            Capability::Cancel => driver.cancel().is_some(),
            Capability::KeyedLimits => driver.keyed_limits().is_some(),
            Capability::Workflows => driver.workflows().is_some(),
        }
    }
}

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One conformance case: its name, what it needs beyond the hot path, and its body.
#[derive(Debug)]
struct Case {
    name: &'static str,
    needs: &'static [Capability],
    run: fn(Arc<dyn Driver>) -> CaseFuture,
}

/// `case!(name, Capability...)`: a table row for the async fn `name`.
macro_rules! case {
    ($name:ident $(, $need:ident)*) => {
        Case {
            name: stringify!($name),
            needs: &[$(Capability::$need),*],
            run: |driver| Box::pin($name(driver)),
        }
    };
}
use case;

/// Runs the conformance suite against the drivers `make` returns (a fresh one per case) and
/// returns the process's exit code: the `main` of a `harness = false` test binary.
///
/// The command line is the usual test harness's (`cargo test -p my-driver -- fifo` runs the
/// cases whose names contain `fifo`). Each case runs on its own two-thread Tokio runtime.
pub fn conformance<F, Fut>(make: F) -> ExitCode
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Arc<dyn Driver>> + Send + 'static,
{
    let args = Arguments::from_args();
    let make = Arc::new(make);
    let probe = make.clone();
    let offered: Vec<Capability> = runtime().block_on(async move {
        let driver = probe().await;
        [
            Capability::Admin,
            Capability::Presence,
            Capability::Retention,
            Capability::EventLog,
            Capability::Stats,
            Capability::Limits,
            Capability::Schedules,
            Capability::Unique,
            Capability::Cancel,
            Capability::KeyedLimits,
            Capability::Workflows,
        ]
        .into_iter()
        .filter(|c| c.offered_by(driver.as_ref()))
        .collect()
    });
    let trials = cases::CASES
        .iter()
        .map(|case| {
            let make = make.clone();
            let run = case.run;
            let missing = case.needs.iter().any(|need| !offered.contains(need));
            Trial::test(case.name, move || {
                // Listed as ignored; run anyway (`--include-ignored`), it passes as not
                // applicable rather than failing on a capability the driver does not offer.
                if !missing {
                    runtime().block_on(async move { run(make().await).await });
                }
                Ok(())
            })
            .with_ignored_flag(missing)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime for a conformance case")
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
