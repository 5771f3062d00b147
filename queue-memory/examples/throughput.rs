//! A fixed workload for profiling the memory driver's hot path, without the benchmark's other
//! phases (latency probes, idle sleeps) so that instruction counts are about jobs only.
//!
//! `cargo run --release -p queue-memory --example throughput -- <phase> <jobs> [threads]`
//!
//! - `enqueue`: bulk-enqueue `jobs` jobs in batches of 1,000, then exit.
//! - `drain`: the same, then run a worker (concurrency 50, no-op handler) until all are done.
//! - `e2e`: four producers dispatching batches of 100 while the worker runs.
//! - `warm-e2e`: enqueue and drain first (untimed), then `e2e` on the same queue, as the
//!   benchmark does; the queue's memory is then already grown.
//!
//! `threads` is the number of runtime worker threads (default 2; 0 means a current-thread
//! runtime, whose instruction counts do not depend on thread scheduling). For instructions per
//! job, run under `valgrind --tool=callgrind` at two job counts and divide the difference of
//! the totals by the difference of the counts, which cancels start-up costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use queue_core::{job, JobError, NewJob, Queue};
use queue_memory::MemoryDriver;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The benchmark's payload: `{"id":1,"email":"user1@example.com"}`.
#[derive(Serialize, Deserialize)]
struct Signup {
    id: u64,
    email: String,
}

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// The no-op handler, counting runs.
#[job(queue = "bench", concurrency = 50, attempts = 1)]
async fn noop(_signup: Signup) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

fn signup(id: u64) -> NewJob {
    noop::job(Signup {
        id,
        email: format!("user{id}@example.com"),
    })
}

/// Waits until the handler has run `n` times.
async fn until_done(n: u64) {
    TARGET.store(n, Ordering::SeqCst);
    loop {
        let woken = REACHED.notified();
        if DONE.load(Ordering::SeqCst) >= n {
            return;
        }
        woken.await;
    }
}

async fn enqueue(queue: &Queue, n: u64) {
    for start in (0..n).step_by(1000) {
        queue
            .dispatch_bulk((start..(start + 1000).min(n)).map(signup))
            .await
            .expect("enqueue");
    }
}

/// Runs a worker for `noop` until `n` jobs are done, with `produce` running alongside.
async fn work(queue: &Queue, n: u64, produce: impl std::future::Future<Output = ()>) {
    let stop = Arc::new(Notify::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.notified().await }
    };
    let worker = tokio::spawn(queue.worker().handlers(["noop"]).run_until(signal));
    produce.await;
    until_done(n).await;
    stop.notify_one();
    worker.await.expect("worker task").expect("worker");
}

async fn run(phase: &str, n: u64) {
    let queue = Queue::new(Arc::new(MemoryDriver::new()));
    let started = Instant::now();
    match phase {
        "enqueue" => enqueue(&queue, n).await,
        "drain" => {
            enqueue(&queue, n).await;
            work(&queue, n, async {}).await;
        }
        "e2e" | "warm-e2e" => {
            if phase == "warm-e2e" {
                // As in queue-bench, where end to end follows a drain of the same queue.
                enqueue(&queue, n).await;
                work(&queue, n, async {}).await;
                DONE.store(0, Ordering::SeqCst);
                TARGET.store(u64::MAX, Ordering::SeqCst);
            }
            let started = Instant::now();
            let n = n / 400 * 400;
            let producers = async {
                let tasks: Vec<_> = (0..4u64)
                    .map(|p| {
                        let queue = queue.clone();
                        tokio::spawn(async move {
                            let share = n / 4;
                            for start in (p * share..(p + 1) * share).step_by(100) {
                                queue
                                    .dispatch_bulk((start..start + 100).map(signup))
                                    .await
                                    .expect("enqueue");
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("producer");
                }
            };
            work(&queue, n, producers).await;
            let elapsed = started.elapsed();
            println!(
                "end to end: {n} jobs in {elapsed:.2?}, {:.0} jobs/s",
                n as f64 / elapsed.as_secs_f64()
            );
            return;
        }
        other => panic!("unknown phase {other}; expected enqueue, drain or e2e"),
    }
    let elapsed = started.elapsed();
    println!(
        "{phase}: {n} jobs in {elapsed:.2?}, {:.0} jobs/s",
        n as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let phase = args.first().map_or("e2e", String::as_str);
    let n: u64 = args.get(1).map_or(100_000, |s| s.parse().expect("jobs"));
    let threads: usize = args.get(2).map_or(2, |s| s.parse().expect("threads"));
    let runtime = match threads {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        t => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(t)
            .enable_all()
            .build(),
    }
    .expect("runtime");
    runtime.block_on(run(phase, n));
}
