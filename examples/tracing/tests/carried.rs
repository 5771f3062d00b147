//! The `otel` feature in one process, span by span: what a dispatch stores (nothing more than
//! the JSON without an active context), a bulk dispatch's jobs, a retry, and a job dispatched
//! by a handler, each continuing the trace it was dispatched in. Its own test binary: it
//! installs the global subscriber and propagator.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use queue_core::{job, Data, EventKind, JobError, JobId, Queue};
use queue_memory::MemoryDriver;
use serde::{Deserialize, Serialize};
use tracing::instrument::WithSubscriber;
use tracing::subscriber::NoSubscriber;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Kept {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

impl Kept {
    fn spans(&self) -> Vec<SpanData> {
        self.0.lock().unwrap().clone()
    }

    /// The span named `name` whose string attribute `key` is `value`.
    fn find(&self, name: &str, key: &str, value: &str) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|span| span.name == name)
            .filter(|span| {
                span.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == key && kv.value.to_string() == value)
            })
            .collect()
    }

    fn named(&self, name: &str) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|span| span.name == name)
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct Step {
    n: u32,
}

#[job(queue = "carried")]
async fn plain(_step: Step) -> Result<(), JobError> {
    Ok(())
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

#[job(queue = "carried", attempts = 2, backoff = "fixed(10ms)")]
async fn flaky(_step: Step) -> Result<(), JobError> {
    if FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(JobError::msg("first run fails"));
    }
    Ok(())
}

#[job(queue = "carried")]
async fn first(step: Step, queue: Data<Queue>) -> Result<(), JobError> {
    second::dispatch(&queue, Step { n: step.n + 1 })
        .id(format!("second-{}", step.n + 1))
        .await
        .map_err(JobError::retry)?;
    Ok(())
}

#[job(queue = "carried")]
async fn second(_step: Step) -> Result<(), JobError> {
    Ok(())
}

/// Runs a worker over every handler until `ids` completed.
async fn run_until_completed(queue: &Queue, ids: &[JobId]) {
    let mut events = queue.events();
    let mut waiting: Vec<JobId> = ids.to_vec();
    let done = async move {
        while let Some(event) = events.next().await {
            if event.kind == EventKind::Completed {
                waiting.retain(|id| *id != event.id);
                if waiting.is_empty() {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(
        Duration::from_secs(20),
        queue.worker().state(queue.clone()).run_until(done),
    )
    .await
    .expect("the jobs did not complete in time")
    .unwrap();
}

fn trace_of(span: &SpanData) -> TraceId {
    span.span_context.trace_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_continue_the_trace_they_were_dispatched_in() {
    let kept = Kept::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(kept.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("info,queue_core=debug"))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("carried")))
        .init();
    let queue = Queue::new(Arc::new(MemoryDriver::new()));

    // Without a span OpenTelemetry records (not even the dispatch span: no subscriber here),
    // the job is stored as its JSON alone.
    let alone = async { plain::dispatch(&queue, Step { n: 1 }).await }
        .with_subscriber(NoSubscriber::default())
        .await
        .unwrap()
        .id;
    let info = queue.job("carried", &alone).await.unwrap().unwrap();
    assert_eq!(&info.payload[..], br#"{"n":1}"#);

    // Inside one: the context of the dispatch span, in W3C form.
    let outer = tracing::info_span!("outer");
    let traced = async { plain::dispatch(&queue, Step { n: 2 }).await }
        .instrument(outer.clone())
        .await
        .unwrap()
        .id;
    let info = queue.job("carried", &traced).await.unwrap().unwrap();
    let stored = info.stored_payload().unwrap();
    assert_eq!(stored.json(), br#"{"n":2}"#);
    assert_eq!(info.payload_json(), serde_json::json!({ "n": 2 }));
    let parent = stored.context_field("traceparent").expect("a traceparent");
    let dispatch = &kept.find("dispatch", "name", "plain")[0];
    assert_eq!(
        parent,
        format!(
            "00-{}-{}-01",
            dispatch.span_context.trace_id(),
            dispatch.span_context.span_id()
        ),
        "the dispatch span's context, sampled"
    );

    // A bulk dispatch: every job's run is a child of the `dispatch_bulk` span.
    let bulk = async {
        queue
            .dispatch_bulk((3..6).map(|n| plain::job(Step { n })))
            .await
    }
    .instrument(tracing::info_span!("bulk"))
    .await
    .unwrap();
    let bulk_ids: Vec<JobId> = bulk.into_iter().map(|d| d.id).collect();

    // A retried job: both runs continue the dispatch's trace.
    let retried = async { flaky::dispatch(&queue, Step { n: 6 }).await }
        .instrument(tracing::info_span!("retried"))
        .await
        .unwrap()
        .id;

    // A job a handler dispatches continues the trace of the run that dispatched it.
    let chained = async { first::dispatch(&queue, Step { n: 7 }).await }
        .instrument(tracing::info_span!("chained"))
        .await
        .unwrap()
        .id;

    let follow_up = JobId::from("second-8");
    let mut all = vec![alone.clone(), traced.clone(), retried.clone(), chained];
    all.extend(bulk_ids.iter().cloned());
    all.push(follow_up.clone());
    run_until_completed(&queue, &all).await;
    provider.force_flush().unwrap();

    let run_of = |id: &JobId| kept.find("job", "id", id.as_str());
    // The job dispatched without a context starts a trace of its own.
    let alone_run = &run_of(&alone)[0];
    assert_eq!(alone_run.parent_span_id, SpanId::INVALID);
    // The traced one continues `outer`.
    let traced_run = &run_of(&traced)[0];
    assert_eq!(trace_of(traced_run), trace_of(dispatch));
    assert_eq!(traced_run.parent_span_id, dispatch.span_context.span_id());
    assert!(traced_run.parent_span_is_remote);

    let bulk_span = &kept.named("dispatch_bulk")[0];
    for id in &bulk_ids {
        let run = &run_of(id)[0];
        assert_eq!(trace_of(run), trace_of(bulk_span), "job {id}");
        assert_eq!(run.parent_span_id, bulk_span.span_context.span_id());
    }

    let flaky_dispatch = &kept.find("dispatch", "name", "flaky")[0];
    let runs = run_of(&retried);
    assert_eq!(runs.len(), 2, "two runs: {runs:?}");
    for run in &runs {
        assert_eq!(trace_of(run), trace_of(flaky_dispatch));
        assert_eq!(run.parent_span_id, flaky_dispatch.span_context.span_id());
    }

    let chained_span = &kept.named("chained")[0];
    let first_run = &kept.find("job", "name", "first")[0];
    let second_dispatch = &kept.find("dispatch", "name", "second")[0];
    assert_eq!(
        second_dispatch.parent_span_id,
        first_run.span_context.span_id()
    );
    let second_run = &run_of(&follow_up)[0];
    assert_eq!(trace_of(second_run), trace_of(chained_span));
    assert_eq!(
        second_run.parent_span_id,
        second_dispatch.span_context.span_id()
    );
    provider.shutdown().unwrap();
}
