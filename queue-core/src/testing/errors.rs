//! Conformance cases of a job's error history ([`JobInfo::errors`]): one entry per failed run
//! or lost lease, oldest first, the last [`MAX_ERRORS_KEPT`], kept across a retry from the
//! failed list, the same in lookups and listings.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::{job, reserve_n, unique_queue};
use crate::driver::{Admin, Driver};
use crate::job::{
    unix_ms, Failure, JobId, JobInfo, JobQuery, JobState, Lane, ReservedJob, MAX_ERRORS_KEPT,
};

const LEASE: Duration = Duration::from_secs(30);
const SHORT_LEASE: Duration = Duration::from_millis(200);
const LIMIT: Duration = Duration::from_secs(5);
/// The delay of the retries below: each failure comes at least this long after the one before,
/// so their recorded times (in ms) strictly increase.
const BACKOFF: Duration = Duration::from_millis(5);

fn admin(driver: &Arc<dyn Driver>) -> &dyn Admin {
    driver.admin().expect(
        "this case needs the driver's inspection and administration (Driver::capabilities().admin)",
    )
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "flaky").expect("valid lane")
}

async fn enqueue(driver: &Arc<dyn Driver>, lane: &Lane, attempts: u32) -> JobId {
    let job = job(lane, json!({ "n": 1 })).attempts(attempts);
    driver.enqueue(vec![job]).await.expect("enqueue")[0]
        .id
        .clone()
}

/// Takes the lane's one job, waiting for it to come due.
async fn take(driver: &Arc<dyn Driver>, lane: &Lane, lease: Duration) -> ReservedJob {
    reserve_n(driver, lane, 1, lease, LIMIT)
        .await
        .pop()
        .expect("one job")
}

/// Fails the running `job`: retried after [`BACKOFF`], or for good.
async fn fail(driver: &Arc<dyn Driver>, lane: &Lane, job: &ReservedJob, error: String, last: bool) {
    let failure = if last {
        Failure::fail(error)
    } else {
        Failure::retry(error, BACKOFF)
    };
    assert!(
        driver
            .fail(lane, &job.lease(), failure)
            .await
            .expect("fail"),
        "the lease is current"
    );
}

async fn lookup(driver: &Arc<dyn Driver>, lane: &Lane, id: &JobId) -> JobInfo {
    admin(driver)
        .job(lane.queue(), id)
        .await
        .expect("job lookup")
        .expect("the job is stored")
}

/// The (attempt, error) pairs of a history.
fn entries(info: &JobInfo) -> Vec<(u32, String)> {
    info.errors
        .iter()
        .map(|e| (e.attempt, e.error.clone()))
        .collect()
}

/// The history's times strictly increase and lie within [`from`, `to`] (to the millisecond,
/// the unit drivers store).
fn assert_times(info: &JobInfo, from: SystemTime, to: SystemTime) {
    let times: Vec<u64> = info.errors.iter().map(|e| unix_ms(e.at)).collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "error times must increase: {times:?}"
    );
    let (from, to) = (unix_ms(from), unix_ms(to));
    assert!(
        times.iter().all(|t| (from..=to).contains(t)),
        "error times {times:?} must lie between {from} and {to}"
    );
}

/// Waits until the clock's millisecond is past `t`'s, so the next error recorded gets a later
/// time than one recorded at `t`.
async fn clock_past(t: SystemTime) {
    let deadline = std::time::Instant::now() + LIMIT;
    while unix_ms(SystemTime::now()) <= unix_ms(t) {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The failed list and a listing of failed jobs carry the same history as a lookup.
async fn assert_listed_alike(driver: &Arc<dyn Driver>, lane: &Lane, info: &JobInfo) {
    let failed = admin(driver)
        .failed(lane.queue(), 0, 10)
        .await
        .expect("failed list");
    let from_failed = failed.iter().find(|f| f.id == info.id).expect("listed");
    assert_eq!(from_failed.errors, info.errors, "the failed list's history");
    let page = admin(driver)
        .list_jobs(lane.queue(), &JobQuery::new(JobState::Failed))
        .await
        .expect("listing");
    let listed = page.jobs.iter().find(|j| j.id == info.id).expect("listed");
    assert_eq!(listed.errors, info.errors, "a listing's history");
}

/// A job failing three times (retry, retry, fail) has three errors: attempts 1, 2 and 3, in
/// order, at increasing times; its last error is the newest. A scheduled job shows its history
/// too.
pub(super) async fn error_history_records_every_failed_attempt(driver: Arc<dyn Driver>) {
    let lane = lane("errors");
    let id = enqueue(&driver, &lane, 3).await;
    let start = SystemTime::now();
    for attempt in 1..=3u32 {
        let running = take(&driver, &lane, LEASE).await;
        assert_eq!(running.attempt, attempt);
        fail(
            &driver,
            &lane,
            &running,
            format!("boom {attempt}"),
            attempt == 3,
        )
        .await;
        if attempt == 1 {
            let info = lookup(&driver, &lane, &id).await;
            assert_eq!(
                entries(&info),
                [(1, "boom 1".to_string())],
                "while scheduled"
            );
        }
    }
    let end = SystemTime::now();
    let info = lookup(&driver, &lane, &id).await;
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(
        entries(&info),
        [
            (1, "boom 1".to_string()),
            (2, "boom 2".to_string()),
            (3, "boom 3".to_string())
        ]
    );
    assert_times(&info, start, end);
    assert_eq!(info.last_error.as_deref(), Some("boom 3"));
    assert_listed_alike(&driver, &lane, &info).await;
}

/// A job failing more than [`MAX_ERRORS_KEPT`] times keeps the newest ones.
pub(super) async fn error_history_keeps_the_last_ten(driver: Arc<dyn Driver>) {
    let lane = lane("errors-cap");
    let runs = MAX_ERRORS_KEPT as u32 + 2;
    let id = enqueue(&driver, &lane, runs).await;
    let start = SystemTime::now();
    for attempt in 1..=runs {
        let running = take(&driver, &lane, LEASE).await;
        assert_eq!(running.attempt, attempt);
        fail(
            &driver,
            &lane,
            &running,
            format!("error {attempt}"),
            attempt == runs,
        )
        .await;
    }
    let info = lookup(&driver, &lane, &id).await;
    let want: Vec<(u32, String)> = (3..=runs).map(|a| (a, format!("error {a}"))).collect();
    assert_eq!(info.errors.len(), MAX_ERRORS_KEPT);
    assert_eq!(entries(&info), want, "the oldest two are dropped");
    assert_times(&info, start, SystemTime::now());
    assert_eq!(info.last_error, Some(format!("error {runs}")));
    assert_listed_alike(&driver, &lane, &info).await;
}

/// A job retried from the failed list keeps its history, and its next failures add to it
/// (counting attempts from 1 again, as the retry restores them).
pub(super) async fn error_history_survives_a_retry_from_failed(driver: Arc<dyn Driver>) {
    let lane = lane("errors-retry");
    let id = enqueue(&driver, &lane, 1).await;
    let start = SystemTime::now();
    let running = take(&driver, &lane, LEASE).await;
    fail(&driver, &lane, &running, "first".to_string(), true).await;
    let retried = admin(&driver)
        .retry_failed(lane.queue(), Some(&id))
        .await
        .expect("retry from failed");
    assert_eq!(retried, 1);
    let info = lookup(&driver, &lane, &id).await;
    assert_eq!(info.state, JobState::Ready);
    assert_eq!(
        entries(&info),
        [(1, "first".to_string())],
        "kept by the retry"
    );
    let running = take(&driver, &lane, LEASE).await;
    assert_eq!(running.attempt, 1);
    clock_past(info.errors[0].at).await;
    fail(&driver, &lane, &running, "second".to_string(), true).await;
    let info = lookup(&driver, &lane, &id).await;
    assert_eq!(
        entries(&info),
        [(1, "first".to_string()), (1, "second".to_string())]
    );
    assert_times(&info, start, SystemTime::now());
    assert_listed_alike(&driver, &lane, &info).await;
}

/// A run whose lease expired is in the history under the attempt it was running, with the
/// reaper's message; the run that follows has the same attempt number.
pub(super) async fn error_history_records_lost_leases(driver: Arc<dyn Driver>) {
    let lane = lane("errors-lost");
    let id = enqueue(&driver, &lane, 3).await;
    let start = SystemTime::now();
    let lost = take(&driver, &lane, SHORT_LEASE).await;
    assert_eq!(lost.attempt, 1);
    // The lease ends on its own; reap until the job is taken back.
    let deadline = std::time::Instant::now() + LIMIT;
    while driver.reap(&lane).await.expect("reap") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease of {SHORT_LEASE:?} was not reaped within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = lookup(&driver, &lane, &id).await;
    let reaped = "lease expired during attempt 1 of 3: the worker running it stopped or lost \
                  its connection (lost lease 1; the attempt is not counted)"
        .to_string();
    assert_eq!(entries(&info), [(1, reaped.clone())]);
    let running = take(&driver, &lane, LEASE).await;
    assert_eq!(running.attempt, 1, "the lost run was not an attempt");
    clock_past(info.errors[0].at).await;
    fail(&driver, &lane, &running, "boom".to_string(), true).await;
    let info = lookup(&driver, &lane, &id).await;
    assert_eq!(entries(&info), [(1, reaped), (1, "boom".to_string())]);
    assert_times(&info, start, SystemTime::now());
    assert_listed_alike(&driver, &lane, &info).await;
}
