//! Queue statistics fed by a running worker: totals per handler and the current minute's
//! counts arrive in storage with the worker's periodic send, and the last ones at shutdown.

mod support;

use std::time::{Duration, SystemTime};

use queue_core::{job, unix_minute, JobError, RunCounts};
use serde::{Deserialize, Serialize};
use support::{eventually, memory_queue, start};

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct Work {
    fail: bool,
}

#[job(queue = "stats-runs", attempts = 2, backoff = "fixed(10ms)")]
async fn counted(work: Work) -> Result<(), JobError> {
    if work.fail {
        return Err(JobError::retry("refused"));
    }
    Ok(())
}

#[tokio::test]
async fn a_worker_sends_its_run_counts_to_storage() {
    let queue = memory_queue();
    for n in 0..12 {
        counted::dispatch(&queue, Work { fail: n % 4 == 0 })
            .await
            .unwrap();
    }
    let worker = start(
        queue
            .worker()
            .handlers(["counted"])
            .stats_every(Duration::from_millis(20)),
    );
    // 9 successes; 3 jobs fail twice each: a retry, then the failed list.
    let expected = RunCounts::new(9, 3, 3);
    let stats = eventually(LIMIT, || async {
        let stats = queue.stats("stats-runs").await.unwrap();
        (stats.total() == expected).then_some(stats)
    })
    .await;
    assert_eq!(stats.totals, vec![("counted".to_string(), expected)]);
    let now = unix_minute(SystemTime::now());
    assert_eq!(stats.minutes.len(), 60);
    assert!(stats.minutes.last().unwrap().minute >= now.saturating_sub(1));
    let in_window: RunCounts = stats.minutes.iter().fold(RunCounts::default(), |mut a, m| {
        a.add(m.runs);
        a
    });
    assert_eq!(in_window, expected, "the runs are in the last minutes");
    assert_eq!(stats.oldest_ready, None, "nothing waits");

    worker.shutdown().await.unwrap();
}

#[derive(Serialize, Deserialize)]
struct Quiet;

#[job(queue = "stats-shutdown")]
async fn quiet(_work: Quiet) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test]
async fn the_last_counts_are_sent_at_shutdown() {
    let queue = memory_queue();
    for _ in 0..5 {
        quiet::dispatch(&queue, Quiet).await.unwrap();
    }
    // No periodic send within the test: only the one at shutdown can bring the counts.
    let worker = start(
        queue
            .worker()
            .handlers(["quiet"])
            .stats_every(Duration::from_secs(3_600)),
    );
    support::until_counts(&queue, "stats-shutdown", LIMIT, |c| c.pending() == 0).await;
    assert_eq!(
        queue.stats("stats-shutdown").await.unwrap().total(),
        RunCounts::default()
    );
    worker.shutdown().await.unwrap();
    let stats = queue.stats("stats-shutdown").await.unwrap();
    assert_eq!(
        stats.totals,
        vec![("quiet".to_string(), RunCounts::new(5, 0, 0))]
    );
}
