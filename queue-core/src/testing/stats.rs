//! Conformance cases of queue statistics ([`Stats`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{job, unique_queue};
use crate::driver::{Driver, Stats};
use crate::job::{JobId, Lane, QueueStats, RunCounts, STATS_MINUTES};

/// A minute far from any clock: the statistics take the caller's minutes as given.
const M: u64 = 30_000_000;

fn stats(driver: &Arc<dyn Driver>) -> &dyn Stats {
    driver.stats().expect("the case needs statistics")
}

/// The counts `history` holds for `minute`.
fn at(history: &QueueStats, minute: u64) -> RunCounts {
    history
        .minutes
        .iter()
        .find(|m| m.minute == minute)
        .map(|m| m.runs)
        .unwrap_or_else(|| panic!("minute {minute} is not in the window: {history:?}"))
}

pub(super) async fn stats_record_totals_and_minutes(driver: Arc<dyn Driver>) {
    let queue = unique_queue("stats");
    let send = Lane::new(&queue, "send").unwrap();
    let build = Lane::new(&queue, "build").unwrap();
    let s = stats(&driver);
    s.record(&send, M - 3, RunCounts::new(4, 1, 2))
        .await
        .unwrap();
    s.record(&send, M, RunCounts::new(1, 0, 0)).await.unwrap();
    s.record(&build, M, RunCounts::new(2, 0, 1)).await.unwrap();
    s.record(&send, M, RunCounts::new(3, 2, 0)).await.unwrap();
    let other = Lane::new(&unique_queue("stats-other"), "send").unwrap();
    s.record(&other, M, RunCounts::new(100, 0, 0))
        .await
        .unwrap();

    let history = s.history(&queue, M).await.unwrap();
    assert_eq!(history.queue, queue);
    assert_eq!(
        history.totals,
        vec![
            ("build".to_string(), RunCounts::new(2, 0, 1)),
            ("send".to_string(), RunCounts::new(8, 3, 2)),
        ],
        "per job name, in name order"
    );
    assert_eq!(history.total(), RunCounts::new(10, 3, 3));
    let minutes: Vec<u64> = history.minutes.iter().map(|m| m.minute).collect();
    assert_eq!(minutes, (M + 1 - STATS_MINUTES..=M).collect::<Vec<_>>());
    assert_eq!(at(&history, M), RunCounts::new(6, 2, 1), "summed over jobs");
    assert_eq!(at(&history, M - 3), RunCounts::new(4, 1, 2));
    let busy = history.minutes.iter().filter(|m| !m.runs.is_zero()).count();
    assert_eq!(busy, 2, "missing minutes count zero: {history:?}");

    // A window ending earlier ends at its own minute.
    let earlier = s.history(&queue, M - 2).await.unwrap();
    assert_eq!(earlier.minutes.last().unwrap().minute, M - 2);
    assert_eq!(at(&earlier, M - 3), RunCounts::new(4, 1, 2));
    assert_eq!(earlier.totals, history.totals, "totals are all-time");

    let none = s.history(&unique_queue("stats-none"), M).await.unwrap();
    assert!(
        none.totals.is_empty() && none.oldest_ready.is_none(),
        "{none:?}"
    );
    assert_eq!(none.minutes.len(), STATS_MINUTES as usize);
    assert!(none.minutes.iter().all(|m| m.runs.is_zero()));
}

pub(super) async fn stats_forget_minutes_past_the_hour(driver: Arc<dyn Driver>) {
    let queue = unique_queue("stats-trim");
    let lane = Lane::new(&queue, "send").unwrap();
    let s = stats(&driver);
    s.record(&lane, M, RunCounts::new(5, 0, 0)).await.unwrap();
    s.record(&lane, M + 59, RunCounts::new(1, 0, 0))
        .await
        .unwrap();
    let before = s.history(&queue, M + 59).await.unwrap();
    assert_eq!(at(&before, M), RunCounts::new(5, 0, 0), "an hour is kept");
    // The first minute past the hour is forgotten, not only out of the window.
    s.record(&lane, M + 60, RunCounts::new(1, 0, 0))
        .await
        .unwrap();
    let old = s.history(&queue, M).await.unwrap();
    assert_eq!(at(&old, M), RunCounts::default(), "{old:?}");
    let now = s.history(&queue, M + 60).await.unwrap();
    assert_eq!(at(&now, M + 59), RunCounts::new(1, 0, 0));
    assert_eq!(at(&now, M + 60), RunCounts::new(1, 0, 0));
    assert_eq!(
        now.total(),
        RunCounts::new(7, 0, 0),
        "totals keep everything"
    );
    // A late record of a forgotten minute still counts in the totals.
    s.record(&lane, M - 5, RunCounts::new(0, 1, 0))
        .await
        .unwrap();
    let late = s.history(&queue, M + 60).await.unwrap();
    assert_eq!(late.total(), RunCounts::new(7, 1, 0));
    assert_eq!(late.minutes, now.minutes);
}

pub(super) async fn stats_oldest_ready_at_the_lanes_heads(driver: Arc<dyn Driver>) {
    let queue = unique_queue("stats-oldest");
    let a = Lane::new(&queue, "a").unwrap();
    let b = Lane::new(&queue, "b").unwrap();
    let s = stats(&driver);
    assert_eq!(s.history(&queue, M).await.unwrap().oldest_ready, None);
    let mut ids = Vec::new();
    for new in [
        job(&a, json!(1)),
        job(&b, json!(2)).priority(5),
        job(&b, json!(3)),
    ] {
        ids.push(driver.enqueue(vec![new]).await.unwrap()[0].id.clone());
        // Creation times are kept in milliseconds: keep them apart.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let created = |id: JobId| {
        let driver = driver.clone();
        let queue = queue.clone();
        async move {
            let admin = driver.admin().expect("the case needs inspection");
            admin.job(&queue, &id).await.unwrap().unwrap().created_at
        }
    };
    let oldest = s.history(&queue, M).await.unwrap().oldest_ready;
    assert_eq!(oldest, Some(created(ids[0].clone()).await));
    // Lane a drained: lane b's heads, its priority job first created.
    let taken = driver
        .reserve(&a, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(taken.jobs.len(), 1);
    let oldest = s.history(&queue, M).await.unwrap().oldest_ready;
    assert_eq!(oldest, Some(created(ids[1].clone()).await));
    let taken = driver
        .reserve(&b, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(taken.jobs[0].id, ids[1]);
    let oldest = s.history(&queue, M).await.unwrap().oldest_ready;
    assert_eq!(oldest, Some(created(ids[2].clone()).await));
    driver
        .reserve(&b, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(s.history(&queue, M).await.unwrap().oldest_ready, None);
}
