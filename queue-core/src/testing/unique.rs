//! Conformance cases of unique jobs ([`UniqueJobs`](crate::UniqueJobs)): a duplicate reports
//! the job holding the key, what each mode covers, and that a lock ends on its own and never
//! outlives its job (started, completed, failed for good, deleted, cancelled).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{job, reserve_n, unique_queue};
use crate::driver::{Admin, Driver};
use crate::job::{Dispatched, Failure, JobId, JobState, Lane, NewJob, UniqueMode};
use crate::queue::Queue;

const LEASE: Duration = Duration::from_secs(30);
const SHORT_LEASE: Duration = Duration::from_millis(200);
const LIMIT: Duration = Duration::from_secs(5);
const LOCK: Duration = Duration::from_secs(60);

pub(super) fn admin(driver: &Arc<dyn Driver>) -> &dyn Admin {
    driver.admin().expect(
        "this case needs the driver's inspection and administration (Driver::capabilities().admin)",
    )
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "deduped").expect("valid lane")
}

/// A job of `lane` unique under `key` in `mode` for [`LOCK`].
pub(super) fn unique_job(lane: &Lane, key: &str, mode: UniqueMode, n: u32) -> NewJob {
    job(lane, json!({ "n": n }))
        .unique(key)
        .unique_for(LOCK)
        .unique_mode(mode)
}

/// Dispatches one job through a [`Queue`] over `driver` (which routes unique jobs to the
/// driver's [`UniqueJobs`](crate::UniqueJobs) and fills in default keys).
pub(super) async fn dispatch(driver: &Arc<dyn Driver>, job: NewJob) -> Dispatched {
    Queue::new(driver.clone())
        .dispatch(job)
        .await
        .expect("dispatch")
}

async fn state(driver: &Arc<dyn Driver>, lane: &Lane, id: &JobId) -> Option<JobState> {
    let info = admin(driver).job(lane.queue(), id).await.expect("lookup");
    info.map(|info| info.state)
}

pub(super) async fn a_duplicate_reports_the_waiting_job(driver: Arc<dyn Driver>) {
    let lane = lane("unique-dup");
    let first = dispatch(&driver, unique_job(&lane, "k", UniqueMode::UntilStarted, 1)).await;
    assert!(first.created, "the first dispatch stores the job");
    let again = dispatch(&driver, unique_job(&lane, "k", UniqueMode::UntilStarted, 2)).await;
    assert_eq!(
        again,
        Dispatched::new(first.id.clone(), false),
        "a duplicate"
    );
    let other = dispatch(
        &driver,
        unique_job(&lane, "other", UniqueMode::UntilStarted, 3),
    )
    .await;
    assert!(
        other.created && other.id != first.id,
        "another key is another job"
    );
    // A scheduled holder counts as waiting too.
    let later = unique_job(&lane, "later", UniqueMode::UntilStarted, 4).delay(LOCK);
    let held = dispatch(&driver, later).await;
    let dup = unique_job(&lane, "later", UniqueMode::UntilStarted, 5).delay(LOCK);
    assert_eq!(
        dispatch(&driver, dup).await,
        Dispatched::new(held.id, false)
    );
    // The duplicate stored nothing: the payload is the first one's.
    let info = admin(&driver)
        .job(lane.queue(), &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.payload_json(), json!({ "n": 1 }));
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.ready, counts.scheduled), (2, 1));
    // The same key in another lane of the queue is another lock.
    let elsewhere = Lane::new(lane.queue(), "other_job").unwrap();
    let d = dispatch(
        &driver,
        unique_job(&elsewhere, "k", UniqueMode::UntilStarted, 6),
    )
    .await;
    assert!(d.created, "locks are per lane");
}

pub(super) async fn the_default_key_is_the_name_and_payload(driver: Arc<dyn Driver>) {
    let lane = lane("unique-default");
    let make = |n: u32| job(&lane, json!({ "n": n })).unique_for(LOCK);
    let first = dispatch(&driver, make(1)).await;
    assert!(first.created);
    assert_eq!(
        dispatch(&driver, make(1)).await,
        Dispatched::new(first.id, false)
    );
    assert!(dispatch(&driver, make(2)).await.created, "another payload");
}

pub(super) async fn until_started_frees_the_key_once_the_job_runs(driver: Arc<dyn Driver>) {
    let lane = lane("unique-started");
    let first = dispatch(&driver, unique_job(&lane, "k", UniqueMode::UntilStarted, 1)).await;
    let jobs = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    assert_eq!(jobs[0].id, first.id);
    let second = dispatch(&driver, unique_job(&lane, "k", UniqueMode::UntilStarted, 2)).await;
    assert!(
        second.created && second.id != first.id,
        "the holder started"
    );
    // The new job holds the key now.
    let third = dispatch(&driver, unique_job(&lane, "k", UniqueMode::UntilStarted, 3)).await;
    assert_eq!(third, Dispatched::new(second.id, false));
}

pub(super) async fn until_finished_holds_through_runs_and_retries(driver: Arc<dyn Driver>) {
    let lane = lane("unique-finished");
    let mode = UniqueMode::UntilFinished;
    let first = dispatch(&driver, unique_job(&lane, "k", mode, 1)).await;
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    let dup = |n| dispatch(&driver, unique_job(&lane, "k", mode, n));
    assert_eq!(
        dup(2).await,
        Dispatched::new(first.id.clone(), false),
        "running"
    );
    let retry = Failure::retry("boom", Duration::from_millis(50));
    assert!(driver.fail(&lane, &run.lease(), retry).await.unwrap());
    assert_eq!(
        dup(3).await,
        Dispatched::new(first.id.clone(), false),
        "retrying"
    );
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    assert_eq!(run.id, first.id);
    assert_eq!(
        dup(4).await,
        Dispatched::new(first.id.clone(), false),
        "running again"
    );
    assert_eq!(driver.ack(&lane, &[run.lease()]).await.unwrap(), vec![true]);
    let after = dup(5).await;
    assert!(
        after.created && after.id != first.id,
        "the holder completed"
    );
}

pub(super) async fn a_lock_never_outlives_its_job(driver: Arc<dyn Driver>) {
    let lane = lane("unique-ends");
    let mode = UniqueMode::UntilFinished;
    let dup = |key: &'static str, n| dispatch(&driver, unique_job(&lane, key, mode, n));

    // Failed for good.
    let failed = dup("failed", 1).await;
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    assert!(driver
        .fail(&lane, &run.lease(), Failure::fail("no"))
        .await
        .unwrap());
    assert_eq!(
        state(&driver, &lane, &failed.id).await,
        Some(JobState::Failed)
    );
    let next = dup("failed", 2).await;
    assert!(
        next.created && next.id != failed.id,
        "a job that failed for good holds nothing"
    );

    // Deleted while waiting, and while running.
    let deleted = dup("deleted", 3).await;
    assert!(admin(&driver)
        .delete(lane.queue(), &deleted.id)
        .await
        .unwrap());
    assert!(
        dup("deleted", 4).await.created,
        "a deleted job holds nothing"
    );
    // Take every waiting job, so the one deleted next is running.
    let runs = reserve_n(&driver, &lane, 2, LEASE, LIMIT).await;
    for run in &runs {
        assert!(admin(&driver).delete(lane.queue(), &run.id).await.unwrap());
    }
    assert!(
        dup("deleted", 5).await.created,
        "a job deleted while running holds nothing"
    );
    assert!(dup("failed", 6).await.created);

    // Purged.
    let purged = dup("purged", 7).await;
    assert!(!dup("purged", 8).await.created);
    admin(&driver).purge(lane.queue()).await.unwrap();
    let after = dup("purged", 9).await;
    assert!(
        after.created && after.id != purged.id,
        "a purged job holds nothing"
    );
}

/// The run of an "until finished" holder deleted, or purged, while it runs may go on until its
/// worker's next renewal, at the latest until its lease would have ended: a job dispatched
/// with its key before then is stored, but waits (scheduled) until then, so the two runs never
/// overlap. In "until started" mode the holder had started, so the new job is ready at once.
pub(super) async fn a_revoked_run_keeps_its_until_finished_successor_waiting(
    driver: Arc<dyn Driver>,
) {
    // Its end is waited for below (within LIMIT); long enough that the checks before come
    // first on a slow machine too.
    let revoked = Duration::from_secs(3);
    for purge in [false, true] {
        let lane = lane(if purge {
            "unique-purged"
        } else {
            "unique-revoked"
        });
        let finished = UniqueMode::UntilFinished;
        let holder = dispatch(&driver, unique_job(&lane, "f", finished, 1)).await;
        let started = dispatch(&driver, unique_job(&lane, "s", UniqueMode::UntilStarted, 2)).await;
        let runs = reserve_n(&driver, &lane, 2, revoked, LIMIT).await;
        assert_eq!(runs.len(), 2);
        if purge {
            admin(&driver).purge(lane.queue()).await.unwrap();
        } else {
            for id in [&holder.id, &started.id] {
                assert!(admin(&driver).delete(lane.queue(), id).await.unwrap());
            }
        }
        let next = dispatch(&driver, unique_job(&lane, "f", finished, 3)).await;
        assert!(next.created, "purge {purge}: the revoked holder is gone");
        assert_eq!(
            state(&driver, &lane, &next.id).await,
            Some(JobState::Scheduled),
            "purge {purge}: waits for the revoked run's lease"
        );
        // Removed before it runs, it passes the hold on to the next job with the key.
        assert!(admin(&driver).delete(lane.queue(), &next.id).await.unwrap());
        let next = dispatch(&driver, unique_job(&lane, "f", finished, 5)).await;
        assert!(next.created);
        assert_eq!(
            state(&driver, &lane, &next.id).await,
            Some(JobState::Scheduled),
            "purge {purge}: the hold passes to the next job"
        );
        let other = dispatch(&driver, unique_job(&lane, "s", UniqueMode::UntilStarted, 4)).await;
        assert!(other.created);
        assert_eq!(
            state(&driver, &lane, &other.id).await,
            Some(JobState::Ready),
            "purge {purge}: until started covers no run"
        );
        let early = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
        let early: Vec<_> = early.into_iter().map(|j| j.id).collect();
        assert_eq!(early, [other.id], "purge {purge}");
        let later = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
        assert_eq!(
            later[0].id, next.id,
            "purge {purge}: runs once the lease is over"
        );
    }
}

pub(super) async fn a_lost_lease_keeps_the_lock_while_the_job_waits(driver: Arc<dyn Driver>) {
    // A worker killed while running the holder: its lease runs out and the job goes back to
    // ready, still the same job, so it still holds the key; once it runs to its end, the key
    // is free.
    for mode in [UniqueMode::UntilStarted, UniqueMode::UntilFinished] {
        let key = mode.as_str();
        let lane = lane(&format!("unique-lost-{key}"));
        let first = dispatch(&driver, unique_job(&lane, key, mode, 1)).await;
        let lost = reserve_n(&driver, &lane, 1, SHORT_LEASE, LIMIT)
            .await
            .remove(0);
        // The lost run is reaped by the reserve that takes the job again.
        let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
        assert_eq!(
            (lost.id.clone(), run.id.clone()),
            (first.id.clone(), first.id.clone())
        );
        assert!(!driver.ack(&lane, &[lost.lease()]).await.unwrap()[0]);
        let during = dispatch(&driver, unique_job(&lane, key, mode, 2)).await;
        assert_eq!(
            during.created,
            mode == UniqueMode::UntilStarted,
            "{key}: while running"
        );
        assert!(driver.ack(&lane, &[run.lease()]).await.unwrap()[0]);
        if mode == UniqueMode::UntilStarted {
            // The job dispatched while the holder ran holds the key: take it out of the way.
            let _ = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
        }
        let after = dispatch(&driver, unique_job(&lane, key, mode, 3)).await;
        assert!(after.created, "{key}: free once the job ended");
    }
}

pub(super) async fn a_lock_ends_after_its_time(driver: Arc<dyn Driver>) {
    let lane = lane("unique-ttl");
    let ttl = Duration::from_millis(300);
    let make = |n: u32| {
        job(&lane, json!({ "n": n }))
            .unique("k")
            .unique_for(ttl)
            .delay(LOCK)
    };
    let started = Instant::now();
    let first = dispatch(&driver, make(1)).await;
    let mut n = 1;
    loop {
        n += 1;
        let d = dispatch(&driver, make(n)).await;
        if d.created {
            // The holder still waits, but its lock's time is over.
            assert!(started.elapsed() >= ttl - Duration::from_millis(20));
            assert!(d.id != first.id);
            break;
        }
        assert_eq!(d.id, first.id);
        assert!(
            started.elapsed() < ttl + LIMIT,
            "the lock did not end after {ttl:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(counts.scheduled, 2);
}

pub(super) async fn debounce_replaces_the_payload_and_moves_the_due_time(driver: Arc<dyn Driver>) {
    let lane = lane("unique-debounce");
    let mode = UniqueMode::Debounce;
    let first = dispatch(&driver, unique_job(&lane, "k", mode, 1).delay(LOCK)).await;
    let dup = dispatch(&driver, unique_job(&lane, "k", mode, 2)).await;
    assert_eq!(dup, Dispatched::new(first.id.clone(), false));
    let info = admin(&driver)
        .job(lane.queue(), &first.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        info.payload_json(),
        json!({ "n": 2 }),
        "the payload is replaced"
    );
    assert_eq!(
        info.state,
        JobState::Scheduled,
        "no delay given: the due time stays"
    );
    // A duplicate with a delay moves the due time to that delay from now.
    let delay = Duration::from_millis(400);
    let sent = Instant::now();
    let dup = dispatch(&driver, unique_job(&lane, "k", mode, 3).delay(delay)).await;
    assert_eq!(dup, Dispatched::new(first.id.clone(), false));
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    assert!(
        sent.elapsed() >= delay - Duration::from_millis(20),
        "ran too soon"
    );
    assert_eq!(run.id, first.id);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&run.payload).unwrap(),
        json!({ "n": 3 })
    );
    // A ready holder that is debounced with a delay waits again.
    let ready = dispatch(&driver, unique_job(&lane, "r", mode, 4)).await;
    let dup = dispatch(&driver, unique_job(&lane, "r", mode, 5).delay(LOCK)).await;
    assert_eq!(dup, Dispatched::new(ready.id.clone(), false));
    assert_eq!(
        state(&driver, &lane, &ready.id).await,
        Some(JobState::Scheduled)
    );
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.ready, counts.scheduled), (0, 1));
    // Once the holder started, a debounced dispatch is a new job.
    assert!(driver.ack(&lane, &[run.lease()]).await.unwrap()[0]);
    assert!(
        dispatch(&driver, unique_job(&lane, "k", mode, 6))
            .await
            .created
    );
}

pub(super) async fn a_chosen_id_and_a_key_together(driver: Arc<dyn Driver>) {
    let lane = lane("unique-id");
    let mode = UniqueMode::UntilStarted;
    let first = dispatch(&driver, unique_job(&lane, "k", mode, 1).id("job-a")).await;
    assert_eq!(first, Dispatched::new(JobId::from("job-a"), true));
    let dup = dispatch(&driver, unique_job(&lane, "k", mode, 2).id("job-b")).await;
    assert_eq!(
        dup,
        Dispatched::new(JobId::from("job-a"), false),
        "the key's holder"
    );
    let same_id = dispatch(&driver, unique_job(&lane, "k2", mode, 3).id("job-a")).await;
    assert_eq!(
        same_id,
        Dispatched::new(JobId::from("job-a"), false),
        "the id exists"
    );
    // That dispatch stored nothing, so it took no lock.
    let k2 = dispatch(&driver, unique_job(&lane, "k2", mode, 4)).await;
    assert!(k2.created);
}

pub(super) async fn a_kept_completed_job_holds_no_key(driver: Arc<dyn Driver>) {
    // A job kept after it completed still exists, but has finished: its key is free.
    let lane = lane("unique-kept");
    let mode = UniqueMode::UntilFinished;
    let first = dispatch(&driver, unique_job(&lane, "k", mode, 1)).await;
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    let keep = crate::job::Keep {
        completed: 10,
        ..crate::job::Keep::default()
    };
    let done = [crate::job::Completion {
        lease: run.lease(),
        result: None,
    }];
    let retention = driver.retention().expect("this case needs Retention");
    assert_eq!(
        retention.complete(&lane, &done, &keep).await.unwrap(),
        [true]
    );
    assert_eq!(
        state(&driver, &lane, &first.id).await,
        Some(JobState::Completed)
    );
    let next = dispatch(&driver, unique_job(&lane, "k", mode, 2)).await;
    assert!(
        next.created && next.id != first.id,
        "a completed job holds nothing"
    );
}
