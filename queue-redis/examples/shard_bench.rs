//! How a sharded lane spreads Redis's work over a cluster's primaries: drains the jobs of one
//! handler split into `--shards` shards (3 by default), first on a cluster of one primary,
//! then on a cluster of several, and prints, as Markdown table rows, the jobs per second, each
//! primary's Redis CPU (`used_cpu_sys` + `used_cpu_user` of `INFO cpu`) spent during the drain
//! and its share, the Redis CPU per job (in user space and in the kernel), and the jobs per
//! script call (each reserve takes a batch and acks the one before). Only the drain is measured
//! (the jobs are dispatched before); one worker in this process runs them.
//!
//! ```text
//! cargo run --release -p queue-redis --example shard_bench -- --jobs 50000
//! cargo run --release -p queue-redis --example shard_bench -- \
//!     --url redis+cluster://10.0.0.1:7000/ --single-url redis+cluster://10.0.0.9:7000/
//! ```
//!
//! Without `--url` it starts its own cluster of three primaries on free ports, and without
//! `--single-url` one of a single primary, neither with replicas (which would add the cost of
//! feeding them), with the test support code
//! (`redis-server` and `redis-cli` needed). A lane split into as many shards as there are
//! primaries has one shard on each when the primaries hold equal ranges of slots (as
//! `redis-cli --cluster create` makes them).

#[path = "../tests/support/cluster.rs"]
mod cluster;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use queue_core::{job, JobError, NewJob, Queue};
use queue_redis::RedisDriver;
use tokio_util::sync::CancellationToken;

/// Jobs run, by every measurement.
static RAN: AtomicU64 = AtomicU64::new(0);

#[job(queue = "shard-bench", concurrency = 64)]
async fn bench_job(_n: u32) -> Result<(), JobError> {
    RAN.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The command line.
#[derive(Parser, Debug)]
#[command(about = "Drains a sharded lane over Redis Clusters and reports each primary's CPU")]
struct Args {
    /// A cluster of several primaries (`redis+cluster://[:password@]host:port,.../`); by
    /// default the benchmark starts its own three primaries.
    #[arg(long)]
    url: Option<String>,
    /// A cluster of one primary; by default the benchmark starts its own.
    #[arg(long)]
    single_url: Option<String>,
    /// Jobs drained per measurement.
    #[arg(long, default_value_t = 20_000)]
    jobs: u32,
    /// Jobs one worker runs at once (shared by the shards).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Shards the handler's lane is split into.
    #[arg(long, default_value_t = 3)]
    shards: u16,
}

/// `redis://[:password@]host:port/` of each primary serving slots, from the first node of a
/// `redis+cluster://` URL.
fn primaries(url: &str) -> Vec<String> {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let (creds, hosts) = match rest.rsplit_once('@') {
        Some((creds, hosts)) => (format!("{creds}@"), hosts),
        None => (String::new(), rest),
    };
    let seed = hosts.split(',').next().expect("a node in the URL");
    let mut conn = redis::Client::open(format!("redis://{creds}{seed}/"))
        .expect("a node's URL")
        .get_connection()
        .expect("connect to a cluster node");
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut conn)
        .expect("CLUSTER NODES");
    nodes
        .lines()
        .filter(|l| l.contains("master") && l.split_whitespace().count() > 8)
        .filter_map(|l| l.split_whitespace().nth(1)?.split('@').next())
        .map(|addr| {
            // A lone node may not know its own address yet (`:port`): it is the seed's host.
            let host = seed.rsplit_once(':').map_or(seed, |(host, _)| host);
            match addr.strip_prefix(':') {
                Some(port) => format!("redis://{creds}{host}:{port}/"),
                None => format!("redis://{creds}{addr}/"),
            }
        })
        .collect()
}

/// The `INFO section` text of the primary at `url`.
fn info(url: &str, section: &str) -> String {
    let mut conn = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect to a primary");
    redis::cmd("INFO")
        .arg(section)
        .query(&mut conn)
        .unwrap_or_else(|e| panic!("INFO {section}: {e}"))
}

/// Seconds of CPU each primary has used: user (`used_cpu_user`) and system (`used_cpu_sys`).
fn cpu(primaries: &[String]) -> BTreeMap<String, (f64, f64)> {
    primaries
        .iter()
        .map(|url| {
            let info = info(url, "cpu");
            let field = |name: &str| -> f64 {
                info.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
                    .unwrap_or(0.0)
            };
            let name = url.rsplit_once('@').map_or(url.as_str(), |(_, a)| a);
            let name = name.trim_start_matches("redis://").trim_end_matches('/');
            (
                name.to_string(),
                (field("used_cpu_user"), field("used_cpu_sys")),
            )
        })
        .collect()
}

/// Script calls (`EVALSHA`, `EVALSHA_RO`, `EVAL`) all `primaries` have served so far.
fn script_calls(primaries: &[String]) -> u64 {
    primaries
        .iter()
        .map(|url| {
            info(url, "commandstats")
                .lines()
                .filter(|l| {
                    ["cmdstat_evalsha:", "cmdstat_evalsha_ro:", "cmdstat_eval:"]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
                .filter_map(|l| {
                    l.split_once("calls=")?
                        .1
                        .split(',')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .sum::<u64>()
        })
        .sum()
}

/// Dispatches `args.jobs` jobs to the lane split over `args.shards` on the cluster at `url`,
/// drains them with one worker, and prints the rows of the measurement, named after the
/// number of primaries.
async fn measure(url: &str, args: &Args) {
    let primaries = primaries(url);
    let primaries = primaries.as_slice();
    let shards = args.shards;
    let driver = RedisDriver::connect(url)
        .await
        .expect("connect to the cluster");
    let queue = Queue::new(Arc::new(driver))
        .shard("bench_job", shards)
        .expect("a shard count from 1 to 256");
    let lane = format!("shard-bench-{shards}");
    queue.purge(&lane).await.expect("purge");
    let batch: Vec<NewJob> = (0..args.jobs)
        .map(|n| bench_job::job(n).queue(&lane))
        .collect();
    queue.dispatch_bulk(batch).await.expect("dispatch");

    let before = cpu(primaries);
    let calls_before = script_calls(primaries);
    let start_count = RAN.load(Ordering::Relaxed);
    let stop = CancellationToken::new();
    let started = Instant::now();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["bench_job"])
            .queues("bench_job", [lane.as_str()])
            .concurrency("bench_job", args.concurrency)
            .run_until(stop.clone().cancelled_owned()),
    );
    while RAN.load(Ordering::Relaxed) - start_count < u64::from(args.jobs) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let after = cpu(primaries);
    let calls = script_calls(primaries) - calls_before;
    stop.cancel();
    worker.await.expect("worker task").expect("worker");

    let spent: BTreeMap<&String, (f64, f64)> = after
        .iter()
        .map(|(node, (user, sys))| {
            let (user_before, sys_before) = before.get(node).copied().unwrap_or_default();
            (node, (user - user_before, sys - sys_before))
        })
        .collect();
    let user: f64 = spent.values().map(|(user, _)| user).sum();
    let sys: f64 = spent.values().map(|(_, sys)| sys).sum();
    let total = user + sys;
    let tag = match primaries.len() {
        1 => "1 primary".to_string(),
        n => format!("{n} primaries"),
    };
    println!(
        "| {tag}: jobs/s | {:.0} |",
        f64::from(args.jobs) / took.as_secs_f64()
    );
    for (node, (user, sys)) in &spent {
        let secs = user + sys;
        let share = if total > 0.0 {
            secs / total * 100.0
        } else {
            0.0
        };
        println!("| {tag}: primary {node} Redis CPU (s) | {secs:.3} |");
        println!("| {tag}: primary {node} share of Redis CPU | {share:.1}% |");
    }
    println!("| {tag}: Redis CPU, all primaries (s) | {total:.3} |");
    let per_job = |secs: f64| secs / f64::from(args.jobs) * 1e6;
    println!("| {tag}: Redis CPU per job (µs) | {:.1} |", per_job(total));
    println!(
        "| {tag}: of which user / system (µs) | {:.1} / {:.1} |",
        per_job(user),
        per_job(sys)
    );
    println!(
        "| {tag}: jobs per script call (reserves acking the jobs before) | {:.1} |",
        f64::from(args.jobs) / calls.max(1) as f64
    );
}

/// The URL given, or that of a cluster started with `start` (kept in `own` until the end).
fn cluster_url(
    given: &Option<String>,
    own: &mut Vec<cluster::RedisCluster>,
    start: fn() -> cluster::RedisCluster,
) -> String {
    match given {
        Some(url) => url.clone(),
        None => {
            own.push(start());
            own.last().expect("just started").url()
        }
    }
}

fn main() {
    let args = Args::parse();
    let mut own = Vec::new();
    let single = cluster_url(
        &args.single_url,
        &mut own,
        cluster::RedisCluster::start_single_primary,
    );
    let several = cluster_url(
        &args.url,
        &mut own,
        cluster::RedisCluster::start_without_replicas,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    println!(
        "<!-- {} jobs per measurement, a lane split into {} shards, worker concurrency {} -->",
        args.jobs, args.shards, args.concurrency
    );
    println!("| measurement | value |");
    println!("| --- | --- |");
    runtime.block_on(measure(&single, &args));
    runtime.block_on(measure(&several, &args));
}
