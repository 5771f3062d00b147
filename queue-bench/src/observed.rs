//! The observed runs: what an application with events, metrics, logs and retention on has
//! installed.

use queue_core::{Keep, Queue};

/// Installs the process's metrics recorder (Prometheus, rendered by nobody) and a tracing
/// subscriber at info that formats every span and event into a sink. Once per process.
pub(crate) fn install() {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the bench's only metrics recorder");
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
