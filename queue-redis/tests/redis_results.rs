//! Handlers that keep what they did, run by a worker on a real Redis: results awaited and read,
//! completed jobs kept and trimmed by count, through the path a driver takes when it completes
//! apart from its reserves.

mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, JobError, JobQuery, JobState, Order, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;

#[job(queue = "kept", keep_result = "1h", keep_completed = 5)]
async fn square(n: u64) -> Result<u64, JobError> {
    Ok(n * n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_keeps_results_and_the_last_completed_jobs() {
    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    let queue = Queue::new(Arc::new(driver));
    let stored = queue
        .dispatch_bulk((1..=20).map(square::job))
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["square"])
            .run_until(stop.clone().cancelled_owned()),
    );
    for (n, dispatched) in (1u64..=20).zip(&stored) {
        let got: u64 = queue
            .wait_result("kept", &dispatched.id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(got, n * n);
    }
    // The completions of a batch may trail its results' reads by a moment: wait for the trim.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts = queue.counts("kept").await.unwrap();
        if counts.completed == 5 && counts.active == 0 && counts.ready == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();

    let page = queue
        .jobs(
            "kept",
            JobQuery::new(JobState::Completed).order(Order::Newest),
        )
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 5);
    assert!(page.jobs.iter().all(|j| j.state == JobState::Completed));
    // Each kept job holds its own result (which jobs finished last depends on how the batches
    // ran).
    for kept in &page.jobs {
        let job = queue.job("kept", &kept.id).await.unwrap().expect("kept");
        let n: u64 = serde_json::from_slice(&job.payload).unwrap();
        let result: u64 = serde_json::from_slice(job.result.as_deref().expect("a result")).unwrap();
        assert_eq!(result, n * n, "job {}", kept.id);
    }
}
