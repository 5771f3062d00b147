//! Conformance cases of cancelling jobs ([`Cancel`](crate::Cancel)): a waiting job is removed,
//! a running one loses its lease and is kept as cancelled, never retried on its own, and when
//! retried waits until the stopped run's lease would have ended.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::unique::{admin, dispatch, unique_job};
use super::{job, reserve_n, unique_queue};
use crate::driver::{Cancel, CancelOutcome, Driver, CANCELLED_ERROR};
use crate::job::{Failure, JobId, JobQuery, JobState, Lane, UniqueMode};

const LEASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(5);

fn cancel(driver: &Arc<dyn Driver>) -> &dyn Cancel {
    driver
        .cancel()
        .expect("this case needs the driver's cancelling (Driver::capabilities().cancel)")
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "cancellable").expect("valid lane")
}

async fn enqueue(driver: &Arc<dyn Driver>, lane: &Lane, delay: Duration) -> JobId {
    let job = job(lane, json!({ "n": 1 })).delay(delay);
    driver.enqueue(vec![job]).await.expect("enqueue")[0]
        .id
        .clone()
}

pub(super) async fn cancel_removes_a_waiting_job(driver: Arc<dyn Driver>) {
    let lane = lane("cancel-waiting");
    let ready = enqueue(&driver, &lane, Duration::ZERO).await;
    let scheduled = enqueue(&driver, &lane, Duration::from_secs(60)).await;
    let kept = enqueue(&driver, &lane, Duration::ZERO).await;
    let queue = lane.queue();
    for id in [&ready, &scheduled] {
        assert_eq!(
            cancel(&driver).cancel(queue, id).await.unwrap(),
            CancelOutcome::Removed
        );
        assert!(
            admin(&driver).job(queue, id).await.unwrap().is_none(),
            "removed"
        );
    }
    let counts = admin(&driver).counts(queue).await.unwrap();
    assert_eq!((counts.ready, counts.scheduled, counts.failed), (1, 0, 0));
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    assert_eq!(run[0].id, kept, "the other job is untouched");
    let missing = JobId::from("no-such-job");
    assert_eq!(
        cancel(&driver).cancel(queue, &missing).await.unwrap(),
        CancelOutcome::NotFound
    );
}

pub(super) async fn cancel_stops_a_running_job(driver: Arc<dyn Driver>) {
    let lane = lane("cancel-running");
    let queue = lane.queue();
    let id = enqueue(&driver, &lane, Duration::ZERO).await;
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    assert_eq!(
        cancel(&driver).cancel(queue, &id).await.unwrap(),
        CancelOutcome::Stopped
    );
    // The run's lease is gone: it can neither renew, nor ack, nor fail.
    assert_eq!(
        driver.renew(&lane, &[run.lease()], LEASE).await.unwrap(),
        vec![false]
    );
    assert_eq!(
        driver.ack(&lane, &[run.lease()]).await.unwrap(),
        vec![false]
    );
    let retry = Failure::retry("late", Duration::ZERO);
    assert!(!driver.fail(&lane, &run.lease(), retry).await.unwrap());
    let info = admin(&driver).job(queue, &id).await.unwrap().expect("kept");
    assert_eq!(info.state, JobState::Cancelled);
    assert_eq!(info.last_error.as_deref(), Some(CANCELLED_ERROR));
    assert_eq!(info.attempts, 1);
    assert!(info.failed_at.is_some());
    let counts = admin(&driver).counts(queue).await.unwrap();
    assert_eq!((counts.ready, counts.active, counts.failed), (0, 0, 1));
    // Listed with the failed jobs, as cancelled.
    let failed = admin(&driver).failed(queue, 0, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].id.clone(), failed[0].state),
        (id.clone(), JobState::Cancelled)
    );
    let page = admin(&driver)
        .list_jobs(queue, &JobQuery::new(JobState::Failed))
        .await
        .unwrap();
    let listed: Vec<_> = page.jobs.iter().map(|j| (j.id.clone(), j.state)).collect();
    assert_eq!(listed, [(id.clone(), JobState::Cancelled)]);
    let refused = admin(&driver)
        .list_jobs(queue, &JobQuery::new(JobState::Cancelled))
        .await;
    assert!(
        refused.is_err(),
        "cancelled jobs are listed with the failed ones"
    );
    // Never run again on its own.
    let r = driver.reserve(&lane, 10, LEASE).await.unwrap();
    assert!(r.jobs.is_empty(), "a cancelled job is not retried");
    assert_eq!(
        cancel(&driver).cancel(queue, &id).await.unwrap(),
        CancelOutcome::Finished
    );
}

pub(super) async fn a_cancelled_job_retried_from_failed_is_no_longer_cancelled(
    driver: Arc<dyn Driver>,
) {
    let lane = lane("cancel-retry");
    let queue = lane.queue();
    let id = enqueue(&driver, &lane, Duration::ZERO).await;
    // The run a cancel stops may go on until its worker's next renewal, at the latest until
    // its lease would have ended: retried before that, the job waits for it, so its two runs
    // never overlap.
    let revoked = Duration::from_secs(2);
    let _ = reserve_n(&driver, &lane, 1, revoked, LIMIT).await;
    assert_eq!(
        cancel(&driver).cancel(queue, &id).await.unwrap(),
        CancelOutcome::Stopped
    );
    assert_eq!(
        admin(&driver).retry_failed(queue, Some(&id)).await.unwrap(),
        1
    );
    let info = admin(&driver).job(queue, &id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Scheduled);
    let early = driver.reserve(&lane, 1, LEASE).await.unwrap();
    assert!(
        early.jobs.is_empty(),
        "handed out again while the cancelled run's lease would still hold"
    );
    let run = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
    // Failing for good later is a failure, not a cancellation.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(driver
        .fail(&lane, &run.lease(), Failure::fail("real"))
        .await
        .unwrap());
    let info = admin(&driver).job(queue, &id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.last_error.as_deref(), Some("real"));
    // A job already failed is not cancelled.
    assert_eq!(
        cancel(&driver).cancel(queue, &id).await.unwrap(),
        CancelOutcome::Finished
    );
}

pub(super) async fn a_job_deleted_while_it_runs_holds_its_id_until_its_lease_ends(
    driver: Arc<dyn Driver>,
) {
    let lane = lane("delete-running");
    let queue = lane.queue();
    let store = |id: &str| {
        let driver = driver.clone();
        let job = job(&lane, json!({ "n": 1 })).id(id);
        async move { driver.enqueue(vec![job]).await.expect("enqueue").remove(0) }
    };
    let state = |id: &'static str| {
        let driver = driver.clone();
        async move {
            let info = admin(&driver).job(queue, &JobId::from(id)).await.unwrap();
            info.expect("the job exists").state
        }
    };
    // A deleted run may go on until its worker's next renewal, at the latest until its lease
    // would have ended: the same id dispatched before then waits for it, so the two runs never
    // overlap. So for a job deleted while it ran, and one cancelled while it ran, then deleted.
    let held = Duration::from_secs(2);
    store("running").await;
    let _ = reserve_n(&driver, &lane, 1, held, LIMIT).await;
    assert!(admin(&driver)
        .delete(queue, &JobId::from("running"))
        .await
        .unwrap());
    store("cancelled").await;
    let _ = reserve_n(&driver, &lane, 1, held, LIMIT).await;
    assert_eq!(
        cancel(&driver)
            .cancel(queue, &JobId::from("cancelled"))
            .await
            .unwrap(),
        CancelOutcome::Stopped
    );
    assert!(admin(&driver)
        .delete(queue, &JobId::from("cancelled"))
        .await
        .unwrap());
    // A job that never ran frees its id at once.
    store("waiting").await;
    assert!(admin(&driver)
        .delete(queue, &JobId::from("waiting"))
        .await
        .unwrap());
    for id in ["running", "cancelled", "waiting"] {
        assert!(store(id).await.created, "{id} is dispatched again");
    }
    assert_eq!(state("running").await, JobState::Scheduled);
    assert_eq!(state("cancelled").await, JobState::Scheduled);
    assert_eq!(state("waiting").await, JobState::Ready);
    // The job waiting for the deleted run, deleted in turn: the id is still held.
    assert!(admin(&driver)
        .delete(queue, &JobId::from("running"))
        .await
        .unwrap());
    assert!(store("running").await.created);
    assert_eq!(state("running").await, JobState::Scheduled, "still held");
    let early = driver.reserve(&lane, 10, LEASE).await.unwrap();
    let early: Vec<_> = early.jobs.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(
        early,
        ["waiting"],
        "handed out while a deleted run's lease would still hold"
    );
    let later = reserve_n(&driver, &lane, 2, LEASE, LIMIT).await;
    let mut later: Vec<_> = later.iter().map(|j| j.id.to_string()).collect();
    later.sort();
    assert_eq!(later, ["cancelled", "running"]);
}

pub(super) async fn a_cancelled_job_holds_no_unique_key(driver: Arc<dyn Driver>) {
    let lane = lane("cancel-unique");
    let queue = lane.queue();
    let mode = UniqueMode::UntilFinished;
    let waiting = dispatch(&driver, unique_job(&lane, "w", mode, 1)).await;
    assert_eq!(
        cancel(&driver).cancel(queue, &waiting.id).await.unwrap(),
        CancelOutcome::Removed
    );
    assert!(
        dispatch(&driver, unique_job(&lane, "w", mode, 2))
            .await
            .created
    );
    let running = dispatch(&driver, unique_job(&lane, "r", mode, 3)).await;
    let runs = reserve_n(&driver, &lane, 2, LEASE, LIMIT).await;
    assert!(runs.iter().any(|r| r.id == running.id));
    assert!(
        !dispatch(&driver, unique_job(&lane, "r", mode, 4))
            .await
            .created
    );
    assert_eq!(
        cancel(&driver).cancel(queue, &running.id).await.unwrap(),
        CancelOutcome::Stopped
    );
    let next = dispatch(&driver, unique_job(&lane, "r", mode, 5)).await;
    assert!(next.created);
    // The stopped run may go on until its lease would have ended: the new job waits for that.
    let info = admin(&driver).job(queue, &next.id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Scheduled);
}

/// What removes the jobs of [`cancelled_runs_hold_their_id_and_key`] before they run again.
enum Removal {
    /// A purge of the queue.
    Purge,
    /// A retry from the failed list (due when the stopped run's lease would have ended), then
    /// a delete before that.
    RetryThenDelete,
}

/// A job cancelled while it ran, then purged with its queue, keeps its id and its unique key
/// (until finished) held until its stopped run's lease would have ended: a job dispatched with
/// either before then waits.
pub(super) async fn a_job_cancelled_while_it_ran_then_purged_holds_its_id_and_key(
    driver: Arc<dyn Driver>,
) {
    cancelled_runs_hold_their_id_and_key(driver, Removal::Purge).await;
}

/// A job cancelled while it ran, retried from the failed list (so due when its stopped run's
/// lease would have ended) and then deleted before it ran, still holds its id and its unique
/// key (until finished) until then.
pub(super) async fn a_cancelled_job_retried_then_deleted_holds_its_id_and_key(
    driver: Arc<dyn Driver>,
) {
    cancelled_runs_hold_their_id_and_key(driver, Removal::RetryThenDelete).await;
}

/// Two jobs, one with a unique key (until finished) and one with a chosen id, cancelled while
/// they run and then removed: a job dispatched with the key or the id waits (scheduled).
async fn cancelled_runs_hold_their_id_and_key(driver: Arc<dyn Driver>, removal: Removal) {
    let lane = lane(match removal {
        Removal::Purge => "cancel-purge",
        Removal::RetryThenDelete => "cancel-retry-delete",
    });
    let queue = lane.queue();
    let mode = UniqueMode::UntilFinished;
    let keyed = dispatch(&driver, unique_job(&lane, "k", mode, 1)).await;
    let chosen = JobId::from("chosen");
    let store_chosen = || {
        let job = job(&lane, serde_json::json!({"n": 2})).id("chosen");
        let driver = driver.clone();
        async move { driver.enqueue(vec![job]).await.unwrap().remove(0) }
    };
    store_chosen().await;
    // Long enough that the checks below come before it ends, on a slow machine too.
    let revoked = Duration::from_secs(20);
    let runs = reserve_n(&driver, &lane, 2, revoked, LIMIT).await;
    assert_eq!(runs.len(), 2);
    for id in [&keyed.id, &chosen] {
        assert_eq!(
            cancel(&driver).cancel(queue, id).await.unwrap(),
            CancelOutcome::Stopped
        );
    }
    match removal {
        Removal::Purge => admin(&driver).purge(queue).await.unwrap(),
        Removal::RetryThenDelete => {
            assert_eq!(admin(&driver).retry_failed(queue, None).await.unwrap(), 2);
            for id in [&keyed.id, &chosen] {
                assert!(admin(&driver).delete(queue, id).await.unwrap());
            }
        }
    }
    let again = dispatch(&driver, unique_job(&lane, "k", mode, 3)).await;
    assert!(again.created);
    assert!(store_chosen().await.created);
    for id in [&again.id, &chosen] {
        let info = admin(&driver).job(queue, id).await.unwrap().unwrap();
        assert_eq!(
            info.state,
            JobState::Scheduled,
            "{id} waits for the stopped run"
        );
    }
}
