//! Listing cursors edited by hand: every position the driver cannot use is an error naming
//! the cursor, never a panic or a page from somewhere else.

use std::sync::Arc;

use queue_core::testing::job;
use queue_core::{Driver, Error, JobQuery, JobState, Lane};
use queue_memory::MemoryDriver;
use serde_json::json;

#[tokio::test]
async fn edited_cursors_are_refused() {
    let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let lane = Lane::new("edited", "work").unwrap();
    let jobs = (0..4)
        .map(|n| job(&lane, json!({ "n": n })).priority(n as i8 - 2))
        .collect();
    driver.enqueue(jobs).await.unwrap();
    let admin = driver.admin().unwrap();
    let refused = [
        (JobState::Ready, "ro|work=3,0,"),       // no such phase
        (JobState::Ready, "ro|work=1,-1,"),      // a negative index
        (JobState::Ready, "ro|work=0,5,1"),      // a negative priority's key in phase 0
        (JobState::Ready, "ro|work=2,-5,1"),     // a positive priority's key in phase 2
        (JobState::Ready, "ro|work=0,0,1"),      // priority 0 is not in the map
        (JobState::Ready, "ro|work=0,-70000,1"), // not a priority
        (JobState::Ready, "ro|work=0,-1,x"),     // not a rank
        (JobState::Scheduled, "so|work=0,-1,1"), // a negative due time
        (JobState::Active, "ao|work=1,1,1"),     // no such phase
        (JobState::Failed, "fo|=0,-3,"),         // a negative index
    ];
    for (state, cursor) in refused {
        let query = JobQuery::new(state).cursor(cursor);
        match admin.list_jobs("edited", &query).await {
            Err(Error::InvalidQuery { reason }) => {
                assert!(reason.contains(cursor), "{reason}")
            }
            other => panic!("{cursor}: {other:?}"),
        }
    }
    // A lane the cursor names that the queue does not have is passed over.
    let query = JobQuery::new(JobState::Ready).cursor("ro|other=1,2,");
    let page = admin.list_jobs("edited", &query).await.unwrap();
    assert_eq!(page.jobs.len(), 4);
}

/// Completed jobs deleted behind one that is still kept leave no trace that a listing has to
/// go through: the first page of the newest completed jobs holds the kept one.
#[tokio::test]
async fn deleted_completed_jobs_do_not_pile_up_behind_a_kept_one() {
    use queue_core::testing::reserve_n;
    use queue_core::{Completion, Keep, Order};
    use std::time::Duration;

    let driver: Arc<dyn Driver> = Arc::new(MemoryDriver::new());
    let lane = Lane::new("piled", "work").unwrap();
    let n = 2001;
    let jobs = (0..n).map(|i| job(&lane, json!({ "n": i }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let reserved = reserve_n(
        &driver,
        &lane,
        n,
        Duration::from_secs(30),
        Duration::from_secs(5),
    )
    .await;
    let keep = Keep {
        completed: 1,
        ..Keep::default()
    };
    let retention = driver.retention().unwrap();
    let admin = driver.admin().unwrap();
    // The first completes and stays; each later one completes and is deleted at once.
    for (i, job) in reserved.iter().enumerate() {
        let done = [Completion {
            lease: job.lease(),
            result: None,
        }];
        if i > 0 {
            // Room for one more, so the first is not trimmed.
            let keep = Keep {
                completed: 2,
                ..Keep::default()
            };
            retention.complete(&lane, &done, &keep).await.unwrap();
            assert!(admin.delete("piled", &job.id).await.unwrap());
        } else {
            retention.complete(&lane, &done, &keep).await.unwrap();
        }
    }
    assert_eq!(admin.counts("piled").await.unwrap().completed, 1);
    let query = JobQuery::new(JobState::Completed)
        .order(Order::Newest)
        .limit(10);
    let page = admin.list_jobs("piled", &query).await.unwrap();
    let ids: Vec<_> = page.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids, [reserved[0].id.clone()]);
    assert!(page.next.is_none());
}
