//! A handler can serve other queues than its own, so jobs dispatched with `.queue(..)` run.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, Error, JobError};
use support::{memory_queue, start, until_counts};

static RAN: AtomicU32 = AtomicU32::new(0);

#[job(queue = "home")]
async fn served_elsewhere(n: u32) -> Result<(), JobError> {
    RAN.fetch_add(n, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_job_sent_to_another_queue_runs_where_a_worker_serves_it() {
    let queue = memory_queue();
    served_elsewhere::dispatch(&queue, 1).await.unwrap();
    served_elsewhere::dispatch(&queue, 10)
        .queue("away")
        .await
        .unwrap();
    let builder = queue
        .worker()
        .handlers(["served_elsewhere"])
        .queues("served_elsewhere", ["home", "away"]);
    let lanes: Vec<String> = builder
        .build()
        .unwrap()
        .lanes()
        .iter()
        .map(|(lane, _)| lane.to_string())
        .collect();
    assert_eq!(lanes, ["away/served_elsewhere", "home/served_elsewhere"]);
    let worker = start(
        queue
            .worker()
            .handlers(["served_elsewhere"])
            .queues("served_elsewhere", ["home", "away"]),
    );
    for name in ["home", "away"] {
        until_counts(&queue, name, Duration::from_secs(5), |c| c.pending() == 0).await;
    }
    worker.shutdown().await.unwrap();
    assert_eq!(RAN.load(Ordering::SeqCst), 11);
}

#[test]
fn serving_no_queue_is_refused_at_build() {
    let queue = memory_queue();
    let error = queue
        .worker()
        .queues("served_elsewhere", Vec::<String>::new())
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }));
    assert_eq!(
        error.to_string(),
        "invalid worker configuration: handler `served_elsewhere` was given no queue to serve"
    );
    let unknown = queue
        .worker()
        .queues("no_such_handler", ["x"])
        .build()
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "no handler registered for job `no_such_handler`"
    );
}
