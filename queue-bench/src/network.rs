//! The network phases: drain and end to end on Redis with every connection of the queue going
//! through a [`DelayProxy`] that adds a given round trip (`--rtt`), the same work as the local
//! phases. The figures at 0 ms go through the proxy too, so the ratios against them show what
//! the round trip costs, not what the proxy costs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::Queue;
use queue_redis::RedisDriver;

use crate::args::Args;
use crate::delay_proxy::DelayProxy;
use crate::measurements::NetworkRun;
use crate::phases::{per_sec, Bench};

/// Rounds over the round trips: each figure is the median of this many, and each share of the
/// 0 ms figure the median of the rounds' shares.
const ROUNDS: usize = 3;

/// PINGs through the proxy whose median is reported as the round trip measured.
const PINGS: usize = 200;

/// Measures each round trip of `args.round_trips` against the Redis at `server` (whose direct
/// `client` reads its counters).
pub(crate) async fn measure(
    args: &Args,
    server: SocketAddr,
    client: &redis::Client,
) -> Vec<NetworkRun> {
    let mut links = Vec::new();
    for &round_trip in &args.round_trips {
        let proxy = DelayProxy::start(server, round_trip);
        let url = format!("redis://127.0.0.1:{}/?prefix=bench", proxy.port());
        let measured = ping_round_trip(&url).await;
        let driver = RedisDriver::connect(&url)
            .await
            .expect("connect to Redis through the delay proxy");
        let run = NetworkRun {
            round_trip_ms: round_trip.as_secs_f64() * 1e3,
            measured_round_trip_p50_us: measured,
            bulk_jobs_per_s: Vec::new(),
            drain_jobs_per_s: Vec::new(),
            end_to_end_jobs_per_s: Vec::new(),
            proxy_late: Default::default(),
            proxy_realtime: false,
        };
        links.push((proxy, Queue::new(Arc::new(driver)), run));
    }
    // The proxies stay up across the rounds. The round trips in turn, ROUNDS times, so that each round's figures at every round
    // trip come from the same minute.
    for round in 1..=ROUNDS {
        for (_proxy, queue, run) in &mut links {
            eprintln!(
                "queue-bench: redis: round {round} of {ROUNDS} through a proxy adding {} ms round trip",
                run.round_trip_ms
            );
            let bench = Bench {
                driver: "redis",
                queue: queue.clone(),
                redis: Some(client.clone()),
                args,
                scaling: false,
                limits: false,
                keep: crate::observed::keep(false),
            };
            bench.purge().await;
            let n = args.jobs;
            let bulk = bench.enqueue_at_once(n).await;
            let drained = bench.drain(n, None).await;
            bench.purge().await;
            let (e2e_jobs, e2e) = bench.end_to_end(n).await;
            bench.purge().await;
            run.bulk_jobs_per_s.push(per_sec(n, bulk));
            run.drain_jobs_per_s.push(per_sec(n, drained.elapsed));
            run.end_to_end_jobs_per_s.push(per_sec(e2e_jobs, e2e));
        }
    }
    links
        .into_iter()
        .map(|(proxy, _, run)| NetworkRun {
            proxy_late: proxy.lateness(),
            proxy_realtime: proxy.realtime(),
            ..run
        })
        .collect()
}

/// The median time of a `PING` through the proxy at `url`, in µs.
async fn ping_round_trip(url: &str) -> f64 {
    let client = redis::Client::open(url).expect("a valid Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect through the delay proxy");
    let mut times = Vec::with_capacity(PINGS);
    for _ in 0..PINGS {
        let sent = Instant::now();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .expect("PING through the delay proxy");
        times.push(sent.elapsed());
    }
    times.sort();
    let median: Duration = times[PINGS / 2];
    median.as_secs_f64() * 1e6
}
