//! Conformance cases of [`Admin::list_jobs`](crate::Admin::list_jobs): paging through each
//! state in both orders, lanes and whole queues, and cursors.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{job, unique_queue};
use crate::driver::{Admin, Driver};
use crate::error::Error;
use crate::job::{Failure, JobId, JobQuery, JobState, Lane, Order};

const LEASE: Duration = Duration::from_secs(30);

fn admin(driver: &Arc<dyn Driver>) -> &dyn Admin {
    driver
        .admin()
        .expect("this case needs the driver's inspection and administration (Driver::admin)")
}

/// Every job of `query` (from its start), in pages of `query.limit`: checks that each page is
/// full but the last, that only the last has no cursor, and that no job comes twice.
async fn all_pages(driver: &Arc<dyn Driver>, queue: &str, query: JobQuery) -> Vec<JobId> {
    let mut out: Vec<JobId> = Vec::new();
    let mut query = query;
    for _ in 0..100 {
        let page = admin(driver)
            .list_jobs(queue, &query)
            .await
            .expect("list_jobs");
        for info in &page.jobs {
            assert_eq!(
                info.state, query.state,
                "job {} listed as {:?}",
                info.id, query.state
            );
            assert_eq!(info.queue, queue);
            if let Some(name) = &query.name {
                assert_eq!(&info.name, name, "a listing by name holds only that lane");
            }
            assert!(!out.contains(&info.id), "job {} listed twice", info.id);
            out.push(info.id.clone());
        }
        match page.next {
            Some(next) => {
                assert!(page.jobs.len() <= query.limit);
                query = query.cursor(next);
            }
            None => return out,
        }
    }
    panic!("the listing did not end within 100 pages");
}

async fn enqueue(driver: &Arc<dyn Driver>, jobs: Vec<crate::NewJob>) -> Vec<JobId> {
    let out = driver.enqueue(jobs).await.expect("enqueue");
    out.into_iter().map(|d| d.id).collect()
}

/// Checks both orders of `state` in pages of 2 against `expected` (oldest first).
async fn both_orders(driver: &Arc<dyn Driver>, lane: &Lane, state: JobState, expected: &[JobId]) {
    for name in [None, Some(lane.job())] {
        let mut query = JobQuery::new(state).limit(2);
        if let Some(name) = name {
            query = query.name(name);
        }
        let oldest = all_pages(driver, lane.queue(), query.clone()).await;
        assert_eq!(oldest, expected, "{state:?} oldest first");
        let newest = all_pages(driver, lane.queue(), query.order(Order::Newest)).await;
        let mut reversed = expected.to_vec();
        reversed.reverse();
        assert_eq!(newest, reversed, "{state:?} newest first");
    }
}

/// Each state lists in pages, in its order from either end, reaching every job once and ending
/// with no cursor.
pub(super) async fn listing_pages_through_each_state(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("list-states"), "work").unwrap();
    let one = |n: i64| job(&lane, json!({ "n": n }));

    let ready = enqueue(&driver, (0..5).map(one).collect()).await;
    both_orders(&driver, &lane, JobState::Ready, &ready).await;

    // Leased one at a time: the order they were leased.
    let mut active = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let r = driver.reserve(&lane, 1, LEASE).await.expect("reserve");
        let job = r.jobs.into_iter().next().expect("a ready job");
        tokens.push(job.token);
        active.push(job.id);
    }
    assert_eq!(active, ready);
    both_orders(&driver, &lane, JobState::Active, &active).await;
    // A listed active job carries its lease's token, as `Admin::job` reports it (how a
    // dashboard finds the worker running it).
    let page = admin(&driver)
        .list_jobs(lane.queue(), &JobQuery::new(JobState::Active))
        .await
        .expect("list_jobs");
    let listed_tokens: Vec<Option<u64>> = page.jobs.iter().map(|job| job.token).collect();
    assert_eq!(
        listed_tokens,
        tokens.into_iter().map(Some).collect::<Vec<_>>(),
        "active jobs' tokens"
    );

    // Scheduled: due in the reverse of dispatch order.
    let delayed: Vec<crate::NewJob> = (0..5)
        .map(|n| one(10 + n).delay(Duration::from_secs(1000 - n as u64 * 10)))
        .collect();
    let mut scheduled = enqueue(&driver, delayed).await;
    scheduled.reverse();
    both_orders(&driver, &lane, JobState::Scheduled, &scheduled).await;
}

/// Failed jobs list in the order they failed (oldest first) or the reverse.
pub(super) async fn listing_failed_jobs_in_pages(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("list-failed"), "work").unwrap();
    enqueue(
        &driver,
        (0..5).map(|n| job(&lane, json!({ "n": n }))).collect(),
    )
    .await;
    let jobs = driver.reserve(&lane, 5, LEASE).await.expect("reserve").jobs;
    let mut failed = Vec::new();
    for j in jobs.iter().rev() {
        assert!(driver
            .fail(&lane, &j.lease(), Failure::fail("no"))
            .await
            .unwrap());
        failed.push(j.id.clone());
    }
    both_orders(&driver, &lane, JobState::Failed, &failed).await;
}

/// Ready jobs list in the order reserve hands them out: higher priority first, then first in.
pub(super) async fn listing_ready_follows_reserve_order(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("list-prio"), "work").unwrap();
    let spec: [i8; 9] = [0, 5, -3, 5, 10, 0, -1, 0, 10];
    let jobs = spec
        .iter()
        .enumerate()
        .map(|(n, p)| job(&lane, json!({ "n": n })).priority(*p))
        .collect();
    enqueue(&driver, jobs).await;
    let oldest = all_pages(
        &driver,
        lane.queue(),
        JobQuery::new(JobState::Ready).limit(2),
    )
    .await;
    let newest = all_pages(
        &driver,
        lane.queue(),
        JobQuery::new(JobState::Ready).order(Order::Newest).limit(3),
    )
    .await;
    let reserved: Vec<JobId> = driver
        .reserve(&lane, 20, LEASE)
        .await
        .expect("reserve")
        .jobs
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        oldest, reserved,
        "ready jobs list in the order reserve takes them"
    );
    let mut reversed = reserved.clone();
    reversed.reverse();
    assert_eq!(newest, reversed);
}

/// A listing by name holds its lane only; a queue-wide one holds every lane's jobs once, merged
/// in the state's order.
pub(super) async fn listing_by_name_or_queue_wide(driver: Arc<dyn Driver>) {
    let queue = unique_queue("list-lanes");
    let a = Lane::new(&queue, "alpha").unwrap();
    let b = Lane::new(&queue, "beta").unwrap();
    let mut jobs = Vec::new();
    for n in 0..4u64 {
        jobs.push(job(&a, json!({ "n": n })));
        jobs.push(job(&b, json!({ "n": n })));
    }
    let ids = enqueue(&driver, jobs).await;
    let of_a: Vec<JobId> = ids.iter().step_by(2).cloned().collect();
    let ready = JobQuery::new(JobState::Ready).limit(3);
    assert_eq!(
        all_pages(&driver, &queue, ready.clone().name("alpha")).await,
        of_a
    );
    let everything = all_pages(&driver, &queue, ready.clone()).await;
    assert_eq!(everything.len(), 8);
    assert!(ids.iter().all(|id| everything.contains(id)));
    assert!(all_pages(&driver, &queue, ready.name("gamma"))
        .await
        .is_empty());

    // Scheduled across lanes: by due time, whatever the lane.
    let mut delayed = Vec::new();
    for n in 0..6u64 {
        let lane = if n % 3 == 0 { &a } else { &b };
        delayed.push(job(lane, json!({ "d": n })).delay(Duration::from_secs(2000 - n * 10)));
    }
    let mut by_due = enqueue(&driver, delayed).await;
    by_due.reverse();
    let query = JobQuery::new(JobState::Scheduled).limit(2);
    assert_eq!(all_pages(&driver, &queue, query.clone()).await, by_due);
    let mut newest = by_due.clone();
    newest.reverse();
    assert_eq!(
        all_pages(&driver, &queue, query.order(Order::Newest)).await,
        newest
    );
}

/// A cursor the listing did not make, or a page size out of range, is an error naming it.
pub(super) async fn listing_refuses_bad_cursors_and_sizes(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("list-bad"), "work").unwrap();
    enqueue(
        &driver,
        (0..3).map(|n| job(&lane, json!({ "n": n }))).collect(),
    )
    .await;
    let first = admin(&driver)
        .list_jobs(lane.queue(), &JobQuery::new(JobState::Ready).limit(1))
        .await
        .unwrap();
    let next = first.next.expect("more than one page");
    let queries = [
        JobQuery::new(JobState::Ready).cursor("not a cursor"),
        JobQuery::new(JobState::Ready).cursor(format!("{next}|x=")),
        JobQuery::new(JobState::Scheduled).cursor(next.clone()),
        JobQuery::new(JobState::Ready)
            .order(Order::Newest)
            .cursor(next),
        JobQuery::new(JobState::Ready).limit(0),
        JobQuery::new(JobState::Ready).limit(1001),
    ];
    for query in queries {
        let err = admin(&driver).list_jobs(lane.queue(), &query).await;
        match err {
            Err(Error::InvalidQuery { reason }) => assert!(
                reason.contains("cursor") || reason.contains("1 to 1000"),
                "{reason}"
            ),
            other => panic!("{query:?} gave {other:?}, not an invalid query error"),
        }
    }
}

/// Jobs reserved between two pages of ready jobs are not listed again as ready.
pub(super) async fn listing_ready_skips_jobs_reserved_between_pages(driver: Arc<dyn Driver>) {
    for priority in [0i8, 3] {
        let lane = Lane::new(&unique_queue("list-moving"), "work").unwrap();
        let jobs = (0..6)
            .map(|n| job(&lane, json!({ "n": n })).priority(priority))
            .collect();
        enqueue(&driver, jobs).await;
        let query = JobQuery::new(JobState::Ready).limit(2);
        let first = admin(&driver)
            .list_jobs(lane.queue(), &query)
            .await
            .unwrap();
        let reserved: Vec<JobId> = driver
            .reserve(&lane, 2, LEASE)
            .await
            .unwrap()
            .jobs
            .into_iter()
            .map(|j| j.id)
            .collect();
        let listed: Vec<JobId> = first.jobs.iter().map(|j| j.id.clone()).collect();
        assert_eq!(listed, reserved, "the first page is what reserve took");
        let rest = all_pages(
            &driver,
            lane.queue(),
            query.cursor(first.next.expect("more pages")),
        )
        .await;
        assert!(
            rest.iter().all(|id| !reserved.contains(id)),
            "priority {priority}: a reserved job was listed as ready again"
        );
        assert!(!rest.is_empty());
        if priority != 0 {
            // Sorted indexes keep their place: every job still waiting is listed.
            assert_eq!(rest.len(), 4);
        }
    }
}

/// A listing goes on after the last job it listed left its state (deleted, acked), among jobs
/// tied on their sort key (due together, leased together): the rest come once each.
pub(super) async fn listing_goes_on_after_the_last_listed_job_left(driver: Arc<dyn Driver>) {
    for order in [Order::Oldest, Order::Newest] {
        let lane = Lane::new(&unique_queue("list-left"), "work").unwrap();
        // Due together: one dispatch call, one delay.
        let delayed = (0..6)
            .map(|n| job(&lane, json!({ "n": n })).delay(Duration::from_secs(1000)))
            .collect();
        let scheduled = enqueue(&driver, delayed).await;
        let query = JobQuery::new(JobState::Scheduled).order(order).limit(2);
        let first = admin(&driver)
            .list_jobs(lane.queue(), &query)
            .await
            .unwrap();
        assert_eq!(first.jobs.len(), 2);
        let gone = &first.jobs[1].id;
        assert!(admin(&driver).delete(lane.queue(), gone).await.unwrap());
        let rest = all_pages(&driver, lane.queue(), query.cursor(first.next.unwrap())).await;
        let mut seen: Vec<JobId> = first.jobs.iter().map(|j| j.id.clone()).collect();
        seen.extend(rest);
        assert_eq!(
            seen.len(),
            6,
            "{order:?}: every scheduled job once: {seen:?}"
        );
        assert!(scheduled.iter().all(|id| seen.contains(id)));

        // Leased together: one reserve call.
        let ready = enqueue(
            &driver,
            (0..6).map(|n| job(&lane, json!({ "n": n }))).collect(),
        )
        .await;
        let leased = driver.reserve(&lane, 6, LEASE).await.unwrap().jobs;
        assert_eq!(leased.len(), 6);
        let query = JobQuery::new(JobState::Active).order(order).limit(2);
        let first = admin(&driver)
            .list_jobs(lane.queue(), &query)
            .await
            .unwrap();
        assert_eq!(first.jobs.len(), 2);
        let last = leased.iter().find(|j| j.id == first.jobs[1].id).unwrap();
        assert_eq!(driver.ack(&lane, &[last.lease()]).await.unwrap(), [true]);
        let rest = all_pages(&driver, lane.queue(), query.cursor(first.next.unwrap())).await;
        let mut seen: Vec<JobId> = first.jobs.iter().map(|j| j.id.clone()).collect();
        seen.extend(rest);
        assert_eq!(seen.len(), 6, "{order:?}: every active job once: {seen:?}");
        assert!(ready.iter().all(|id| seen.contains(id)));
    }
}

/// Failed jobs are kept per queue: a listing by name holds that lane's failures only, in
/// order, possibly over short pages, and ends.
pub(super) async fn listing_failed_jobs_by_name(driver: Arc<dyn Driver>) {
    let queue = unique_queue("list-failed-name");
    let a = Lane::new(&queue, "alpha").unwrap();
    let b = Lane::new(&queue, "beta").unwrap();
    let mut failed_a = Vec::new();
    let mut failed_all = Vec::new();
    // alpha, ten of beta, alpha, four of beta: 16 failures, fewer than the cap.
    for (lane, n) in [(&a, 1), (&b, 10), (&a, 1), (&b, 4)] {
        enqueue(
            &driver,
            (0..n).map(|i| job(lane, json!({ "i": i }))).collect(),
        )
        .await;
        for j in driver.reserve(lane, n, LEASE).await.unwrap().jobs {
            assert!(driver
                .fail(lane, &j.lease(), Failure::fail("no"))
                .await
                .unwrap());
            if lane == &a {
                failed_a.push(j.id.clone());
            }
            failed_all.push(j.id);
        }
    }
    let query = JobQuery::new(JobState::Failed).limit(1);
    assert_eq!(
        all_pages(&driver, &queue, query.clone().name("alpha")).await,
        failed_a
    );
    let mut newest_a = failed_a.clone();
    newest_a.reverse();
    let newest = query.clone().name("alpha").order(Order::Newest);
    assert_eq!(all_pages(&driver, &queue, newest).await, newest_a);
    assert_eq!(all_pages(&driver, &queue, query.limit(5)).await, failed_all);
}
