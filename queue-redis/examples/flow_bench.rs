//! What a workflow step costs to complete on Redis, against a plain job: the same no-op handler
//! run by one worker (concurrency 50) as plain jobs, as a batch's jobs, as a chain of steps
//! (each released by the one before) and as a fan-out and fan-in.
//!
//! `cargo run --release -p queue-redis --example flow_bench -- [jobs]` (default 20,000 jobs;
//! the chain is a tenth of it). Uses `REDIS_URL` when set, otherwise starts its own
//! `redis-server` (no persistence) on a free port. Prints a `| measurement | value |` table.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::flow::FlowId;
use queue_core::{job, Batch, JobError, Queue, Workflow};
use queue_redis::RedisDriver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// The no-op handler, counting runs.
#[job(queue = "flow-bench", concurrency = 50, attempts = 1)]
async fn bench_noop(_n: u64) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

/// A redis-server of our own, stopped on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is not installed: install it (`apt-get install redis-server`) or set REDIS_URL");
    let url = format!("redis://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    (Server(child), url)
}

/// Starts a worker and returns the time until it ran `jobs` no-op runs (dispatched before),
/// after which workflow `flow` (if any) must have succeeded.
async fn drain(queue: &Queue, jobs: u64, flow: Option<FlowId>) -> Duration {
    DONE.store(0, Ordering::SeqCst);
    TARGET.store(jobs, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let reached = REACHED.notified();
    let started = Instant::now();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["bench_noop"])
            .run_until(stop.clone().cancelled_owned()),
    );
    reached.await;
    let elapsed = started.elapsed();
    if let Some(flow) = flow {
        let info = queue
            .wait_workflow(&flow, Duration::from_secs(60))
            .await
            .expect("the workflow ends");
        assert_eq!(info.succeeded, info.total);
    }
    stop.cancel();
    worker.await.expect("worker").expect("worker ran");
    elapsed
}

fn per(d: Duration, n: u64) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let jobs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let chain = (jobs / 10).max(2);
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let (server, url) = start_server();
            (Some(server), url)
        }
    };
    let driver = RedisDriver::connect(&url).await.expect("connect");
    let queue = Queue::new(Arc::new(driver));

    let started = Instant::now();
    for start in (0..jobs).step_by(1000) {
        let chunk = (start..(start + 1000).min(jobs)).map(bench_noop::job);
        queue.dispatch_bulk(chunk).await.expect("dispatch");
    }
    let dispatch_plain = started.elapsed();
    let plain = drain(&queue, jobs, None).await;

    let started = Instant::now();
    let batch_id = queue
        .dispatch_batch(Batch::new().jobs((0..jobs).map(bench_noop::job)))
        .await
        .expect("dispatch");
    let dispatch_batch = started.elapsed();
    let batch = drain(&queue, jobs, Some(batch_id)).await;

    let mut flow = Workflow::new().step("s0", bench_noop::job(0));
    for i in 1..chain {
        flow = flow.step_after(
            &format!("s{i}"),
            &[&format!("s{}", i - 1)],
            bench_noop::job(i),
        );
    }
    let chain_id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let chained = drain(&queue, chain, Some(chain_id)).await;

    let mut flow = Workflow::new().step("split", bench_noop::job(0));
    let parts: Vec<String> = (0..jobs).map(|i| format!("part-{i}")).collect();
    for (i, part) in parts.iter().enumerate() {
        flow = flow.step_after(part, &["split"], bench_noop::job(i as u64));
    }
    let all: Vec<&str> = parts.iter().map(String::as_str).collect();
    flow = flow.step_after("merge", &all, bench_noop::job(0));
    let fan_id = queue.dispatch_workflow(flow).await.expect("dispatch");
    let fan = drain(&queue, jobs + 2, Some(fan_id)).await;

    println!("| measurement | value |");
    println!("| --- | --- |");
    println!("| jobs per run | {jobs} |");
    println!(
        "| plain jobs: dispatch in bulk | {} per job |",
        per(dispatch_plain, jobs)
    );
    println!(
        "| batch: dispatch (steps stored, handed to the lane) | {} per job |",
        per(dispatch_batch, jobs)
    );
    println!(
        "| plain jobs: run and complete | {} per job |",
        per(plain, jobs)
    );
    println!(
        "| batch steps: run and complete | {} per step |",
        per(batch, jobs)
    );
    println!(
        "| completion overhead of a step over a plain job | {} per step |",
        per(batch.saturating_sub(plain), jobs)
    );
    println!(
        "| chain of {chain} steps, each released by the one before | {} per step |",
        per(chained, chain)
    );
    println!(
        "| fan-out to {jobs} steps and fan-in | {} per step |",
        per(fan, jobs + 2)
    );
}
