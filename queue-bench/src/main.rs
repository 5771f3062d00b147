//! `cargo run --release -p queue-bench -- [--jobs N] [--latency-jobs N] [--redis-url URL] [--driver memory|redis|all]`
//!
//! Measures, per driver: bulk enqueue, drain (N jobs queued first, concurrency 50, no-op
//! handler), end to end (producers and workers at once), and idle latency (dispatch to handler
//! start, one job at a time). For Redis it adds server CPU time and commands per job, from
//! `INFO cpu` and `INFO commandstats`. Without `--redis-url` it starts its own redis-server (no
//! persistence) on a free port. Prints a markdown table.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Queue};
use queue_memory::MemoryDriver;
use queue_redis::RedisDriver;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The payload of every benchmark job.
#[derive(Serialize, Deserialize)]
struct Signup {
    id: u64,
    email: String,
}

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// The no-op handler.
#[job(queue = "bench", concurrency = 50, attempts = 1)]
async fn noop(_signup: Signup) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

static LATENCIES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());
static PINGED: Notify = Notify::const_new();

/// Records how long after its dispatch it started; the payload is the dispatch time.
#[job(queue = "bench-latency", concurrency = 1, attempts = 1)]
async fn ping(sent_ns: u64) -> Result<(), JobError> {
    let now = epoch().elapsed().as_nanos() as u64;
    LATENCIES
        .lock()
        .unwrap()
        .push(Duration::from_nanos(now - sent_ns));
    PINGED.notify_one();
    Ok(())
}

/// Waits until `DONE` reaches `n`; a wake-up left over from an earlier phase only re-checks.
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

static LATENESS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// Records how late it started after its due time; the payload is the due time.
#[job(queue = "bench-delayed", concurrency = 10, attempts = 1)]
async fn due(due_ns: u64) -> Result<(), JobError> {
    let now = epoch().elapsed().as_nanos() as u64;
    LATENESS
        .lock()
        .unwrap()
        .push(Duration::from_nanos(now.saturating_sub(due_ns)));
    PINGED.notify_one();
    Ok(())
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e6;
    format!(
        "{:.0} µs / {:.0} µs / {:.0} µs",
        pct(0.5),
        pct(0.99),
        samples[samples.len() - 1].as_secs_f64() * 1e6
    )
}

fn signup(id: u64) -> queue_core::NewJob {
    noop::job(Signup {
        id,
        email: format!("user{id}@example.com"),
    })
}

struct Args {
    jobs: u64,
    latency_jobs: u64,
    redis_url: Option<String>,
    driver: String,
}

fn args() -> Args {
    let mut args = Args {
        jobs: 100_000,
        latency_jobs: 1_000,
        redis_url: None,
        driver: "all".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--jobs" => args.jobs = value.parse().expect("--jobs N"),
            "--latency-jobs" => args.latency_jobs = value.parse().expect("--latency-jobs N"),
            "--redis-url" => args.redis_url = Some(value),
            "--driver" => args.driver = value,
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// Redis server counters: CPU seconds (user + sys) and commands processed.
#[derive(Clone, Copy, Default)]
struct ServerStats {
    cpu: f64,
    commands: u64,
    memory: f64,
}

async fn server_stats(client: &Option<redis::Client>) -> Option<ServerStats> {
    let mut conn = client
        .as_ref()?
        .get_multiplexed_async_connection()
        .await
        .ok()?;
    let cpu: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn)
        .await
        .ok()?;
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .ok()?;
    let memory: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .ok()?;
    let used_memory = memory
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:")?.trim().parse().ok())
        .unwrap_or(0.0);
    let field = |name: &str| -> f64 {
        cpu.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    let commands = stats
        .lines()
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    Some(ServerStats {
        cpu: field("used_cpu_user") + field("used_cpu_sys"),
        commands,
        memory: used_memory,
    })
}

struct Row {
    what: String,
    value: String,
}

/// Runs every measurement on one queue and returns the table rows.
async fn measure(name: &str, queue: Queue, redis: Option<redis::Client>, a: &Args) -> Vec<Row> {
    let n = a.jobs;
    let mut rows = Vec::new();
    let mut row = |what: &str, value: String| {
        rows.push(Row {
            what: format!("{name}: {what}"),
            value,
        })
    };

    // Bulk enqueue.
    let s0 = server_stats(&redis).await;
    let t = Instant::now();
    for start in (0..n).step_by(1000) {
        queue
            .dispatch_bulk((start..(start + 1000).min(n)).map(signup))
            .await
            .expect("enqueue");
    }
    let enqueue = t.elapsed();
    let s1 = server_stats(&redis).await;
    row(
        "bulk enqueue",
        format!("{:.0} jobs/s", n as f64 / enqueue.as_secs_f64()),
    );

    // Drain.
    DONE.store(0, Ordering::SeqCst);
    let stop = tokio_util_like::Stop::new();
    let t = Instant::now();
    let worker = tokio::spawn(queue.worker().handlers(["noop"]).run_until(stop.wait()));
    until_done(n).await;
    let drain = t.elapsed();
    stop.fire();
    worker.await.unwrap().unwrap();
    let s2 = server_stats(&redis).await;
    row(
        "drain (concurrency 50)",
        format!("{:.0} jobs/s", n as f64 / drain.as_secs_f64()),
    );

    // End to end: four producers dispatching in batches of 100 while the worker runs.
    DONE.store(0, Ordering::SeqCst);
    let stop = tokio_util_like::Stop::new();
    let worker = tokio::spawn(queue.worker().handlers(["noop"]).run_until(stop.wait()));
    let t = Instant::now();
    let producers: Vec<_> = (0..4u64)
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
    for p in producers {
        p.await.unwrap();
    }
    until_done(n / 4 * 4).await;
    let e2e = t.elapsed();
    stop.fire();
    worker.await.unwrap().unwrap();
    row(
        "end to end (4 producers, batches of 100)",
        format!("{:.0} jobs/s", (n / 4 * 4) as f64 / e2e.as_secs_f64()),
    );

    // Idle latency, one job at a time.
    LATENCIES.lock().unwrap().clear();
    let stop = tokio_util_like::Stop::new();
    let worker = tokio::spawn(queue.worker().handlers(["ping"]).run_until(stop.wait()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..a.latency_jobs {
        let pinged = PINGED.notified();
        ping::dispatch(&queue, epoch().elapsed().as_nanos() as u64)
            .await
            .expect("dispatch");
        pinged.await;
    }
    stop.fire();
    worker.await.unwrap().unwrap();
    row(
        "idle latency p50 / p99 / max",
        percentiles(LATENCIES.lock().unwrap().clone()),
    );

    // Delayed jobs, one at a time with an idle worker: how late after the due time they start.
    LATENESS.lock().unwrap().clear();
    let stop = tokio_util_like::Stop::new();
    let worker = tokio::spawn(queue.worker().handlers(["due"]).run_until(stop.wait()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let delayed = (a.latency_jobs / 5).max(20);
    for i in 0..delayed {
        let delay = Duration::from_millis(20 + i % 30);
        let due_ns = (epoch().elapsed() + delay).as_nanos() as u64;
        let pinged = PINGED.notified();
        due::dispatch(&queue, due_ns)
            .delay(delay)
            .await
            .expect("dispatch");
        pinged.await;
    }
    // Idle: nothing queued, the worker waiting.
    let i0 = server_stats(&redis).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let i1 = server_stats(&redis).await;
    stop.fire();
    worker.await.unwrap().unwrap();
    row(
        &format!("delayed job lateness p50 / p99 / max ({delayed} jobs)"),
        percentiles(LATENESS.lock().unwrap().clone()),
    );
    if let (Some(i0), Some(i1)) = (i0, i1) {
        // The probe's own three INFO calls are excluded.
        let commands = (i1.commands - i0.commands).saturating_sub(3);
        row(
            "idle worker: Redis commands per second",
            format!("{:.2}", commands as f64 / 3.0),
        );
    }

    if let (Some(s0), Some(s1)) = (s0, s1) {
        let payload = serde_json_len(n);
        row(
            "Redis memory per queued job beyond its payload",
            format!(
                "{:.0} bytes (payload {payload:.0} bytes)",
                (s1.memory - s0.memory) / n as f64 - payload
            ),
        );
    }
    if let (Some(s0), Some(s1), Some(s2)) = (s0, s1, s2) {
        row(
            "Redis CPU per job: enqueue",
            format!("{:.2} µs", (s1.cpu - s0.cpu) * 1e6 / n as f64),
        );
        row(
            "Redis CPU per job: reserve + ack",
            format!("{:.2} µs", (s2.cpu - s1.cpu) * 1e6 / n as f64),
        );
        row(
            "Redis commands per job (enqueue + drain)",
            format!("{:.3}", (s2.commands - s0.commands) as f64 / n as f64),
        );
    }
    rows
}

/// Bytes of one benchmark payload on average, as JSON.
fn serde_json_len(n: u64) -> f64 {
    let total: usize = (0..n)
        .map(|id| format!(r#"{{"id":{id},"email":"user{id}@example.com"}}"#).len())
        .sum();
    total as f64 / n as f64
}

/// A tiny stop signal for `run_until`.
mod tokio_util_like {
    use std::sync::Arc;
    use tokio::sync::Notify;

    pub(crate) struct Stop(Arc<Notify>);
    impl Stop {
        pub(crate) fn new() -> Self {
            Stop(Arc::new(Notify::new()))
        }
        pub(crate) fn wait(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
            let n = self.0.clone();
            async move { n.notified().await }
        }
        pub(crate) fn fire(&self) {
            self.0.notify_one();
        }
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    epoch();
    let mut rows = Vec::new();
    if a.driver == "all" || a.driver == "memory" {
        let queue = Queue::new(Arc::new(MemoryDriver::new()));
        rows.extend(measure("memory", queue, None, &a).await);
    }
    let mut _own_server = None;
    if a.driver == "all" || a.driver == "redis" {
        let url = match &a.redis_url {
            Some(url) => url.clone(),
            None => {
                let s = server::RedisServer::start_with(&["--appendonly", "no"]);
                let url = s.url();
                _own_server = Some(s);
                url
            }
        };
        let driver = RedisDriver::connect(&format!("{url}?prefix=bench"))
            .await
            .expect("connect to Redis");
        let client = redis::Client::open(url.as_str()).ok();
        rows.extend(measure("redis", Queue::new(Arc::new(driver)), client, &a).await);
    }
    println!(
        "| measurement ({} jobs, {} latency samples) | result |",
        a.jobs, a.latency_jobs
    );
    println!("|---|---|");
    for r in rows {
        println!("| {} | {} |", r.what, r.value);
    }
}
