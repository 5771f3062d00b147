//! A handler can serve other queues than its own, so jobs dispatched with `.queue(..)` run.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, Error, JobError, Lane, NewJob};
use support::{eventually, memory_queue, start, until_counts};

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

#[tokio::test]
async fn jobs_no_live_worker_serves_are_listed_as_unserved() {
    let queue = memory_queue();
    queue
        .dispatch(NewJob::named("nobody_handles", "{}").queue("home"))
        .await
        .unwrap();
    served_elsewhere::dispatch(&queue, 0)
        .queue("elsewhere")
        .delay(Duration::from_secs(60))
        .await
        .unwrap();
    let lanes = |list: Vec<queue_core::Unserved>| -> Vec<String> {
        list.iter().map(|u| u.lane.to_string()).collect()
    };
    // No worker at all: every lane with waiting jobs is unserved.
    assert_eq!(
        lanes(queue.unserved().await.unwrap()),
        ["elsewhere/served_elsewhere", "home/nobody_handles"]
    );
    let worker = start(
        queue
            .worker()
            .handlers(["served_elsewhere"])
            .queues("served_elsewhere", ["home", "elsewhere"]),
    );
    let live = eventually(Duration::from_secs(5), || async {
        let workers = queue.workers().await.unwrap();
        (!workers.is_empty()).then_some(workers)
    })
    .await;
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0].lanes,
        [
            Lane::new("elsewhere", "served_elsewhere").unwrap(),
            Lane::new("home", "served_elsewhere").unwrap()
        ]
    );
    assert_eq!(live[0].pid, std::process::id());
    let unserved = queue.unserved().await.unwrap();
    assert_eq!(lanes(unserved.clone()), ["home/nobody_handles"]);
    assert_eq!(unserved[0].counts.ready, 1);
    worker.shutdown().await.unwrap();
    assert!(
        queue.workers().await.unwrap().is_empty(),
        "a stopped worker retires its record"
    );
}
