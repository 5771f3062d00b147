//! Conformance cases of [`Retention`](crate::Retention): completed jobs kept by count and age,
//! results until they expire, ids of kept jobs, cleaning, and purging.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::json;

use super::{job, reserve_n, unique_queue};
use crate::driver::{Admin, Driver, Retention};
use crate::error::Error;
use crate::job::{
    Completion, Failure, JobId, JobInfo, JobQuery, JobState, Keep, Lane, Order, ReservedJob,
};

const LEASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(5);

fn admin(driver: &Arc<dyn Driver>) -> &dyn Admin {
    driver.admin().expect(
        "this case needs the driver's inspection and administration (Driver::capabilities().admin)",
    )
}

fn retention(driver: &Arc<dyn Driver>) -> &dyn Retention {
    driver.retention().expect(
        "this case needs the driver's retention of completed jobs (Driver::capabilities().retention)",
    )
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "kept").expect("valid lane")
}

/// Dispatches `n` jobs to `lane` and reserves them all, in dispatch order.
async fn running(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) -> Vec<ReservedJob> {
    let jobs = (0..n).map(|i| job(lane, json!({ "n": i }))).collect();
    driver.enqueue(jobs).await.expect("enqueue");
    reserve_n(driver, lane, n, LEASE, LIMIT).await
}

fn completion(job: &ReservedJob, result: Option<&str>) -> Completion {
    Completion {
        lease: job.lease(),
        result: result.map(|r| Bytes::copy_from_slice(r.as_bytes())),
    }
}

/// The ids of `lane`'s queue's completed jobs, newest first.
async fn completed_ids(driver: &Arc<dyn Driver>, lane: &Lane) -> Vec<JobId> {
    let query = JobQuery::new(JobState::Completed)
        .order(Order::Newest)
        .limit(1000);
    let page = admin(driver)
        .list_jobs(lane.queue(), &query)
        .await
        .expect("list completed jobs");
    assert!(page.next.is_none());
    page.jobs.into_iter().map(|j| j.id).collect()
}

/// Completed jobs are kept, up to the count, newest first; the oldest go.
pub(super) async fn completed_jobs_are_kept_by_count(driver: Arc<dyn Driver>) {
    let lane = lane("kept-count");
    let jobs = running(&driver, &lane, 5).await;
    let keep = Keep {
        completed: 3,
        ..Keep::default()
    };
    // Completed in two calls, so the trim acts on jobs completed earlier as well.
    let first: Vec<Completion> = jobs[..2].iter().map(|j| completion(j, None)).collect();
    let rest: Vec<Completion> = jobs[2..].iter().map(|j| completion(j, None)).collect();
    assert_eq!(
        retention(&driver)
            .complete(&lane, &first, &keep)
            .await
            .unwrap(),
        [true, true]
    );
    assert_eq!(
        retention(&driver)
            .complete(&lane, &rest, &keep)
            .await
            .unwrap(),
        [true, true, true]
    );
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.completed, counts.active), (3, 0));
    let newest: Vec<JobId> = jobs[2..].iter().rev().map(|j| j.id.clone()).collect();
    assert_eq!(completed_ids(&driver, &lane).await, newest);
    for gone in &jobs[..2] {
        assert!(admin(&driver)
            .job(lane.queue(), &gone.id)
            .await
            .unwrap()
            .is_none());
    }
    let kept = admin(&driver)
        .job(lane.queue(), &jobs[4].id)
        .await
        .unwrap()
        .expect("the newest completed job is kept");
    assert_eq!(kept.state, JobState::Completed);
    assert!(kept.finished_at.is_some());
    assert_eq!(kept.payload_json(), json!({ "n": 4 }));
    // A stale lease completes nothing.
    let again = retention(&driver)
        .complete(&lane, &[completion(&jobs[4], None)], &keep)
        .await
        .unwrap();
    assert_eq!(again, [false]);
}

/// A result is readable until it expires, whether or not the job itself is kept; a stale
/// lease stores none.
pub(super) async fn results_are_kept_until_they_expire(driver: Arc<dyn Driver>) {
    let lane = lane("kept-result");
    let jobs = running(&driver, &lane, 2).await;
    let keep = Keep {
        result_for: Some(Duration::from_millis(400)),
        ..Keep::default()
    };
    let done = [completion(&jobs[0], Some(r#"{"size":42}"#))];
    assert_eq!(
        retention(&driver)
            .complete(&lane, &done, &keep)
            .await
            .unwrap(),
        [true]
    );
    let result = retention(&driver)
        .result(lane.queue(), &jobs[0].id)
        .await
        .unwrap();
    assert_eq!(result.as_deref(), Some(&br#"{"size":42}"#[..]));
    // Not kept as a completed job (count 0): the record is gone, the result is not.
    assert!(admin(&driver)
        .job(lane.queue(), &jobs[0].id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        admin(&driver).counts(lane.queue()).await.unwrap().completed,
        0
    );

    let mut stale = completion(&jobs[1], Some("1"));
    stale.lease.token += 1_000_000;
    assert_eq!(
        retention(&driver)
            .complete(&lane, &[stale], &keep)
            .await
            .unwrap(),
        [false]
    );
    assert!(retention(&driver)
        .result(lane.queue(), &jobs[1].id)
        .await
        .unwrap()
        .is_none());

    let deadline = tokio::time::Instant::now() + LIMIT;
    while retention(&driver)
        .result(lane.queue(), &jobs[0].id)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the result did not expire"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Completed jobs older than the age go at the next completion.
pub(super) async fn completed_jobs_expire_by_age(driver: Arc<dyn Driver>) {
    let lane = lane("kept-age");
    let old = running(&driver, &lane, 2).await;
    let keep = Keep {
        completed: 100,
        completed_for: Some(Duration::from_millis(300)),
        result_for: None,
    };
    let done: Vec<Completion> = old.iter().map(|j| completion(j, None)).collect();
    retention(&driver)
        .complete(&lane, &done, &keep)
        .await
        .unwrap();
    assert_eq!(completed_ids(&driver, &lane).await.len(), 2);
    // Each round completes one more job; once the first two are past the age, that
    // completion trims them.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut latest = Vec::new();
    loop {
        let new = running(&driver, &lane, 1).await;
        retention(&driver)
            .complete(&lane, &[completion(&new[0], None)], &keep)
            .await
            .unwrap();
        latest.push(new[0].id.clone());
        let ids = completed_ids(&driver, &lane).await;
        if !ids.contains(&old[0].id) && !ids.contains(&old[1].id) {
            assert!(
                ids.contains(latest.last().unwrap()),
                "the newest job is kept"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "old completed jobs were kept: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A kept job's chosen id is still taken; deleting the job frees it.
pub(super) async fn a_kept_job_keeps_its_id(driver: Arc<dyn Driver>) {
    let lane = lane("kept-id");
    driver
        .enqueue(vec![job(&lane, json!({ "n": 1 })).id("order-7")])
        .await
        .unwrap();
    let jobs = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    retention(&driver)
        .complete(&lane, &[completion(&jobs[0], None)], &keep)
        .await
        .unwrap();
    let again = driver
        .enqueue(vec![job(&lane, json!({ "n": 2 })).id("order-7")])
        .await
        .unwrap();
    assert!(!again[0].created, "the completed job still holds its id");
    assert!(admin(&driver)
        .delete(lane.queue(), &jobs[0].id)
        .await
        .unwrap());
    assert!(completed_ids(&driver, &lane).await.is_empty());
    let fresh = driver
        .enqueue(vec![job(&lane, json!({ "n": 3 })).id("order-7")])
        .await
        .unwrap();
    assert!(fresh[0].created);
}

/// `clean` removes completed and failed jobs finished long enough ago, oldest first, up to the
/// limit, and refuses other states.
pub(super) async fn clean_removes_old_completed_and_failed_jobs(driver: Arc<dyn Driver>) {
    let lane = lane("kept-clean");
    let jobs = running(&driver, &lane, 5).await;
    let keep = Keep {
        completed: 100,
        ..Keep::default()
    };
    let done: Vec<Completion> = jobs[..3].iter().map(|j| completion(j, Some("1"))).collect();
    retention(&driver)
        .complete(&lane, &done, &keep)
        .await
        .unwrap();
    for failed in &jobs[3..] {
        assert!(driver
            .fail(&lane, &failed.lease(), Failure::fail("broken"))
            .await
            .unwrap());
    }
    let r = retention(&driver);
    let q = lane.queue();
    assert_eq!(
        r.clean(q, JobState::Completed, Duration::from_secs(3600), 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        r.clean(q, JobState::Completed, Duration::ZERO, 2)
            .await
            .unwrap(),
        2
    );
    let left = completed_ids(&driver, &lane).await;
    assert_eq!(left, [jobs[2].id.clone()], "the oldest went first");
    assert_eq!(
        r.clean(q, JobState::Completed, Duration::ZERO, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        r.clean(q, JobState::Failed, Duration::ZERO, 10)
            .await
            .unwrap(),
        2
    );
    let counts = admin(&driver).counts(q).await.unwrap();
    assert_eq!((counts.completed, counts.failed), (0, 0));
    assert!(
        r.result(q, &jobs[0].id).await.unwrap().is_none(),
        "results go with their jobs"
    );
    let refused = r.clean(q, JobState::Ready, Duration::ZERO, 10).await;
    assert!(
        matches!(refused, Err(Error::InvalidQuery { .. })),
        "{refused:?}"
    );
}

/// Purging a queue removes its completed jobs and results.
pub(super) async fn purge_removes_kept_jobs_and_results(driver: Arc<dyn Driver>) {
    let lane = lane("kept-purge");
    let jobs = running(&driver, &lane, 2).await;
    let keep = Keep {
        completed: 10,
        completed_for: None,
        result_for: Some(Duration::from_secs(3600)),
    };
    let done: Vec<Completion> = jobs.iter().map(|j| completion(j, Some("true"))).collect();
    retention(&driver)
        .complete(&lane, &done, &keep)
        .await
        .unwrap();
    admin(&driver).purge(lane.queue()).await.unwrap();
    assert_eq!(
        admin(&driver).counts(lane.queue()).await.unwrap().completed,
        0
    );
    for job in &jobs {
        assert!(retention(&driver)
            .result(lane.queue(), &job.id)
            .await
            .unwrap()
            .is_none());
    }
}

/// Completed jobs list in pages, in both orders, each once, by name or for the whole queue.
pub(super) async fn completed_jobs_list_in_pages(driver: Arc<dyn Driver>) {
    let queue = unique_queue("kept-pages");
    let lanes = [
        Lane::new(&queue, "alpha").unwrap(),
        Lane::new(&queue, "beta").unwrap(),
    ];
    let keep = Keep {
        completed: 100,
        ..Keep::default()
    };
    let mut order = Vec::new();
    // Five jobs, one completion each, alternating lanes: finish order is completion order.
    for i in 0..5 {
        let lane = &lanes[i % 2];
        let jobs = running(&driver, lane, 1).await;
        retention(&driver)
            .complete(lane, &[completion(&jobs[0], None)], &keep)
            .await
            .unwrap();
        order.push((i % 2, jobs[0].id.clone()));
        // Distinct finish times, so the expected order does not hang on ties.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for (newest, name) in [
        (false, None),
        (true, None),
        (false, Some(0)),
        (true, Some(1)),
    ] {
        let mut query = JobQuery::new(JobState::Completed).limit(2);
        if newest {
            query = query.order(Order::Newest);
        }
        if let Some(n) = name {
            query = query.name(lanes[n].job());
        }
        let mut expected: Vec<JobId> = order
            .iter()
            .filter(|(lane, _)| name.is_none_or(|n| n == *lane))
            .map(|(_, id)| id.clone())
            .collect();
        if newest {
            expected.reverse();
        }
        let mut got = Vec::new();
        for _ in 0..20 {
            let page = admin(&driver).list_jobs(&queue, &query).await.unwrap();
            assert!(page.jobs.len() <= 2);
            assert!(page.jobs.iter().all(|j| j.state == JobState::Completed));
            got.extend(page.jobs.into_iter().map(|j| j.id));
            match page.next {
                Some(next) => query = query.cursor(next),
                None => break,
            }
        }
        assert_eq!(got, expected, "newest first: {newest}, lane: {name:?}");
    }
}

/// Jobs completed by one call share their finish time: pages still reach each once.
pub(super) async fn completed_jobs_tied_in_time_list_once(driver: Arc<dyn Driver>) {
    let lane = lane("kept-ties");
    let jobs = running(&driver, &lane, 1100).await;
    let keep = Keep {
        completed: 5000,
        ..Keep::default()
    };
    let done: Vec<Completion> = jobs.iter().map(|j| completion(j, None)).collect();
    // One call per 1000 at most: a thousand jobs with one finish time, then a hundred.
    for chunk in done.chunks(1000) {
        retention(&driver)
            .complete(&lane, chunk, &keep)
            .await
            .unwrap();
    }
    for order in [Order::Oldest, Order::Newest] {
        let mut query = JobQuery::new(JobState::Completed).order(order).limit(300);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let page = admin(&driver)
                .list_jobs(lane.queue(), &query)
                .await
                .unwrap();
            for job in page.jobs {
                assert!(seen.insert(job.id.clone()), "{} listed twice", job.id);
            }
            match page.next {
                Some(next) => query = query.cursor(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 1100, "{order:?}");
    }
}

/// Pages of completed jobs hold while jobs go on completing and some are deleted: each job
/// kept throughout is listed once, in completion order, a job deleted before its page is not,
/// and jobs completed after a newest-first listing started are behind it.
pub(super) async fn completed_pages_hold_while_jobs_complete_and_go(driver: Arc<dyn Driver>) {
    let keep = Keep {
        completed: 1000,
        ..Keep::default()
    };
    for order in [Order::Oldest, Order::Newest] {
        let lane = lane("kept-moving");
        let first = running(&driver, &lane, 20).await;
        for chunk in first.chunks(10) {
            let done: Vec<Completion> = chunk.iter().map(|j| completion(j, None)).collect();
            retention(&driver)
                .complete(&lane, &done, &keep)
                .await
                .unwrap();
        }
        let mut query = JobQuery::new(JobState::Completed).order(order).limit(4);
        let page = admin(&driver)
            .list_jobs(lane.queue(), &query)
            .await
            .unwrap();
        let mut listed: Vec<JobInfo> = page.jobs;
        query = query.cursor(page.next.expect("more pages"));
        // Meanwhile: ten more complete, one job already listed and one not yet are deleted.
        let later = running(&driver, &lane, 10).await;
        let done: Vec<Completion> = later.iter().map(|j| completion(j, None)).collect();
        retention(&driver)
            .complete(&lane, &done, &keep)
            .await
            .unwrap();
        let gone_listed = listed[1].id.clone();
        let gone_ahead = first
            .iter()
            .map(|j| j.id.clone())
            .find(|id| listed.iter().all(|l| &l.id != id) && id != &first[0].id)
            .expect("a job not listed yet");
        for id in [&gone_listed, &gone_ahead] {
            assert!(admin(&driver).delete(lane.queue(), id).await.unwrap());
        }
        for _ in 0..40 {
            let page = admin(&driver)
                .list_jobs(lane.queue(), &query)
                .await
                .unwrap();
            listed.extend(page.jobs);
            match page.next {
                Some(next) => query = query.cursor(next),
                None => break,
            }
        }
        let ids: Vec<&JobId> = listed.iter().map(|j| &j.id).collect();
        let unique: std::collections::HashSet<&JobId> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{order:?}: a job listed twice: {ids:?}"
        );
        assert!(
            !unique.contains(&gone_ahead),
            "{order:?}: a deleted job listed"
        );
        let mut expected: std::collections::HashSet<&JobId> = first.iter().map(|j| &j.id).collect();
        if order == Order::Oldest {
            expected.extend(later.iter().map(|j| &j.id));
        }
        expected.remove(&gone_ahead);
        assert_eq!(unique, expected, "{order:?}");
        let finished: Vec<_> = listed.iter().map(|j| j.finished_at).collect();
        let mut sorted = finished.clone();
        sorted.sort();
        if order == Order::Newest {
            sorted.reverse();
        }
        assert_eq!(finished, sorted, "{order:?}: listed in completion order");
    }
}

/// A completed job deleted by hand leaves room for another: the count kept is of the jobs still
/// there, and trimming takes the oldest of those, passing over the deleted ones.
pub(super) async fn deleted_completed_jobs_leave_room(driver: Arc<dyn Driver>) {
    let lane = lane("kept-deleted");
    let jobs = running(&driver, &lane, 8).await;
    let keep = Keep {
        completed: 5,
        ..Keep::default()
    };
    let complete = |range: std::ops::Range<usize>| {
        let done: Vec<Completion> = jobs[range].iter().map(|j| completion(j, None)).collect();
        let driver = driver.clone();
        let lane = lane.clone();
        async move {
            retention(&driver)
                .complete(&lane, &done, &keep)
                .await
                .unwrap()
        }
    };
    complete(0..5).await;
    for deleted in [1, 3] {
        assert!(admin(&driver)
            .delete(lane.queue(), &jobs[deleted].id)
            .await
            .unwrap());
    }
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(counts.completed, 3, "the deleted jobs are not counted");
    // Two more fill the room the deleted ones left: nothing is trimmed.
    complete(5..7).await;
    let ids = |picked: &[usize]| -> Vec<JobId> {
        picked.iter().rev().map(|&i| jobs[i].id.clone()).collect()
    };
    assert_eq!(completed_ids(&driver, &lane).await, ids(&[0, 2, 4, 5, 6]));
    // One more: the oldest still kept goes, not a deleted job's place.
    complete(7..8).await;
    assert_eq!(completed_ids(&driver, &lane).await, ids(&[2, 4, 5, 6, 7]));
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(counts.completed, 5);
    assert!(admin(&driver)
        .job(lane.queue(), &jobs[0].id)
        .await
        .unwrap()
        .is_none());
}

/// A result belongs to the job that made it: a job dispatched again under the same chosen id
/// has none until it completes itself.
pub(super) async fn a_result_is_not_handed_to_a_new_job_of_the_same_id(driver: Arc<dyn Driver>) {
    let lane = lane("kept-reused");
    let keep = Keep {
        result_for: Some(Duration::from_secs(3600)),
        ..Keep::default()
    };
    for round in 0..2 {
        driver
            .enqueue(vec![job(&lane, json!({ "n": round })).id("report")])
            .await
            .unwrap();
        let id = JobId::from("report");
        assert!(
            retention(&driver)
                .result(lane.queue(), &id)
                .await
                .unwrap()
                .is_none(),
            "round {round}: the new job has no result yet"
        );
        let jobs = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
        let body = format!("{round}");
        retention(&driver)
            .complete(&lane, &[completion(&jobs[0], Some(&body))], &keep)
            .await
            .unwrap();
        let result = retention(&driver).result(lane.queue(), &id).await.unwrap();
        assert_eq!(result.as_deref(), Some(body.as_bytes()));
    }
}

/// A job kept as completed shows when its runs started: its first run's start and the start of
/// the run that completed (the same for a job that completed at its first run).
pub(super) async fn a_kept_job_shows_when_its_runs_started(driver: Arc<dyn Driver>) {
    // Starts are kept in whole milliseconds: a reading may fall up to 1 ms before the clock
    // readings taken around the reserve.
    const SLACK: Duration = Duration::from_millis(25);
    let within =
        |t: SystemTime, from: SystemTime, to: SystemTime| t + SLACK >= from && t <= to + SLACK;
    let lane = lane("kept-starts");
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    let ids: Vec<JobId> = driver
        .enqueue(vec![job(&lane, json!(1)), job(&lane, json!(2))])
        .await
        .expect("enqueue")
        .into_iter()
        .map(|d| d.id)
        .collect();
    let take = |want: &JobId| {
        let (driver, lane, want) = (driver.clone(), lane.clone(), want.clone());
        async move {
            let from = SystemTime::now();
            let got = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await.remove(0);
            let to = SystemTime::now();
            assert_eq!(got.id, want, "jobs are reserved in dispatch order");
            (got, from, to)
        }
    };

    // Completed at its first run: both starts are that run's.
    let (once, from, to) = take(&ids[0]).await;
    let held = retention(&driver)
        .complete(&lane, &[completion(&once, None)], &keep)
        .await
        .unwrap();
    assert_eq!(held, [true]);
    let kept = admin(&driver)
        .job(lane.queue(), &ids[0])
        .await
        .unwrap()
        .expect("the completed job is kept");
    assert_eq!(kept.state, JobState::Completed);
    let started = kept.started_at.expect("a kept job's last start is known");
    assert!(
        within(started, from, to),
        "{started:?} not in {from:?}..{to:?}"
    );
    assert_eq!(kept.first_started_at, Some(started));

    // Retried, then completed at its second run: the first run's start and the second's.
    let (first, from, to) = take(&ids[1]).await;
    assert!(driver
        .fail(
            &lane,
            &first.lease(),
            Failure::retry("again", Duration::ZERO)
        )
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (second, again_from, again_to) = take(&ids[1]).await;
    assert_eq!(second.attempt, 2);
    let held = retention(&driver)
        .complete(&lane, &[completion(&second, None)], &keep)
        .await
        .unwrap();
    assert_eq!(held, [true]);
    let kept = admin(&driver)
        .job(lane.queue(), &ids[1])
        .await
        .unwrap()
        .expect("the completed job is kept");
    assert_eq!(kept.state, JobState::Completed);
    assert_eq!(kept.attempts, 2);
    let first_start = kept
        .first_started_at
        .expect("a kept job's first start is known");
    let last_start = kept.started_at.expect("a kept job's last start is known");
    assert!(
        within(first_start, from, to),
        "{first_start:?} not in {from:?}..{to:?}"
    );
    assert!(
        within(last_start, again_from, again_to),
        "{last_start:?} not in {again_from:?}..{again_to:?}"
    );
    assert!(last_start > first_start);
}

/// A completion carried by a reserve (`complete_and_reserve`) keeps and trims as `complete`
/// does, and the reserve leases the next jobs; a stale completion changes nothing.
pub(super) async fn completions_with_a_reserve_keep_and_reserve(driver: Arc<dyn Driver>) {
    let lane = lane("kept-reserve");
    let jobs = running(&driver, &lane, 2).await;
    let more = (0..3).map(|i| job(&lane, json!({ "more": i }))).collect();
    driver.enqueue(more).await.expect("enqueue");
    let keep = Keep {
        completed: 1,
        ..Keep::default()
    };
    let done: Vec<Completion> = jobs.iter().map(|j| completion(j, None)).collect();
    let (held, reservation) = retention(&driver)
        .complete_and_reserve(driver.as_ref(), &lane, &done, &keep, 2, LEASE)
        .await
        .expect("complete and reserve");
    assert_eq!(held, [true, true]);
    assert_eq!(
        reservation.jobs.len(),
        2,
        "the reserve leases the next jobs"
    );
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.completed, counts.active, counts.ready), (1, 2, 1));
    let kept = completed_ids(&driver, &lane).await;
    assert_eq!(kept.len(), 1);
    let info = admin(&driver)
        .job(lane.queue(), &kept[0])
        .await
        .unwrap()
        .expect("the kept job");
    assert_eq!(info.state, JobState::Completed);
    assert!(info.finished_at.is_some());
    assert!(info.started_at.is_some() && info.first_started_at == info.started_at);

    // Sent again (as after an error), the completions are stale; the reserve still leases.
    let (held, reservation) = retention(&driver)
        .complete_and_reserve(driver.as_ref(), &lane, &done, &keep, 5, LEASE)
        .await
        .expect("complete and reserve again");
    assert_eq!(held, [false, false]);
    assert_eq!(reservation.jobs.len(), 1);
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!((counts.completed, counts.active, counts.ready), (1, 3, 0));
}

/// A reserve carries completions with results, and any number of them (a driver splits what one
/// step cannot carry): every completion is kept with its result, the first and the last at
/// their ends of the completed list, and the reserve still leases the next job.
pub(super) async fn completions_with_a_reserve_keep_results_and_any_number(
    driver: Arc<dyn Driver>,
) {
    let lane = lane("kept-reserve-many");
    // More than some drivers carry in one call (the Redis driver's 1,000).
    let n = 1_100;
    let jobs = running(&driver, &lane, n).await;
    driver
        .enqueue(vec![job(&lane, json!({ "next": true }))])
        .await
        .expect("enqueue");
    let keep = Keep {
        completed: 2_000,
        result_for: Some(Duration::from_secs(3600)),
        ..Keep::default()
    };
    let results: Vec<String> = (0..n).map(|i| format!("{{\"r\":{i}}}")).collect();
    let done: Vec<Completion> = jobs
        .iter()
        .zip(&results)
        .map(|(j, r)| completion(j, Some(r)))
        .collect();
    let (held, reservation) = retention(&driver)
        .complete_and_reserve(driver.as_ref(), &lane, &done, &keep, 5, LEASE)
        .await
        .expect("complete and reserve");
    assert_eq!(held.len(), n, "one answer per completion");
    assert!(held.iter().all(|h| *h), "every lease was current");
    assert_eq!(reservation.jobs.len(), 1, "the reserve leases the next job");
    let counts = admin(&driver).counts(lane.queue()).await.unwrap();
    assert_eq!(
        (counts.completed, counts.active, counts.ready),
        (n as u64, 1, 0)
    );
    for i in [0, 999, 1000, n - 1] {
        let got = retention(&driver)
            .result(lane.queue(), &jobs[i].id)
            .await
            .expect("result")
            .unwrap_or_else(|| panic!("the result of completion {i} is kept"));
        assert_eq!(got, results[i].as_bytes(), "completion {i}'s own result");
    }
    // In completion order: the last completion is the newest kept job, the first the oldest.
    for (order, expected) in [(Order::Newest, n - 1), (Order::Oldest, 0)] {
        let query = JobQuery::new(JobState::Completed).order(order).limit(1);
        let page = admin(&driver)
            .list_jobs(lane.queue(), &query)
            .await
            .expect("list completed jobs");
        assert!(!page.jobs.is_empty(), "completed jobs are listed");
        assert_eq!(page.jobs[0].id, jobs[expected].id, "{order:?} first");
    }
}
