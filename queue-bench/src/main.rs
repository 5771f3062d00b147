//! `cargo run --release -p queue-bench -- [--jobs N] [--latency-jobs N] [--driver memory|redis|all] [--redis-url URL] [--scaling-max N] [--json PATH] [--only limited]`
//!
//! Measures, per driver: bulk enqueue, enqueue one by one from 50 producers, drain (N jobs
//! queued first, concurrency 50, no-op handler), end to end (producers and workers at once),
//! this process's CPU per job over the drain and over end to end (getrusage), latency (dispatch
//! to handler start, one job at a time: back to back, then a pause apart so the worker is idle
//! when each comes), lateness of delayed jobs, and this process's
//! CPU while idle. For Redis it adds server CPU time, commands and memory per job, from `INFO cpu`,
//! `INFO commandstats` and `INFO memory`, and the commands an idle worker sends. Then the
//! scaling phases drain 10k, 100k and 1M queued jobs (up to `--scaling-max`), and 100k ready jobs
//! beside 1M delayed ones, to show whether the per-job cost holds as the backlog grows.
//!
//! Before and after the Redis phases it runs `redis-benchmark` against the same server (pipelined
//! LPUSH and RPOP, EVALSHA of a one-command script) and reports the Redis throughput and CPU
//! figures also as fractions of that baseline, which compare across days and machines (see
//! `baseline.rs` for what is divided by what).
//!
//! `--only limited` runs the rate-limited phase alone on each driver (no baseline).
//!
//! Without `--redis-url` it starts its own redis-server (no persistence) on a free port. Prints
//! a markdown report (machine, date, command, a table with the targets, a scaling table)
//! on stdout and progress on stderr; `--json PATH` writes the same measurements as JSON.
//!
//! The example `worker_instructions` counts the memory driver's worker in instructions (under
//! valgrind's callgrind), bare and with the `--observe` set-up, where CPU time drifts too much
//! to compare small changes.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod server;

mod args;
mod baseline;
mod delay_proxy;
mod jobs;
mod limited;
mod machine;
mod many;
mod measurements;
mod network;
mod numbers;
mod observed;
mod payloads;
mod phases;
mod probe;
mod redis_benchmark;
mod report;
mod targets;

use std::sync::Arc;

use queue_core::Queue;
use queue_memory::MemoryDriver;
use queue_redis::RedisDriver;

use crate::args::{Args, Only};
use crate::baseline::Baseline;
use crate::machine::Machine;
use crate::measurements::{DriverReport, RunInfo};
use crate::phases::Bench;

/// Parses the flags, measures each driver asked for, prints the report (and writes the JSON).
#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.only == Some(Only::Limited) {
        return only_limited(&args).await;
    }
    // Found first, so that a missing redis-benchmark stops the run before anything is measured.
    let benchmark = args.redis.then(redis_benchmark::binary);
    jobs::epoch();
    let mut run = run_info(&args);
    let mut reports = measure(&args, false, benchmark.as_deref(), &mut run).await;
    if args.observe {
        observed::install();
        reports.extend(measure(&args, true, benchmark.as_deref(), &mut run).await);
    }
    print!("{}", report::markdown(&run, &reports));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json(&run, &reports))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("queue-bench: wrote {}", path.display());
    }
}

/// The run's description, before any measurement.
fn run_info(args: &Args) -> RunInfo {
    RunInfo {
        date: machine::utc_now(),
        command: machine::command_line(),
        machine: Machine::read(),
        redis_server: None,
        redis_server_version: None,
        jobs: args.jobs,
        latency_jobs: args.latency_jobs,
        scaling_max: args.scaling_max,
    }
}

/// `--only limited`: the rate-limited phase alone on each driver asked for; prints its report
/// (and writes the JSON).
async fn only_limited(args: &Args) {
    let mut run = run_info(args);
    let mut runs = Vec::new();
    if args.memory {
        eprintln!("queue-bench: memory: rate-limited drain");
        let queue = Queue::new(Arc::new(MemoryDriver::new()));
        runs.push(("memory", limited::measure(&queue, None).await));
    }
    if args.redis {
        let (url, _own_server) = redis_server(args);
        let client = redis::Client::open(url.as_str()).expect("a valid Redis URL");
        describe_redis(&client, &url, args, &mut run).await;
        let driver = RedisDriver::connect(&bench_url(&url, args))
            .await
            .expect("connect to Redis");
        eprintln!("queue-bench: redis: rate-limited drain");
        let queue = Queue::new(Arc::new(driver));
        runs.push(("redis", limited::measure(&queue, Some(&client)).await));
    }
    print!("{}", report::markdown_limited(&run, &runs));
    if let Some(path) = &args.json {
        std::fs::write(path, report::json_limited(&run, &runs))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("queue-bench: wrote {}", path.display());
    }
}

/// The Redis to measure: `--redis-url`, or an own redis-server (no persistence) on a free port,
/// returned too (dropping it stops the server).
fn redis_server(args: &Args) -> (String, Option<server::RedisServer>) {
    match &args.redis_url {
        Some(url) => (url.clone(), None),
        None => {
            let server = server::RedisServer::start_with(&["--appendonly", "no"]);
            (server.url(), Some(server))
        }
    }
}

/// Records which Redis server the run measures, with its version.
async fn describe_redis(client: &redis::Client, url: &str, args: &Args, run: &mut RunInfo) {
    let origin = match &args.redis_url {
        Some(given) if given == url => "given by --redis-url",
        _ => "own redis-server on a free port, no persistence",
    };
    let version = redis_version(client).await;
    run.redis_server = Some(format!(
        "{} ({origin})",
        version.as_deref().unwrap_or("version unknown")
    ));
    run.redis_server_version = version;
}

/// The driver's URL for `url`: the bench's queues live under the prefix `bench`, with the
/// parameters of `--driver-options`.
fn bench_url(url: &str, args: &Args) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    match &args.driver_options {
        Some(extra) => format!("{url}{separator}prefix=bench&{extra}"),
        None => format!("{url}{separator}prefix=bench"),
    }
}

/// Measures each driver asked for, bare or observed (see [`observed`]).
async fn measure(
    args: &Args,
    observed: bool,
    benchmark: Option<&std::path::Path>,
    run: &mut RunInfo,
) -> Vec<DriverReport> {
    let watch = |queue: Queue| {
        if observed {
            observed::watch(queue)
        } else {
            queue
        }
    };
    let mut reports = Vec::new();
    if args.memory {
        let bench = Bench {
            driver: if observed {
                "memory+observed"
            } else {
                "memory"
            },
            queue: watch(Queue::new(Arc::new(MemoryDriver::new()))),
            redis: None,
            args,
            scaling: !observed,
            limits: !observed,
            keep: observed::keep(observed),
        };
        reports.push(bench.run().await);
    }
    if !args.redis {
        return reports;
    }
    // Kept alive until the end: dropping it stops the server.
    let (url, _own_server) = redis_server(args);
    let client = redis::Client::open(url.as_str()).expect("a valid Redis URL");
    let benchmark = benchmark.expect("found when Redis is measured");
    let connection = redis_benchmark::connection_args(client.get_connection_info())
        .unwrap_or_else(|e| panic!("baseline: {e}"));
    describe_redis(&client, &url, args, run).await;
    let driver = RedisDriver::connect(&bench_url(&url, args))
        .await
        .expect("connect to Redis");
    let before = baseline::Run::measure(&client, benchmark, &connection).await;
    let bench = Bench {
        driver: if observed { "redis+observed" } else { "redis" },
        queue: watch(Queue::new(Arc::new(driver))),
        redis: Some(client.clone()),
        args,
        scaling: !observed,
        limits: !observed,
        keep: observed::keep(observed),
    };
    let mut report = bench.run().await;
    if !observed {
        eprintln!("queue-bench: redis: 200 handlers in one worker");
        report.many_handlers = Some(many::measure(&bench_url(&url, args), &client).await);
    }
    if !observed && args.payloads {
        report.payloads = payloads::measure(
            &bench.queue,
            &client,
            benchmark,
            &connection,
            args.jobs,
            args.payload_text,
        )
        .await;
    }
    if !observed && !args.round_trips.is_empty() {
        let info = client.get_connection_info();
        let server = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            other => panic!("--rtt needs a Redis over plain TCP, not {other:?}"),
        };
        let server = tokio::net::lookup_host(&server)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve {server}"));
        report.network = network::measure(args, server, &client).await;
    }
    let after = baseline::Run::measure(&client, benchmark, &connection).await;
    reports.push(report.with_baseline(Baseline::of(before, after)));
    reports
}

/// `redis_version` from the server's `INFO server`.
async fn redis_version(client: &redis::Client) -> Option<String> {
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let info = probe::info(&mut conn, "server").await?;
    probe::info_text(&info, "redis_version").map(str::to_string)
}
