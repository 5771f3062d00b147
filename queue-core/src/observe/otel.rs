//! Trace context carried in jobs (feature `otel`): a dispatch stores the OpenTelemetry
//! context of the span it runs in ahead of the job's JSON, and the job's run span takes it as
//! its parent, so the handler's spans continue the dispatcher's trace, in any process.
//!
//! Both ends go through the program's global propagator
//! (`opentelemetry::global::set_text_map_propagator`, e.g. with `TraceContextPropagator` for
//! W3C `traceparent` and `tracestate`); the default propagator writes nothing, and a job then
//! carries no context. The stored form is described in [`StoredPayload`](crate::StoredPayload).

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::job::{strip_trace_context, with_context, NewJob, StoredPayload, CONTEXT_MARK};

/// Stores the current span's OpenTelemetry context in each job (replacing a context one
/// already carries). With no context to carry (no span, a span no OpenTelemetry layer records,
/// or a propagator that writes nothing), the jobs are left as they are.
pub(crate) fn carry_context(jobs: &mut [NewJob]) {
    let cx = Span::current().context();
    if !cx.span().span_context().is_valid() {
        return;
    }
    let mut fields = Fields(Vec::new());
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&cx, &mut fields)
    });
    if fields.0.is_empty() {
        return;
    }
    for job in jobs {
        let json = strip_trace_context(&job.payload);
        let pairs = fields.0.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        if let Some(stored) = with_context(json, pairs) {
            job.payload = stored;
        }
    }
}

/// Makes the context a run's payload carries the parent of its run span `span`, which must
/// not have been entered yet. A payload without a context costs one byte compare; a disabled
/// span (filtered out: it has no OpenTelemetry span to parent) or a context the propagator
/// cannot read leaves the span as it is.
pub(crate) fn continue_trace(span: &Span, payload: &[u8]) {
    if payload.first() != Some(&CONTEXT_MARK) || span.is_disabled() {
        return;
    }
    // A malformed payload fails in its handler's decode, which names the job.
    let Ok(stored) = StoredPayload::parse(payload) else {
        return;
    };
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Stored(stored))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer records the span: nothing to parent then.
        let _ = span.set_parent(parent);
    }
}

/// The fields a propagator writes, in its order.
struct Fields(Vec<(String, String)>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_string(), value));
    }
}

/// A stored payload's context, for a propagator to read.
struct Stored<'a>(StoredPayload<'a>);

impl Extractor for Stored<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.context_field(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.context().map(|(name, _)| name).collect()
    }
}
