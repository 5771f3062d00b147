//! `#[job]` handlers are registered with their options, keep their generated helpers, and
//! stay callable as plain functions.

use std::time::Duration;

use queue_core::{job, Backoff, Data, JobContext, JobDefinition, JobError};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Welcome {
    user_id: u64,
}

struct Db;

#[job(
    queue = "mail",
    concurrency = 8,
    attempts = 5,
    backoff = "exponential(1s, max = 10m)",
    timeout = "30s",
    priority = 3
)]
async fn send(job: Welcome) -> Result<u64, JobError> {
    Ok(job.user_id * 2)
}

#[job(
    name = "reports.build",
    backoff = "fixed(250ms)",
    priority = -7,
    timeout = "1h30m"
)]
async fn build_report(_: Welcome, _: JobContext, _: Data<Db>) -> Result<(), std::io::Error> {
    Ok(())
}

#[job(backoff = "exponential(500ms, jitter = false)")]
async fn cleanup() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn tenfold(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt) * 10)
}

#[job(backoff = tenfold, attempts = 1)]
async fn custom(n: u32) -> Result<u32, String> {
    n.checked_sub(1).ok_or_else(|| "too small".to_string())
}

fn definition(name: &str) -> &'static JobDefinition {
    queue_core::definitions()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no handler named `{name}` is registered"))
}

#[test]
fn every_handler_is_registered() {
    let names: Vec<_> = queue_core::definitions().iter().map(|d| d.name).collect();
    for name in ["send", "reports.build", "cleanup", "custom"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn options_are_recorded() {
    let send = definition("send");
    assert!(std::ptr::eq(send, &send::DEFINITION));
    assert_eq!(send.handler, concat!(module_path!(), "::send"));
    assert_eq!(send.queue, "mail");
    assert_eq!(send.concurrency, 8);
    assert_eq!(send.attempts, 5);
    assert_eq!(send.timeout, Some(Duration::from_secs(30)));
    assert_eq!(send.priority, 3);
    match send.backoff {
        Backoff::Exponential { base, max, jitter } => {
            assert_eq!(base, Duration::from_secs(1));
            assert_eq!(max, Duration::from_secs(600));
            assert!(jitter);
        }
        other => panic!("unexpected backoff {other:?}"),
    }

    let report = definition("reports.build");
    assert_eq!(report.handler, concat!(module_path!(), "::build_report"));
    assert_eq!(report.queue, queue_core::DEFAULT_QUEUE);
    assert_eq!(report.concurrency, queue_core::DEFAULT_CONCURRENCY);
    assert_eq!(report.attempts, queue_core::DEFAULT_ATTEMPTS);
    assert_eq!(report.timeout, Some(Duration::from_secs(5400)));
    assert_eq!(report.priority, -7);
    assert!(matches!(report.backoff, Backoff::Fixed(d) if d == Duration::from_millis(250)));

    let cleanup = definition("cleanup");
    assert_eq!(cleanup.timeout, None);
    assert_eq!(cleanup.priority, 0);
    match cleanup.backoff {
        Backoff::Exponential { base, max, jitter } => {
            assert_eq!(base, Duration::from_millis(500));
            assert_eq!(max, Duration::from_secs(3600));
            assert!(!jitter);
        }
        other => panic!("unexpected backoff {other:?}"),
    }

    let custom = definition("custom");
    assert_eq!(custom.attempts, 1);
    assert!(matches!(custom.backoff, Backoff::Custom(_)));
    assert_eq!(custom.backoff.delay(3), Duration::from_secs(30));
}

#[test]
fn generated_module() {
    assert_eq!(send::NAME, "send");
    assert_eq!(build_report::NAME, "reports.build");
    assert_eq!(cleanup::NAME, "cleanup");
    let payload: send::Payload = Welcome { user_id: 1 };

    let job = send::job(payload);
    assert_eq!(job.spec().name, "send");
    assert_eq!(job.spec().queue, "mail");
    assert_eq!(job.spec().priority, 3);
    assert_eq!(job.spec().attempts, 5);
    assert_eq!(&job.spec().payload[..], br#"{"user_id":1}"#);

    let job = build_report::job(Welcome { user_id: 2 }).delay(Duration::from_secs(5));
    assert_eq!(job.spec().name, "reports.build");
    assert_eq!(job.spec().queue, "default");
    assert_eq!(job.spec().priority, -7);
    assert_eq!(job.spec().delay, Duration::from_secs(5));

    let job = cleanup::job(());
    assert_eq!(&job.spec().payload[..], b"null");
}

#[tokio::test]
async fn handlers_stay_callable() {
    assert_eq!(send(Welcome { user_id: 21 }).await.unwrap(), 42);
    assert!(cleanup().await.is_ok());
    assert_eq!(custom(3).await, Ok(2));
    assert_eq!(custom(0).await, Err("too small".to_string()));
}
