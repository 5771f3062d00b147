//! Running handlers: retries, fatal errors, bad payloads, unknown names, state injection.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use queue_core::{job, Data, Error, JobContext, JobError, JobState, NewJob};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{memory_queue, start, until_counts};

const LIMIT: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct Work {
    n: u32,
}

static FLAKY_ATTEMPTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[job(queue = "runs-flaky", attempts = 4, backoff = "fixed(20ms)")]
async fn flaky(work: Work, ctx: JobContext) -> Result<(), String> {
    FLAKY_ATTEMPTS.lock().unwrap().push(ctx.attempt());
    if ctx.attempt() < 3 {
        return Err(format!(
            "transient failure {} for {}",
            ctx.attempt(),
            work.n
        ));
    }
    Ok(())
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_until_it_succeeds() {
    let queue = memory_queue();
    flaky::dispatch(&queue, Work { n: 1 }).await.unwrap();
    let worker = start(queue.worker().handlers(["flaky"]));
    until_counts(&queue, "runs-flaky", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(*FLAKY_ATTEMPTS.lock().unwrap(), [1, 2, 3]);
    assert_eq!(queue.counts("runs-flaky").await.unwrap().failed, 0);
}

#[job(queue = "runs-fatal", attempts = 5)]
async fn refuses(_work: Work) -> Result<(), JobError> {
    Err(JobError::fatal("card declined"))
}

#[tokio::test]
async fn a_fatal_error_skips_the_remaining_attempts() {
    let queue = memory_queue();
    let id = refuses::dispatch(&queue, Work { n: 1 }).await.unwrap().id;
    let worker = start(queue.worker().handlers(["refuses"]));
    until_counts(&queue, "runs-fatal", LIMIT, |c| c.failed == 1).await;
    worker.shutdown().await.unwrap();
    let info = queue.job("runs-fatal", &id).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Failed);
    assert_eq!(info.attempts, 1, "no retry after a fatal error");
    assert_eq!(info.last_error.as_deref(), Some("card declined"));
}

#[job(queue = "runs-exhaust", attempts = 2, backoff = "fixed(10ms)")]
async fn always_fails(work: Work) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(format!(
        "disk full while writing {}",
        work.n
    )))
}

#[tokio::test]
async fn a_job_out_of_attempts_lands_in_the_failed_list_with_its_last_error() {
    let queue = memory_queue();
    let id = always_fails::dispatch(&queue, Work { n: 7 })
        .await
        .unwrap()
        .id;
    let worker = start(queue.worker().handlers(["always_fails"]));
    until_counts(&queue, "runs-exhaust", LIMIT, |c| c.failed == 1).await;
    worker.shutdown().await.unwrap();
    let failed = queue.failed("runs-exhaust", 0, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, id);
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("disk full while writing 7")
    );
    assert!(failed[0].failed_at.is_some());
}

static TYPED_SEEN: AtomicU32 = AtomicU32::new(0);

#[job(queue = "runs-typed")]
async fn typed(work: Work) -> Result<(), JobError> {
    TYPED_SEEN.fetch_add(work.n, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn a_payload_that_does_not_decode_fails_at_once_naming_job_handler_and_serde_error() {
    let queue = memory_queue();
    // Stored behind the dispatcher's back, as another program could.
    let bad = NewJob::named("typed", br#"{"n": "seven"}"#.to_vec()).queue("runs-typed");
    let id = queue.driver().enqueue(vec![bad]).await.unwrap()[0]
        .id
        .clone();
    typed::dispatch(&queue, Work { n: 5 }).await.unwrap();
    let worker = start(queue.worker().handlers(["typed"]));
    until_counts(&queue, "runs-typed", LIMIT, |c| {
        c.failed == 1 && c.pending() == 0
    })
    .await;
    worker.shutdown().await.unwrap();
    let info = queue.job("runs-typed", &id).await.unwrap().unwrap();
    assert_eq!(
        info.attempts, 1,
        "a payload that cannot decode is not retried"
    );
    let error = info.last_error.unwrap();
    assert!(error.contains("payload of job `typed`"), "{error}");
    assert!(
        error.contains("worker_runs::typed"),
        "names the handler: {error}"
    );
    assert!(error.contains("Work"), "names the payload type: {error}");
    assert!(
        error.contains("invalid type: string \"seven\", expected u32"),
        "{error}"
    );
    assert_eq!(
        TYPED_SEEN.load(Ordering::SeqCst),
        5,
        "the worker kept running"
    );
}

#[tokio::test]
async fn dispatch_by_name_checks_the_name_and_the_payload() {
    let queue = memory_queue();
    let err = queue
        .dispatch_named("no_such_job", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownJob { .. }));
    assert_eq!(
        err.to_string(),
        "no handler registered for job `no_such_job`"
    );

    let err = queue
        .dispatch_named("typed", json!({"m": 1}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "payload of job `typed` does not match handler `worker_runs::typed`: missing field `n` at line 1 column 7"
    );

    let ok = queue
        .dispatch_named("typed", json!({"n": 2}))
        .await
        .unwrap();
    assert!(ok.created);
    let info = queue.job("runs-typed", &ok.id).await.unwrap().unwrap();
    assert_eq!(
        info.queue, "runs-typed",
        "a known handler's queue is the default"
    );

    // A job this program has no handler for goes where the dispatcher says.
    let elsewhere = queue
        .dispatch_named("handled_elsewhere", json!({"x": 1}))
        .queue("other-service")
        .await
        .unwrap();
    assert!(queue
        .job("other-service", &elsewhere.id)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn oversized_payloads_are_refused_at_dispatch() {
    let queue = memory_queue().with_max_payload(64);
    let err = queue
        .dispatch_named("typed", json!({"n": 1, "pad": "x".repeat(100)}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("payload of job `typed` is 1"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("over the limit of 64 bytes"),
        "{err}"
    );
    assert_eq!(queue.counts("runs-typed").await.unwrap().pending(), 0);
}

/// Shared application state: the test keeps a clone of the log to inspect it.
struct Mailer {
    sent: std::sync::Arc<Mutex<Vec<String>>>,
}

#[job(queue = "runs-state")]
async fn uses_state(work: Work, mailer: Data<Mailer>, ctx: JobContext) -> Result<(), JobError> {
    mailer
        .sent
        .lock()
        .unwrap()
        .push(format!("{} on attempt {}", work.n, ctx.attempt()));
    Ok(())
}

#[tokio::test]
async fn handlers_receive_the_state_registered_on_the_worker() {
    let queue = memory_queue();
    uses_state::dispatch(&queue, Work { n: 3 }).await.unwrap();
    let sent = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mailer = Mailer { sent: sent.clone() };
    let worker = start(queue.worker().handlers(["uses_state"]).state(mailer));
    until_counts(&queue, "runs-state", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(*sent.lock().unwrap(), ["3 on attempt 1"]);
}

#[tokio::test]
async fn a_worker_refuses_to_start_without_the_state_its_handlers_need() {
    let queue = memory_queue();
    let err = queue.worker().handlers(["uses_state"]).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "handler for job `uses_state` needs state of type `worker_runs::Mailer`; register it with `WorkerBuilder::state`"
    );
}

#[tokio::test]
async fn a_worker_refuses_unknown_handler_names() {
    let err = memory_queue()
        .worker()
        .handlers(["nope"])
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "no handler registered for job `nope`");
}

static NO_PAYLOAD_RUNS: AtomicU32 = AtomicU32::new(0);

#[job(queue = "runs-unit")]
async fn no_payload() -> Result<(), JobError> {
    NO_PAYLOAD_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test]
async fn handlers_without_payload_run() {
    let queue = memory_queue();
    no_payload::dispatch(&queue, ()).await.unwrap();
    let worker = start(queue.worker().handlers(["no_payload"]));
    until_counts(&queue, "runs-unit", LIMIT, |c| c.pending() == 0).await;
    worker.shutdown().await.unwrap();
    assert_eq!(NO_PAYLOAD_RUNS.load(Ordering::SeqCst), 1);
}

static GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);
static GATED_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

#[job(queue = "runs-gated")]
async fn gated(_work: Work) -> Result<(), JobError> {
    GATED_STARTED.notify_one();
    GATE.acquire().await.unwrap().forget();
    Ok(())
}

/// A busy pool acks finished jobs with its next reserve; an idle one must not leave them for
/// the next dispatch (or the lease deadline, 15 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_finishing_while_the_pool_is_idle_is_acked_at_once() {
    let queue = memory_queue();
    let started = GATED_STARTED.notified();
    let id = gated::dispatch(&queue, Work { n: 1 }).await.unwrap().id;
    let worker = start(queue.worker().handlers(["gated"]));
    started.await;
    // The pool took one job of the fifty it asked for, so it is waiting for work now.
    tokio::time::sleep(Duration::from_millis(50)).await;
    GATE.add_permits(1);
    support::eventually(Duration::from_secs(5), || async {
        queue
            .job("runs-gated", &id)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    worker.shutdown().await.unwrap();
}
