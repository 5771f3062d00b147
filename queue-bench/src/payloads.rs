//! The big-payload phase (Redis): jobs carrying 1 KB, 10 KB, 100 KB and 1 MB of data, dispatched
//! in bulk and drained by a worker (concurrency 50), in MB/s of payload, beside `redis-benchmark`
//! SET and GET of values of the same size against the same server in the same run (50 clients,
//! no pipelining: one value per request, as a job is one payload per dispatch and per reserve).
//! Also the Redis memory each queued job takes beyond its payload.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Keep, Queue};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::jobs::BackgroundWorker;
use crate::measurements::PayloadRun;
use crate::probe::Snapshot;

/// Payload sizes measured, in bytes of data.
const SIZES: [usize; 4] = [1 << 10, 10 << 10, 100 << 10, 1 << 20];
/// Bytes of payload per size: the job count is this over the size (within `--jobs`).
const BUDGET: usize = 256 << 20;
/// Fewest jobs per size.
const FEWEST: usize = 200;
/// Bytes of payload per `dispatch_bulk` call.
const CALL_BYTES: usize = 8 << 20;

/// A job's payload: its number and `len` bytes of text.
#[derive(Serialize, Deserialize)]
pub(crate) struct Blob {
    id: u64,
    data: String,
}

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// Reads its payload (deserializing every byte) and counts itself.
#[job(queue = "bench-big", concurrency = 50, attempts = 1)]
pub(crate) async fn big(blob: Blob) -> Result<(), JobError> {
    std::hint::black_box(blob.data.len());
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

/// Measures each size on `queue`, with `client` reading the server's counters and
/// `redis-benchmark` at `binary` reaching it through `connection`.
pub(crate) async fn measure(
    queue: &Queue,
    client: &redis::Client,
    binary: &Path,
    connection: &[String],
    max_jobs: u64,
) -> Vec<PayloadRun> {
    // The default limit (512 KB) refuses the biggest size.
    let queue = &queue.clone().with_max_payload(2 << 20);
    let mut runs = Vec::new();
    for size in SIZES {
        let jobs = (BUDGET / size).max(FEWEST).min(max_jobs as usize) as u64;
        eprintln!("queue-bench: redis: {jobs} jobs of {} KB", size >> 10);
        queue.purge(big::DEFINITION.queue).await.expect("purge");
        let data = "x".repeat(size);
        let before = Snapshot::take(Some(client)).await;
        let started = Instant::now();
        let per_call = (CALL_BYTES / size).max(1) as u64;
        for from in (0..jobs).step_by(per_call as usize) {
            let chunk = (from..(from + per_call).min(jobs)).map(|id| {
                big::job(Blob {
                    id,
                    data: data.clone(),
                })
            });
            queue.dispatch_bulk(chunk).await.expect("bulk enqueue");
        }
        let enqueue = started.elapsed();
        let queued = Snapshot::take(Some(client)).await.since(&before);
        let payload_len = serde_json::to_vec(&Blob {
            id: 0,
            data: data.clone(),
        })
        .map_or(size, |v| v.len()) as f64;

        DONE.store(0, Ordering::SeqCst);
        TARGET.store(jobs, Ordering::SeqCst);
        let worker = BackgroundWorker::start(queue, &["big"], Keep::default());
        let started = Instant::now();
        loop {
            let woken = REACHED.notified();
            if DONE.load(Ordering::SeqCst) >= jobs {
                break;
            }
            woken.await;
        }
        let drain = started.elapsed();
        worker.stop().await;

        let raw = |command: &str| {
            let mut args: Vec<String> = connection.to_vec();
            args.extend(
                [
                    "-t",
                    &command.to_ascii_lowercase(),
                    "-d",
                    &size.to_string(),
                    "-n",
                    &jobs.max(1_000).to_string(),
                    "-c",
                    "50",
                ]
                .map(String::from),
            );
            crate::redis_benchmark::run(binary, &args, command)
                .unwrap_or_else(|e| panic!("big-payload baseline: {e}"))
        };
        let (set, get) = (raw("SET"), raw("GET"));
        let mb = |per_s: f64| per_s * size as f64 / 1e6;
        purge_values(client).await;
        runs.push(PayloadRun {
            payload_bytes: size as u64,
            jobs,
            enqueue_mb_per_s: mb(per_sec(jobs, enqueue)),
            drain_mb_per_s: mb(per_sec(jobs, drain)),
            set_mb_per_s: mb(set),
            get_mb_per_s: mb(get),
            memory_per_job_beyond_payload_bytes: queued
                .server
                .map(|server| server.memory / jobs as f64 - payload_len),
        });
    }
    queue.purge(big::DEFINITION.queue).await.expect("purge");
    runs
}

/// Deletes the key `redis-benchmark` SET wrote and has the allocator return its pages.
async fn purge_values(client: &redis::Client) {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let _: () = redis::cmd("DEL")
        .arg("key:__rand_int__")
        .query_async(&mut conn)
        .await
        .expect("DEL");
    let _: () = redis::cmd("MEMORY")
        .arg("PURGE")
        .query_async(&mut conn)
        .await
        .expect("MEMORY PURGE");
}

fn per_sec(jobs: u64, elapsed: Duration) -> f64 {
    jobs as f64 / elapsed.as_secs_f64()
}
