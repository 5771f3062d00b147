//! Payloads carrying a trace context ahead of their JSON (as dispatches made with the `otel`
//! feature store them): handlers, inspection and dispatch by name see the JSON alone, and a
//! malformed context fails its job at once, naming it. These hold with the feature off too: a
//! worker built without it still runs jobs from a dispatcher built with it.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use queue_core::{job, Error, JobError, JobState, MalformedPayload, NewJob, CONTEXT_MARK};
use serde::{Deserialize, Serialize};
use support::{memory_queue, start, until_counts};

const LIMIT: Duration = Duration::from_secs(10);
const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[derive(Serialize, Deserialize)]
struct Work {
    n: u32,
}

static SEEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[job(queue = "trace-context")]
async fn traced(work: Work) -> Result<(), JobError> {
    SEEN.lock().unwrap().push(work.n);
    Ok(())
}

/// `json` behind a context, in the stored layout.
fn with_context(json: &str) -> Vec<u8> {
    format!("\u{1e}traceparent={PARENT}\ntracestate=a=1\u{1e}{json}").into_bytes()
}

#[tokio::test]
async fn a_carried_context_is_stripped_before_decoding_and_before_showing() {
    let queue = memory_queue();
    // Stored as a dispatcher with the feature stores it, whatever this build's features.
    let carried = NewJob::named("traced", with_context(r#"{"n":7}"#));
    let id = queue.driver().enqueue(vec![carried]).await.unwrap()[0]
        .id
        .clone();
    let plain = traced::dispatch(&queue, Work { n: 8 }).await.unwrap().id;

    let info = queue.job("trace-context", &id).await.unwrap().unwrap();
    assert_eq!(info.payload[0], CONTEXT_MARK, "stored as sent");
    assert_eq!(info.payload_json(), serde_json::json!({ "n": 7 }));
    let stored = info.stored_payload().unwrap();
    assert_eq!(stored.context_field("traceparent"), Some(PARENT));
    assert_eq!(stored.context_field("tracestate"), Some("a=1"));
    assert_eq!(
        queue_core::strip_trace_context(&info.payload),
        br#"{"n":7}"#
    );
    // A job dispatched without a context is stored as its JSON alone.
    let info = queue.job("trace-context", &plain).await.unwrap().unwrap();
    assert_eq!(&info.payload[..], br#"{"n":8}"#);
    assert!(!info.stored_payload().unwrap().has_context());

    let worker = start(queue.worker().handlers(["traced"]));
    until_counts(&queue, "trace-context", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [7, 8]);
    assert_eq!(queue.counts("trace-context").await.unwrap().failed, 0);
}

#[job(queue = "trace-malformed", attempts = 3)]
async fn never_decoded(_work: Work) -> Result<(), JobError> {
    panic!("a malformed payload must not reach the handler");
}

#[tokio::test]
async fn a_context_without_its_end_fails_the_job_at_once_naming_it() {
    let queue = memory_queue();
    let cut = format!("\u{1e}traceparent={PARENT}{{\"n\":1}}");
    let bad = NewJob::named("never_decoded", cut.into_bytes());
    let id = queue.driver().enqueue(vec![bad]).await.unwrap()[0]
        .id
        .clone();
    let worker = start(queue.worker().handlers(["never_decoded"]));
    until_counts(&queue, "trace-malformed", LIMIT, |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    let info = queue.job("trace-malformed", &id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.attempts, 1, "not retried");
    let error = info.last_error.clone().unwrap();
    assert!(error.contains("payload of job `never_decoded`"), "{error}");
    assert!(
        error.contains("worker_trace_context::never_decoded"),
        "names the handler: {error}"
    );
    assert!(error.contains("does not end"), "{error}");
    // Inspection shows what is stored, whole.
    assert_eq!(info.stored_payload(), Err(MalformedPayload::Unterminated));
    assert!(info.payload_json().is_null());
}

#[tokio::test]
async fn dispatch_by_name_checks_the_json_behind_a_context() {
    let queue = memory_queue();
    queue
        .dispatch(NewJob::named("traced", with_context(r#"{"n":9}"#)).queue("trace-named"))
        .await
        .unwrap();
    let err = queue
        .dispatch(NewJob::named("traced", with_context(r#"{"n":"nine"}"#)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidPayload { job, .. } if job == "traced"),
        "{err}"
    );
    let cut = format!("\u{1e}traceparent={PARENT}{{\"n\":1}}");
    let err = queue
        .dispatch(NewJob::named("traced", cut.into_bytes()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("payload of job `traced`"), "{err}");
    assert!(err.to_string().contains("does not end"), "{err}");
}
