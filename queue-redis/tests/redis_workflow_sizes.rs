//! A workflow of 10,000 steps and a batch of 100,000 jobs dispatch and complete on a real
//! Redis with no script call growing with them: every call is chunked, and the server's slow
//! log (threshold 250 ms) stays empty. Not timed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::flow::{end_step, FlowState, StepOutcome};
use queue_core::{Batch, Driver, Lane, NewJob, Queue, Workflow};
use queue_redis::RedisDriver;
use support::RedisServer;

const LEASE: Duration = Duration::from_secs(600);

async fn setup() -> (RedisServer, Arc<dyn Driver>, Queue) {
    let server =
        RedisServer::start_with(&["--appendonly", "no", "--slowlog-log-slower-than", "250000"]);
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let queue = Queue::new(driver.clone());
    (server, driver, queue)
}

fn job(lane: &Lane, n: usize) -> NewJob {
    NewJob::named(lane.job(), format!("{n}")).queue(lane.queue())
}

/// Runs every job of `lanes` as a worker would (ended in its workflow, then acked) until
/// `expected` jobs ran and the lanes are empty.
async fn run_all(driver: &Arc<dyn Driver>, lanes: &[Lane], expected: usize) {
    let mut ran = 0;
    loop {
        let mut got = 0;
        for lane in lanes {
            let r = driver.reserve(lane, 1000, LEASE).await.unwrap();
            got += r.jobs.len();
            for job in &r.jobs {
                let value = Some(bytes::Bytes::from_static(b"1"));
                end_step(driver, &job.id, StepOutcome::Succeeded(value))
                    .await
                    .unwrap();
            }
            let leases: Vec<_> = r.jobs.iter().map(|j| j.lease()).collect();
            for chunk in leases.chunks(500) {
                assert!(driver.ack(lane, chunk).await.unwrap().iter().all(|a| *a));
            }
        }
        ran += got;
        if got == 0 {
            break;
        }
    }
    assert_eq!(ran, expected);
}

fn slow_calls(server: &RedisServer) -> usize {
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let entries: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(10)
        .query(&mut conn)
        .unwrap();
    for entry in &entries {
        eprintln!("slow: {entry:?}");
    }
    entries.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_of_ten_thousand_steps_completes() {
    let (server, driver, queue) = setup().await;
    let lane = Lane::new("big-flow", "step").unwrap();
    // 100 chains of 100 steps each, joined by one last step.
    let mut flow = Workflow::new();
    for c in 0..100 {
        for s in 0..100 {
            let name = format!("c{c}-s{s}");
            flow = if s == 0 {
                flow.step(&name, job(&lane, s))
            } else {
                flow.step_after(&name, &[&format!("c{c}-s{}", s - 1)], job(&lane, s))
            };
        }
    }
    let ends: Vec<String> = (0..100).map(|c| format!("c{c}-s99")).collect();
    let ends: Vec<&str> = ends.iter().map(String::as_str).collect();
    let flow = flow.step_after("join", &ends, job(&lane, 0));
    assert_eq!(flow.len(), 10_001);
    let id = queue.dispatch_workflow(flow).await.unwrap();
    run_all(&driver, &[lane], 10_001).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!((info.state, info.succeeded), (FlowState::Succeeded, 10_001));
    assert!(queue.delete_workflow(&id).await.unwrap());
    assert_eq!(
        slow_calls(&server),
        0,
        "a script call took longer than 250 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_callback_after_a_hundred_thousand_jobs() {
    let (server, driver, queue) = setup().await;
    let lane = Lane::new("big-batch", "item").unwrap();
    let callbacks = Lane::new("big-batch", "callback").unwrap();
    let batch = Batch::new()
        .jobs((0..100_000).map(|n| job(&lane, n)))
        .on_complete(job(&callbacks, 0))
        .on_success(job(&callbacks, 1));
    let id = queue.dispatch_batch(batch).await.unwrap();
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!((info.total, info.unresolved()), (100_002, 100_002));
    run_all(&driver, &[lane, callbacks], 100_002).await;
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 100_002)
    );
    assert!(queue.delete_workflow(&id).await.unwrap());
    assert_eq!(
        slow_calls(&server),
        0,
        "a script call took longer than 250 ms"
    );
}
