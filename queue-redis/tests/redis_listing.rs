//! Listing jobs over 10,000+ of them: pages of the largest size reach every job once, in the
//! order reserve takes them, through sorted sets with thousands of tied scores.

mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::{Driver, JobId, JobQuery, JobState, Lane, Order, MAX_PAGE};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

const MANY: usize = 10_500;
const LEASE: Duration = Duration::from_secs(60);

/// Every job of `query`, a page at a time, checking that none comes twice.
async fn all_pages(driver: &Arc<dyn Driver>, queue: &str, mut query: JobQuery) -> Vec<JobId> {
    let admin = driver.admin().expect("the Redis driver has Admin");
    let mut out: Vec<JobId> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    loop {
        let page = admin.list_jobs(queue, &query).await.expect("list_jobs");
        for info in page.jobs {
            assert!(seen.insert(info.id.clone()), "job {} listed twice", info.id);
            out.push(info.id);
        }
        match page.next {
            Some(next) => query = query.cursor(next),
            None => return out,
        }
    }
}

#[tokio::test]
async fn ten_thousand_jobs_list_in_pages_in_reserve_order() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = Lane::new("big", "work").unwrap();
    let jobs = (0..MANY)
        .map(|i| job(&lane, json!({ "n": i })).priority((i % 3) as i8 - 1))
        .collect();
    driver.enqueue(jobs).await.unwrap();

    let query = JobQuery::new(JobState::Ready).limit(MAX_PAGE);
    let listed = all_pages(&driver, "big", query.clone()).await;
    let newest = all_pages(&driver, "big", query.order(Order::Newest)).await;
    assert_eq!(listed.len(), MANY);
    assert!(listed.iter().eq(newest.iter().rev()));

    // Leased 1,000 per reserve call: each batch shares one token, so the active set holds
    // thousand-way ties.
    let mut reserved = Vec::new();
    loop {
        let r = driver.reserve(&lane, 1000, LEASE).await.unwrap();
        if r.jobs.is_empty() {
            break;
        }
        reserved.extend(r.jobs);
    }
    let ids: Vec<JobId> = reserved.iter().map(|j| j.id.clone()).collect();
    assert_eq!(
        listed, ids,
        "ready jobs list in the order reserve takes them"
    );

    let query = JobQuery::new(JobState::Active).limit(700);
    let admin = driver.admin().unwrap();
    let first = admin.list_jobs("big", &query).await.unwrap();
    // The last job listed finishes: the next page goes on past its tied neighbours.
    let last = reserved
        .iter()
        .find(|j| j.id == first.jobs[699].id)
        .unwrap();
    assert_eq!(driver.ack(&lane, &[last.lease()]).await.unwrap(), [true]);
    let mut active: Vec<JobId> = first.jobs.into_iter().map(|j| j.id).collect();
    active.extend(all_pages(&driver, "big", query.cursor(first.next.unwrap())).await);
    assert_eq!(active.len(), MANY);
    let mut sorted = active.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), MANY, "no active job listed twice");
}

#[tokio::test]
async fn edited_cursors_are_refused_or_harmless() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = Lane::new("edited", "work").unwrap();
    let jobs = (0..4)
        .map(|n| job(&lane, json!({ "n": n })).priority(n as i8 - 2))
        .collect();
    driver.enqueue(jobs).await.unwrap();
    let admin = driver.admin().unwrap();
    for (state, cursor) in [
        (JobState::Ready, "ro|work=3,0,"),
        (JobState::Ready, "ro|work=1,-1,"),
        (JobState::Active, "ao|work=1,1,1"),
        (JobState::Failed, "fo|=0,-3,"),
    ] {
        let query = JobQuery::new(state).cursor(cursor);
        match admin.list_jobs("edited", &query).await {
            Err(queue_core::Error::InvalidQuery { reason }) => {
                assert!(reason.contains(cursor), "{reason}")
            }
            other => panic!("{cursor}: {other:?}"),
        }
    }
    // Positions the driver can read but never wrote start past every job or at an end; none
    // is a storage error.
    for (state, cursor) in [
        (JobState::Ready, "ro|work=0,5,nobody"),
        (JobState::Ready, "ro|work=2,-5,nobody"),
        (JobState::Scheduled, "so|work=0,-1,nobody"),
        (JobState::Ready, "ro|other=1,2,"),
    ] {
        let query = JobQuery::new(state).cursor(cursor);
        let page = admin.list_jobs("edited", &query).await;
        assert!(page.is_ok(), "{cursor}: {page:?}");
    }
}
