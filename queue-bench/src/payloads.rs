//! The big-payload phase (Redis): jobs carrying 1 KB, 10 KB, 100 KB and 1 MB of data, dispatched
//! in bulk by one producer, then again one job per dispatch by [`PRODUCERS`] concurrent
//! producers, and drained by a worker (concurrency 50), in MB/s of payload, beside
//! `redis-benchmark` SET and GET of values of the same size against the same server in the same
//! run (50 clients, no pipelining: one value per request, as a job is one payload per dispatch
//! and per reserve). The one-by-one dispatch has the raw SET's shape (as many clients, one value
//! each; the driver may still send the dispatches that meet in one moment as one call, as it
//! does for any application), so the dispatch + drain trip is set against raw SET + GET with
//! it. `redis-benchmark`'s
//! SET writes one key over and over, so its memory never grows; it runs a second time with one
//! request per job on keys drawn from a billion (all but a few distinct), which, like a queue,
//! keeps every value it is sent.
//! Also the Redis memory each queued job takes beyond its payload.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Keep, Queue};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::args::PayloadText;
use crate::jobs::BackgroundWorker;
use crate::measurements::{JobCpu, PayloadRun};
use crate::phases::WORKER_START;
use crate::probe::Snapshot;

/// Payload sizes measured, in bytes of data.
const SIZES: [usize; 4] = [1 << 10, 10 << 10, 100 << 10, 1 << 20];
/// Bytes of payload per size: the job count is this over the size (within `--jobs`).
const BUDGET: usize = 256 << 20;
/// Fewest jobs per size.
const FEWEST: usize = 200;
/// Bytes of payload per `dispatch_bulk` call.
const CALL_BYTES: usize = 8 << 20;
/// Concurrent producers of the one-by-one dispatch: as many as `redis-benchmark`'s clients.
const PRODUCERS: u64 = 50;

/// A job's payload: its number and `len` bytes of text (dispatched borrowed from one string
/// per size, so the producers copy nothing the raw SET does not; read back owned).
#[derive(Serialize, Deserialize)]
pub(crate) struct Blob {
    id: u64,
    data: Cow<'static, str>,
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
    text: PayloadText,
) -> Vec<PayloadRun> {
    // The default limit (512 KB) refuses the biggest size.
    let queue = &queue.clone().with_max_payload(2 << 20);
    let mut runs = Vec::new();
    for size in SIZES {
        let jobs = (BUDGET / size).max(FEWEST).min(max_jobs as usize) as u64;
        eprintln!("queue-bench: redis: {jobs} jobs of {} KB", size >> 10);
        queue.purge(big::DEFINITION.queue).await.expect("purge");
        // Leaked: one string per size for the whole run, borrowed by every job.
        let data: &'static str = payload_text(text, size).leak();
        let started = Instant::now();
        let per_call = (CALL_BYTES / size).max(1) as u64;
        for from in (0..jobs).step_by(per_call as usize) {
            let chunk = (from..(from + per_call).min(jobs)).map(|id| {
                big::job(Blob {
                    id,
                    data: Cow::Borrowed(data),
                })
            });
            queue.dispatch_bulk(chunk).await.expect("bulk enqueue");
        }
        let enqueue = started.elapsed();
        queue.purge(big::DEFINITION.queue).await.expect("purge");

        let before = Snapshot::take(Some(client)).await;
        let started = Instant::now();
        one_by_one(queue, jobs, data).await;
        let one_by_one = started.elapsed();
        let queued = Snapshot::take(Some(client)).await.since(&before);
        let payload_len = serde_json::to_vec(&Blob {
            id: 0,
            data: Cow::Borrowed(data),
        })
        .map_or(size, |v| v.len()) as f64;

        DONE.store(0, Ordering::SeqCst);
        TARGET.store(jobs, Ordering::SeqCst);
        // As the drain phase counts its CPU: the worker starts on the paused queue and waits
        // there first, so its start-up is left out, and the acks its stop settles are counted.
        let name = big::DEFINITION.queue;
        queue.pause(name).await.expect("pause");
        let worker = BackgroundWorker::start(queue, &["big"], Keep::default());
        tokio::time::sleep(WORKER_START).await;
        let before = Snapshot::take(Some(client)).await;
        let started = Instant::now();
        queue.resume(name).await.expect("resume");
        loop {
            let woken = REACHED.notified();
            if DONE.load(Ordering::SeqCst) >= jobs {
                break;
            }
            woken.await;
        }
        let drain = started.elapsed();
        worker.stop().await;
        let drained = Snapshot::take(Some(client)).await.since(&before);

        // `distinct`: one request per job, each on a key drawn from a billion (`-r` draws
        // with repeats: from as many keys as requests, only ~63% would be distinct), so the
        // server keeps every value, as a queue keeps every job.
        let raw = |command: &str, distinct: bool| {
            let mut args: Vec<String> = connection.to_vec();
            let requests = if distinct { jobs } else { jobs.max(1_000) };
            if distinct {
                args.extend(["-r".to_string(), "1000000000".to_string()]);
            }
            args.extend(
                [
                    "-t",
                    &command.to_ascii_lowercase(),
                    "-d",
                    &size.to_string(),
                    "-n",
                    &requests.to_string(),
                    "-c",
                    "50",
                ]
                .map(String::from),
            );
            crate::redis_benchmark::run(binary, &args, command)
                .unwrap_or_else(|e| panic!("big-payload baseline: {e}"))
        };
        let (set, get) = (raw("SET", false), raw("GET", false));
        let set_distinct = raw("SET", true);
        let mb = |per_s: f64| per_s * size as f64 / 1e6;
        purge_values(client).await;
        runs.push(PayloadRun {
            payload_bytes: size as u64,
            jobs,
            enqueue_mb_per_s: mb(per_sec(jobs, enqueue)),
            one_by_one_mb_per_s: mb(per_sec(jobs, one_by_one)),
            drain_mb_per_s: mb(per_sec(jobs, drain)),
            set_mb_per_s: mb(set),
            set_distinct_mb_per_s: mb(set_distinct),
            get_mb_per_s: mb(get),
            memory_per_job_beyond_payload_bytes: queued
                .server
                .map(|server| server.memory / jobs as f64 - payload_len),
            one_by_one_cpu: JobCpu::of(&queued, jobs),
            drain_cpu: JobCpu::of(&drained, jobs),
        });
    }
    queue.purge(big::DEFINITION.queue).await.expect("purge");
    runs
}

/// Words the `words` text is made of.
const WORDS: [&str; 32] = [
    "account",
    "order",
    "shipped",
    "pending",
    "invoice",
    "customer",
    "email",
    "amount",
    "total",
    "currency",
    "EUR",
    "USD",
    "item",
    "sku",
    "quantity",
    "price",
    "discount",
    "address",
    "street",
    "city",
    "berlin",
    "paris",
    "status",
    "created",
    "updated",
    "note",
    "gift",
    "express",
    "standard",
    "warehouse",
    "refund",
    "true",
];

/// `size` bytes of the text `text` (see [`PayloadText`]).
fn payload_text(text: PayloadText, size: usize) -> String {
    match text {
        PayloadText::Letters => "x".repeat(size),
        PayloadText::Words => {
            // A fixed-seed xorshift: the same text every run.
            let mut state = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut out = String::with_capacity(size + 64);
            while out.len() < size {
                let r = next();
                let word = WORDS[(r % WORDS.len() as u64) as usize];
                out.push_str(word);
                out.push('=');
                out.push_str(&(r >> 40).to_string());
                out.push(if r & 7 == 0 { '\n' } else { ' ' });
            }
            out.truncate(size);
            out
        }
    }
}

/// Dispatches jobs `0..jobs` carrying `data`, one per `dispatch` call, from [`PRODUCERS`]
/// concurrent tasks.
async fn one_by_one(queue: &Queue, jobs: u64, data: &'static str) {
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let queue = queue.clone();
            tokio::spawn(async move {
                for id in (p..jobs).step_by(PRODUCERS as usize) {
                    let blob = Blob {
                        id,
                        data: Cow::Borrowed(data),
                    };
                    big::dispatch(&queue, blob).await.expect("enqueue");
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.expect("producer panicked");
    }
}

/// Deletes the keys `redis-benchmark` SET wrote (`key:__rand_int__`, and `key:<n>` of its runs
/// on distinct keys) and has the allocator return their pages.
async fn purge_values(client: &redis::Client) {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("key:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("UNLINK");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let _: () = redis::cmd("MEMORY")
        .arg("PURGE")
        .query_async(&mut conn)
        .await
        .expect("MEMORY PURGE");
}

fn per_sec(jobs: u64, elapsed: Duration) -> f64 {
    jobs as f64 / elapsed.as_secs_f64()
}
