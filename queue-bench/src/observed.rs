//! The observed runs: what an application with events, metrics, logs and retention on has
//! installed.

use queue_core::{Keep, Queue};

/// How often the recorder's upkeep drains its histograms: the exporter's own default.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the process's metrics recorder (Prometheus, rendered by nobody, its upkeep run
/// every [`UPKEEP`] as the exporter's HTTP listener would) and a tracing subscriber at info
/// that formats every span and event into a sink. Once per process.
pub(crate) fn install() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the bench's only metrics recorder");
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
