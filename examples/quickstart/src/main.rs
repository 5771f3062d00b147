//! Quickstart: three handlers, some dispatches, a worker that runs until every job is settled.
//!
//! `cargo run -p example-quickstart` runs on the in-memory driver. The same program runs on Redis
//! with `QUEUE_URL=redis://127.0.0.1:6379 cargo run -p example-quickstart`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use queue_core::{job, Data, JobContext, JobError, Queue};
use serde::{Deserialize, Serialize};
// Link the drivers so `Queue::connect` finds them by URL scheme.
use queue_memory as _;
use queue_redis as _;

/// A new user to greet.
#[derive(Serialize, Deserialize)]
struct Welcome {
    user_id: u64,
    email: String,
}

/// Sends a welcome email (printed here).
#[job(queue = "mail", concurrency = 4)]
async fn send_welcome(welcome: Welcome, ctx: JobContext) -> Result<(), JobError> {
    println!(
        "send_welcome  job {:>3}: welcome mail sent to {} (user {})",
        ctx.id(),
        welcome.email,
        welcome.user_id
    );
    Ok(())
}

/// An order to charge.
#[derive(Serialize, Deserialize)]
struct Charge {
    order: u64,
    cents: u64,
}

/// A payment gateway shared by every run; it times out on its first two calls.
struct Gateway {
    calls: AtomicU32,
}

/// Charges a card through the flaky gateway: fails twice, then succeeds on the third attempt.
#[job(queue = "billing", attempts = 5, backoff = "fixed(200ms)")]
async fn charge_card(
    charge: Charge,
    ctx: JobContext,
    gateway: Data<Gateway>,
) -> Result<(), String> {
    let call = gateway.calls.fetch_add(1, Ordering::SeqCst) + 1;
    if call <= 2 {
        println!(
            "charge_card   job {:>3}: attempt {} of {} failed (gateway timeout), retrying",
            ctx.id(),
            ctx.attempt(),
            ctx.max_attempts()
        );
        return Err("payment gateway timed out".to_string());
    }
    println!(
        "charge_card   job {:>3}: charged order {} {}.{:02} EUR on attempt {}",
        ctx.id(),
        charge.order,
        charge.cents / 100,
        charge.cents % 100,
        ctx.attempt()
    );
    Ok(())
}

/// A report to build.
#[derive(Serialize, Deserialize)]
struct Report {
    day: String,
}

/// Always fails: after its two attempts the job lands in the failed list.
#[job(attempts = 2, backoff = "fixed(100ms)")]
async fn build_report(report: Report, ctx: JobContext) -> Result<(), String> {
    println!(
        "build_report  job {:>3}: attempt {} of {} failed",
        ctx.id(),
        ctx.attempt(),
        ctx.max_attempts()
    );
    Err(format!("no sales data for {}", report.day))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();

    // `memory://` unless QUEUE_URL says otherwise.
    let queue = Queue::from_env().await?;
    println!("connected: {:?}\n", queue.driver());

    // Typed dispatch: the payload type is checked at compile time.
    queue
        .dispatch_bulk((1..=3).map(|n| {
            send_welcome::job(Welcome {
                user_id: n,
                email: format!("user{n}@example.com"),
            })
        }))
        .await?;
    charge_card::dispatch(
        &queue,
        Charge {
            order: 42,
            cents: 1999,
        },
    )
    .await?;
    build_report::dispatch(
        &queue,
        Report {
            day: "2026-11-22".into(),
        },
    )
    .await?;
    // A delayed job, dispatched by name with JSON (as another service would).
    queue
        .dispatch_named(
            "send_welcome",
            serde_json::json!({ "user_id": 99, "email": "late@example.com" }),
        )
        .delay(Duration::from_millis(300))
        .await?;

    // Run every handler until all jobs are done or failed.
    let watched = queue.clone();
    queue
        .worker()
        .state(Gateway {
            calls: AtomicU32::new(0),
        })
        .run_until(async move {
            loop {
                let mut pending = 0;
                for name in ["mail", "billing", "default"] {
                    pending += watched.counts(name).await.map(|c| c.pending()).unwrap_or(1);
                }
                if pending == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await?;

    println!("\nfailed list of queue `default`:");
    for job in queue.failed("default", 0, 10).await? {
        println!(
            "  job {} `{}` after {} attempts: {}",
            job.id,
            job.name,
            job.attempts,
            job.last_error.unwrap_or_default()
        );
    }
    Ok(())
}
