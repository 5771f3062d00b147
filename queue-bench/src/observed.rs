//! The observed runs: what an application with events, metrics, logs and retention on has
//! installed.

use queue_core::observe::metrics::SECONDS_BUCKETS;
use queue_core::{Keep, Queue};

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often the recorder's upkeep drains its histograms: the exporter's own default.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The installed recorder's handle, once [`install`] ran.
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (Prometheus with the metrics example's buckets,
/// rendered by nobody, its upkeep run every [`UPKEEP`] as the exporter's HTTP listener would,
/// and at each [`upkeep`]) and a tracing subscriber at info that formats every span and event
/// into a sink. Once per process.
pub(crate) fn install() {
    let recorder = PrometheusBuilder::new()
        // The `_seconds` histograms' buckets, as the metrics example sets them (without
        // buckets the exporter keeps a summary's sketch instead).
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .expect("the example's buckets")
        .install_recorder()
        .expect("the bench's only metrics recorder");
    RECORDER
        .set(recorder.clone())
        .expect("the recorder is installed once");
    // Without it the histograms keep every sample for good (16 bytes per job).
    std::thread::spawn(move || loop {
        std::thread::sleep(UPKEEP);
        recorder.run_upkeep();
    });
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(std::io::sink)
        .with_ansi(false)
        .init();
}

/// Runs the recorder's upkeep now, when one is installed: the histogram samples recorded so
/// far go into their buckets. Every snapshot runs it before reading the CPU, so a phase is
/// charged for bucketing its own samples, not the phase or idle window during which the
/// periodic upkeep happens to fall (a drain of a million jobs left two million samples, whose
/// bucketing showed as an observed idle worker using 17% of a core).
pub(crate) fn upkeep() {
    if let Some(recorder) = RECORDER.get() {
        recorder.run_upkeep();
    }
}

/// `queue` with metrics on and an event subscriber that reads every event.
pub(crate) fn watch(queue: Queue) -> Queue {
    let queue = queue.with_metrics();
    let mut events = queue.events();
    tokio::spawn(async move { while events.next().await.is_some() {} });
    queue
}

/// What the observed runs' workers keep of successful jobs: the last 1,000 completed.
pub(crate) fn keep(observed: bool) -> Keep {
    if observed {
        Keep {
            completed: 1000,
            ..Keep::default()
        }
    } else {
        Keep::default()
    }
}
