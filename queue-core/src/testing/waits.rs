//! Conformance cases of a job's times around its runs: how long reserved jobs waited
//! ([`ReservedJob::waited`]), counted from when each job became ready (by dispatch, by the end
//! of its delay or by the due time of its retry, never from its creation), and when its runs
//! started ([`JobInfo::started_at`](crate::JobInfo::started_at) and
//! [`JobInfo::first_started_at`](crate::JobInfo::first_started_at), and on the reserved job,
//! [`ReservedJob::started_at`]).
//!
//! [`ReservedJob::waited`]: crate::ReservedJob::waited
//! [`ReservedJob::started_at`]: crate::ReservedJob::started_at

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{job, unique_queue};
use crate::driver::Driver;
use crate::job::{Failure, JobId, Lane, ReservedJob};

/// Slack for the clocks involved (milliseconds kept by the storage, a dispatcher's and a
/// worker's clocks read at different moments).
const SLACK: Duration = Duration::from_millis(25);
const LEASE: Duration = Duration::from_secs(30);
/// Slack between the storage's clock and the caller's, both read on one machine: the storage
/// keeps whole milliseconds (Redis its server's `TIME`).
const SKEW: Duration = Duration::from_millis(5);

async fn take_one(driver: &Arc<dyn Driver>, lane: &Lane) -> ReservedJob {
    let mut got = driver.reserve(lane, 1, LEASE).await.unwrap().jobs;
    assert_eq!(got.len(), 1, "one job is ready");
    got.remove(0)
}

fn waited(job: &ReservedJob) -> Duration {
    job.waited.expect("the driver reports how long jobs waited")
}

pub(super) async fn reserved_jobs_report_their_wait_since_ready(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("waits"), "work").unwrap();
    let pause = Duration::from_millis(150);

    // Ready at dispatch: the wait covers the time the job sat in its lane.
    let dispatched = Instant::now();
    driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap();
    tokio::time::sleep(pause).await;
    let first = take_one(&driver, &lane).await;
    let bound = dispatched.elapsed();
    assert!(
        waited(&first) + SLACK >= pause && waited(&first) <= bound + SLACK,
        "waited {:?}, slept {pause:?}, {bound:?} since dispatch",
        waited(&first)
    );

    // Delayed: counted from the end of the delay, not from the dispatch.
    let delay = Duration::from_millis(200);
    let dispatched = Instant::now();
    driver
        .enqueue(vec![job(&lane, json!(2)).delay(delay)])
        .await
        .unwrap();
    tokio::time::sleep(delay + pause).await;
    let delayed = take_one(&driver, &lane).await;
    let bound = dispatched.elapsed() - delay;
    assert!(
        waited(&delayed) + SLACK >= pause && waited(&delayed) <= bound + SLACK,
        "waited {:?}; due {bound:?} ago at most",
        waited(&delayed)
    );

    // Retried: counted from the retry's due time.
    let retry_in = Duration::from_millis(100);
    let failed_at = Instant::now();
    assert!(driver
        .fail(&lane, &delayed.lease(), Failure::retry("again", retry_in))
        .await
        .unwrap());
    tokio::time::sleep(retry_in + pause).await;
    let retried = take_one(&driver, &lane).await;
    assert_eq!(retried.attempt, 2);
    let bound = failed_at.elapsed() - retry_in;
    assert!(
        waited(&retried) + SLACK >= pause && waited(&retried) <= bound + SLACK,
        "waited {:?}; due {bound:?} ago at most",
        waited(&retried)
    );

    // Returned to the lane (shutdown): counted from the return.
    let returned_at = Instant::now();
    assert_eq!(
        driver.requeue(&lane, &[first.lease()]).await.unwrap(),
        [true]
    );
    let again = take_one(&driver, &lane).await;
    assert_eq!(again.id, first.id);
    assert!(
        waited(&again) <= returned_at.elapsed() + SLACK,
        "waited {:?} since its return",
        waited(&again)
    );
}

/// Whether `t` lies within `from..=to`, give or take [`SLACK`].
fn within(t: SystemTime, from: SystemTime, to: SystemTime) -> bool {
    t + SLACK >= from && t <= to + SLACK
}

pub(super) async fn job_info_records_when_runs_started(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("starts"), "work").unwrap();
    let admin = driver.admin().expect("the case needs inspection");
    let id = driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap()[0]
        .id
        .clone();
    let queue = lane.queue().to_string();
    let info = |id: &JobId| {
        let (queue, id) = (queue.clone(), id.clone());
        async move { admin.job(&queue, &id).await.unwrap().unwrap() }
    };
    let before = info(&id).await;
    assert_eq!((before.started_at, before.first_started_at), (None, None));

    // Running: the run's start is its first.
    let from = SystemTime::now();
    let first = take_one(&driver, &lane).await;
    let to = SystemTime::now();
    let running = info(&id).await;
    let started = running.started_at.expect("a running job's start is known");
    assert!(
        within(started, from, to),
        "{started:?} not in {from:?}..{to:?}"
    );
    assert_eq!(running.first_started_at, Some(started));

    // Failed and waiting to run again: the ended run's start stays, in its error too.
    assert!(driver
        .fail(
            &lane,
            &first.lease(),
            Failure::retry("again", Duration::ZERO)
        )
        .await
        .unwrap());
    let waiting = info(&id).await;
    assert_eq!(waiting.started_at, Some(started));
    assert_eq!(waiting.first_started_at, Some(started));
    assert_eq!(waiting.errors.len(), 1);
    assert_eq!(waiting.errors[0].started_at, Some(started));

    // The second run: its own start, the first run's kept.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let from = SystemTime::now();
    let second = take_one(&driver, &lane).await;
    let to = SystemTime::now();
    assert_eq!(second.attempt, 2);
    let running = info(&id).await;
    let again = running.started_at.expect("a running job's start is known");
    assert!(within(again, from, to), "{again:?} not in {from:?}..{to:?}");
    assert!(again > started);
    assert_eq!(running.first_started_at, Some(started));

    // Failed for good: both starts kept.
    assert!(driver
        .fail(&lane, &second.lease(), Failure::fail("no"))
        .await
        .unwrap());
    let failed = info(&id).await;
    assert_eq!(failed.started_at, Some(again));
    assert_eq!(failed.first_started_at, Some(started));
    assert_eq!(failed.errors[1].started_at, Some(again));
}

/// The run's start, as the storage handed it out with the job.
fn start_of(job: &ReservedJob) -> SystemTime {
    job.started_at
        .expect("the driver reports when the storage started a run")
}

/// Whether `t` lies within `from..=to`, give or take [`SKEW`].
fn close_within(t: SystemTime, from: SystemTime, to: SystemTime) -> bool {
    t + SKEW >= from && t <= to + SKEW
}

pub(super) async fn reserved_jobs_carry_their_start(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("started"), "work").unwrap();
    driver
        .enqueue(vec![job(&lane, json!(1)), job(&lane, json!(2))])
        .await
        .unwrap();

    // Taken together: one start, when the reserve ran.
    let from = SystemTime::now();
    let jobs = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    let to = SystemTime::now();
    assert_eq!(jobs.len(), 2, "both jobs are ready");
    let started = start_of(&jobs[0]);
    assert!(
        close_within(started, from, to),
        "started {started:?}, reserved within {from:?}..{to:?}"
    );
    assert_eq!(start_of(&jobs[1]), started, "one reservation, one start");
    if let Some(admin) = driver.admin() {
        let info = admin.job(lane.queue(), &jobs[0].id).await.unwrap().unwrap();
        assert_eq!(
            info.started_at,
            Some(started),
            "the start the storage keeps"
        );
    }

    // Retried: the second run has a later start, its own reserve's. The wait passes the
    // millisecond the first start was counted in, whatever the storage's resolution.
    tokio::time::sleep(SKEW).await;
    assert!(driver
        .fail(
            &lane,
            &jobs[0].lease(),
            Failure::retry("again", Duration::ZERO)
        )
        .await
        .unwrap());
    let from = SystemTime::now();
    let again = take_one(&driver, &lane).await;
    let to = SystemTime::now();
    assert_eq!((&again.id, again.attempt), (&jobs[0].id, 2));
    let restarted = start_of(&again);
    assert!(
        restarted > started,
        "the retry started at {restarted:?}, the first run at {started:?}"
    );
    assert!(
        close_within(restarted, from, to),
        "started {restarted:?}, reserved within {from:?}..{to:?}"
    );
}
