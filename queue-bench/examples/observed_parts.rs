//! What each part of observation costs a worker per job on the memory driver, in CPU time:
//! drains with metrics alone (a Prometheus recorder with the metrics example's buckets), events
//! alone (a subscriber reading every event), the last 1,000 completed jobs kept alone, and all
//! three, each alternating with a bare drain in this one process, so that the machine's drift
//! falls on both sides of every pair. A tracing subscriber at info, formatting into a sink, is
//! installed for every drain (the run span is at debug, so it costs the bare and observed
//! drains the same). The recorder's upkeep runs after each drain, inside its window, so a drain
//! pays for bucketing its own samples, as in the bench's `--observe` runs.
//!
//! Before the drains it prints the recorder's floor: the CPU of two histogram samples (what a
//! job's run and wait times record) with no worker around them.
//!
//! `cargo run --release -p queue-bench --example observed_parts -- [jobs] [pairs]`
//! (default 300,000 jobs per drain, 3 pairs per part). Prints a `| part | ... |` table: the
//! median CPU per job of the bare drains and of the drains with the part, and the median of the
//! pairs' ratios.

use std::sync::Arc;
use std::time::Duration;

use drains::{dispatch, drain};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use queue_core::observe::metrics::SECONDS_BUCKETS;
use queue_core::{Keep, Queue};
use queue_memory::MemoryDriver;

mod drains;

/// A part of observation, measured alone or all together.
#[derive(Clone, Copy)]
struct Part {
    name: &'static str,
    metrics: bool,
    events: bool,
    keep: bool,
}

const PARTS: [Part; 4] = [
    Part {
        name: "metrics",
        metrics: true,
        events: false,
        keep: false,
    },
    Part {
        name: "events",
        metrics: false,
        events: true,
        keep: false,
    },
    Part {
        name: "1,000 completed jobs kept",
        metrics: false,
        events: false,
        keep: true,
    },
    Part {
        name: "all three",
        metrics: true,
        events: true,
        keep: true,
    },
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |what: &str, default: u64| match args.next() {
        None => default,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("observed_parts: {what} must be a whole number, not {arg:?}");
            std::process::exit(2)
        }),
    };
    let jobs = number("the jobs per drain", 300_000).max(1);
    let pairs = number("the pairs per part", 3).max(1);
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .expect("the metrics example's buckets")
        .install_recorder()
        .expect("the only metrics recorder");
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(std::io::sink)
        .with_ansi(false)
        .init();
    // The recorder's floor: what two histogram samples cost, as a job's run and wait times
    // record them, without any worker.
    let samples = metrics::histogram!("observed_parts_floor_seconds");
    let before = process_cpu();
    for n in 0..jobs {
        samples.record(std::hint::black_box(n as f64 * 1e-7));
        samples.record(std::hint::black_box(n as f64 * 2e-7));
    }
    recorder.run_upkeep();
    let floor = (process_cpu() - before).as_secs_f64() * 1e6 / jobs as f64;
    println!("<!-- {jobs} jobs per drain, {pairs} pairs per part -->");
    println!(
        "<!-- two histogram samples into the recorder, bucketed, without a worker: {floor:.3} µs -->"
    );
    println!("| part | bare, µs per job | with it, µs per job | with it against bare |");
    println!("| --- | --- | --- | --- |");
    for part in PARTS {
        let bare = Queue::new(Arc::new(MemoryDriver::new()));
        let mut observed = Queue::new(Arc::new(MemoryDriver::new()));
        if part.metrics {
            observed = observed.with_metrics();
        }
        if part.events {
            let mut events = observed.events();
            tokio::spawn(async move { while events.next().await.is_some() {} });
        }
        let kept = if part.keep {
            Keep {
                completed: 1000,
                ..Keep::default()
            }
        } else {
            Keep::default()
        };
        let (mut bare_us, mut with_us, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..pairs {
            let b = per_job(&bare, jobs, Keep::default(), &recorder).await;
            let w = per_job(&observed, jobs, kept, &recorder).await;
            bare_us.push(b);
            with_us.push(w);
            ratios.push(w / b * 100.0);
        }
        println!(
            "| {} | {:.3} | {:.3} | {:.1}% (pairs: {}) |",
            part.name,
            median(&mut bare_us),
            median(&mut with_us),
            median(&mut ratios.clone()),
            ratios
                .iter()
                .map(|r| format!("{r:.1}%"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Dispatches `jobs` jobs, then drains them; returns the process's CPU per job over the drain
/// and the recorder's upkeep after it, in µs.
async fn per_job(queue: &Queue, jobs: u64, keep: Keep, recorder: &PrometheusHandle) -> f64 {
    dispatch(queue, jobs).await;
    let before = process_cpu();
    drain(queue, jobs, keep).await;
    recorder.run_upkeep();
    (process_cpu() - before).as_secs_f64() * 1e6 / jobs as f64
}

/// This process's CPU time (every thread, user and system).
fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(done, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
