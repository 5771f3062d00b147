//! Server-side render time of the dashboard's pages over a large queue, on the memory driver or
//! on a Redis given by URL.
//!
//! `cargo run --release -p queue-web --example render_bench -- --jobs 1000000 [--rounds 20]
//! [--url redis://127.0.0.1:6399/?prefix=render]` (the queue `bench` under that URL is purged
//! first)
//!
//! Fills queue `bench` with `--jobs` jobs (ready ones under three handlers, a tenth scheduled,
//! a thousand failed by a worker, a hundred completed and kept), then times each page through
//! the router (no network): the median and the slowest of `--rounds` renders, as a table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use queue_core::{job, NewJob, Queue};
use queue_memory::MemoryDriver;
use serde_json::{json, Value};
use tower::ServiceExt;

const QUEUE: &str = "bench";

/// Fails at once: fills the failed list.
#[job(queue = "bench", attempts = 1)]
async fn fail_fast(_payload: Value) -> Result<(), String> {
    Err("refused by the bench".into())
}

/// Succeeds; the last 100 are kept.
#[job(queue = "bench", keep_completed = 100)]
async fn succeed_fast(_payload: Value) -> Result<(), String> {
    Ok(())
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

/// The value of `--url`, if given.
fn url_arg() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--url")?;
    Some(args.get(at + 1).expect("--url takes a URL").clone())
}

#[tokio::main]
async fn main() {
    let jobs = arg("--jobs", 1_000_000);
    let rounds = arg("--rounds", 20).max(1);
    let queue = match url_arg() {
        Some(url) => {
            let driver = queue_redis::RedisDriver::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("--url {url}: {e}"));
            let queue = Queue::new(Arc::new(driver));
            queue.purge(QUEUE).await.unwrap();
            queue
        }
        None => Queue::new(Arc::new(MemoryDriver::new())),
    };

    let started = Instant::now();
    let failed = 1_000.min(jobs / 10);
    let completed = 100.min(jobs / 10);
    queue
        .dispatch_bulk((0..failed).map(|n| fail_fast::job(json!({"n": n}))))
        .await
        .unwrap();
    queue
        .dispatch_bulk((0..completed).map(|n| succeed_fast::job(json!({"n": n}))))
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .stats_every(Duration::from_millis(100))
            .run_until(stop.clone().cancelled_owned()),
    );
    while {
        let c = queue.counts(QUEUE).await.unwrap();
        (c.failed as usize) < failed || (c.completed as usize) < completed
    } {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    let rest = jobs.saturating_sub(failed + completed);
    let names = ["send_mail", "resize_image", "charge_card"];
    let mut n = 0;
    while n < rest {
        let batch = 10_000.min(rest - n);
        let made = (n..n + batch).map(|i| {
            let job =
                NewJob::named(names[i % 3], format!("{{\"n\":{i}}}").into_bytes()).queue(QUEUE);
            if i % 10 == 0 {
                job.delay(Duration::from_secs(3600))
            } else {
                job
            }
        });
        queue.dispatch_bulk(made).await.unwrap();
        n += batch;
    }
    let filled = started.elapsed();
    let counts = queue.counts(QUEUE).await.unwrap();
    let a_job = queue
        .jobs(
            QUEUE,
            queue_core::JobQuery::new(queue_core::JobState::Failed).limit(1),
        )
        .await
        .unwrap()
        .jobs[0]
        .id
        .to_string();

    let router = queue_web::router(queue.clone());
    let pages = [
        ("overview `/`", "/".to_string()),
        ("queue `/queues/bench`", format!("/queues/{QUEUE}")),
        (
            "ready jobs, first page",
            format!("/queues/{QUEUE}/jobs?state=ready"),
        ),
        (
            "ready jobs of one handler",
            format!("/queues/{QUEUE}/jobs?state=ready&name=charge_card"),
        ),
        (
            "failed jobs, first page",
            format!("/queues/{QUEUE}/jobs?state=failed"),
        ),
        ("job `/jobs/bench/{id}`", format!("/jobs/{QUEUE}/{a_job}")),
        ("failed `/failed`", "/failed".to_string()),
        ("API `/api/overview`", "/api/overview".to_string()),
    ];
    println!("| measurement | value |");
    println!("| --- | --- |");
    println!(
        "| jobs in queue `{QUEUE}` | {} (ready {}, scheduled {}, failed {}, completed {}) |",
        counts.pending() + counts.failed + counts.completed,
        counts.ready,
        counts.scheduled,
        counts.failed,
        counts.completed
    );
    println!("| time to fill | {:.1} s |", filled.as_secs_f64());
    println!("| renders per page | {rounds} |");
    for (label, path) in pages {
        let mut times = Vec::with_capacity(rounds);
        let mut size = 0;
        for _ in 0..rounds {
            let request = Request::get(&path).body(Body::empty()).unwrap();
            let t = Instant::now();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            times.push(t.elapsed());
            size = body.len();
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {label}: median / slowest ({} kB) | {:.2} ms / {:.2} ms |",
            size / 1024,
            ms(times[times.len() / 2]),
            ms(times[times.len() - 1])
        );
    }
}
