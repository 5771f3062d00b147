//! Tracing: each run is a `job` span carrying the job's id, name, queue, attempt and outcome,
//! and the handler's own spans are its children. Its own test binary: it installs the global
//! subscriber.

mod support;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::{job, JobError};
use support::{memory_queue, start, until_counts};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A span as recorded: its name, its fields, and its parent's name.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    fields: HashMap<String, String>,
    parent: Option<String>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<HashMap<u64, Seen>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_string(),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        seen.parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_string());
        self.0.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        if let Some(seen) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }
}

#[job(queue = "traced")]
async fn traced(n: u32) -> Result<(), JobError> {
    let span = tracing::info_span!("inner_work", n);
    let _entered = span.enter();
    if n == 2 {
        return Err(JobError::fatal(JobError::msg("two is not allowed")));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_run_is_a_span_with_the_handlers_spans_inside() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .expect("the test binary's only subscriber");
    let queue = memory_queue();
    let one = traced::dispatch(&queue, 1).await.unwrap().id;
    let two = traced::dispatch(&queue, 2).await.unwrap().id;
    let worker = start(queue.worker().handlers(["traced"]));
    until_counts(&queue, "traced", Duration::from_secs(10), |c| {
        c.failed == 1 && c.ready == 0 && c.active == 0
    })
    .await;
    worker.shutdown().await.unwrap();

    let spans: Vec<Seen> = recorder.0.lock().unwrap().values().cloned().collect();
    let run = |id: &str| {
        spans
            .iter()
            .find(|s| s.name == "job" && s.fields.get("id").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no job span for {id}: {spans:?}"))
    };
    let first = run(one.as_str());
    assert_eq!(first.fields["name"], "traced");
    assert_eq!(first.fields["queue"], "traced");
    assert_eq!(first.fields["attempt"], "1");
    assert_eq!(first.fields["outcome"], "completed");
    assert_eq!(run(two.as_str()).fields["outcome"], "failed");

    let inner: Vec<&Seen> = spans.iter().filter(|s| s.name == "inner_work").collect();
    assert_eq!(inner.len(), 2);
    assert!(
        inner.iter().all(|s| s.parent.as_deref() == Some("job")),
        "the handler's spans are children of its run's: {inner:?}"
    );
    let dispatches = spans.iter().filter(|s| s.name == "dispatch").count();
    assert_eq!(dispatches, 2, "one span per dispatch");
}
