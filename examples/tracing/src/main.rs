//! A handler's spans continuing the trace of the code that dispatched its job.
//!
//! `cargo run -p example-tracing` (add `QUEUE_URL=redis://127.0.0.1:6379` to go through
//! Redis). The program installs a `tracing` subscriber with an OpenTelemetry layer whose
//! exporter keeps the finished spans in memory, dispatches a job inside a `checkout` span, runs
//! a worker until the job completed, and prints one line per span: its name, trace id, span
//! id, parent span id (`remote=true` when the parent came from another process, here through
//! the job), and its fields. The `checkout`, `dispatch`, `job` and `render_receipt` spans
//! share one trace id.
//!
//! What it takes (see the README's "Tracing"): queue-core's `otel` feature, a global
//! `TraceContextPropagator`, and queue-core's spans enabled at debug level
//! (`queue_core=debug`): a disabled span has no OpenTelemetry context to carry or continue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use queue_core::{job, EventKind, JobError, Queue};
use queue_memory as _;
use queue_redis as _;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Serialize, Deserialize)]
struct Receipt {
    order: u32,
}

/// Renders and sends an order's receipt; its own span is a child of the run's `job` span.
#[job(queue = "receipts")]
async fn send_receipt(receipt: Receipt) -> Result<(), JobError> {
    async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        tracing::info!("receipt rendered");
    }
    .instrument(tracing::info_span!("render_receipt", order = receipt.order))
    .await;
    Ok(())
}

/// An exporter that keeps the spans the SDK hands it, to print them at the end.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Kept {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().expect("exporter lock").extend(batch);
        Ok(())
    }
}

/// Span fields the OpenTelemetry layer adds on its own, left out of the printout.
const NOISE: &[&str] = &["code.", "thread.", "busy_ns", "idle_ns", "target", "level"];

fn print_span(span: &SpanData) {
    let parent = if span.parent_span_id == SpanId::INVALID {
        "-".to_string()
    } else {
        span.parent_span_id.to_string()
    };
    let mut line = format!(
        "{:<15} trace={} span={} parent={parent}",
        span.name,
        span.span_context.trace_id(),
        span.span_context.span_id(),
    );
    if span.parent_span_is_remote {
        line.push_str(" remote=true");
    }
    for field in &span.attributes {
        let key = field.key.as_str();
        if !NOISE.iter().any(|noise| key.starts_with(noise)) {
            line.push_str(&format!(" {key}={}", field.value));
        }
    }
    println!("{line}");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // OpenTelemetry: a tracer whose spans end up in `kept`, and W3C trace context as the
    // format a job carries its dispatcher's context in.
    let kept = Kept::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(kept.clone())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    // `tracing`: queue-core's dispatch and run spans are at debug level; enable them.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,queue_core=debug".into());
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("example-tracing")))
        .init();

    let queue = Queue::from_env().await?;
    let mut events = queue.events();
    // The dispatch runs in the caller's span: its `dispatch` span is a child of `checkout`,
    // and the job carries the `dispatch` span's context.
    let dispatched = async { send_receipt::dispatch(&queue, Receipt { order: 7 }).await }
        .instrument(tracing::info_span!("checkout", order = 7))
        .await?;
    let id = dispatched.id;

    // A worker (in another process in production; here in this one) runs until the job
    // completed.
    let completed = async move {
        while let Some(event) = events.next().await {
            if event.id == id && event.kind == EventKind::Completed {
                break;
            }
        }
    };
    queue
        .worker()
        .handlers(["send_receipt"])
        .run_until(completed)
        .await?;

    provider.force_flush()?;
    let mut spans = kept.0.lock().expect("exporter lock").clone();
    spans.sort_by_key(|span| span.start_time);
    for span in &spans {
        print_span(span);
    }
    provider.shutdown()?;
    Ok(())
}
