//! The overview: every queue's counts, the runs of the last hour, the live workers.

use std::time::SystemTime;

use queue_core::{unix_minute, Counts, STATS_MINUTES};
use serde::Serialize;

use super::{Runs, Time};
use crate::error::WebError;
use crate::state::AppState;

/// One queue on the overview.
#[derive(Debug, Serialize)]
pub(crate) struct QueueSummary {
    pub(crate) name: String,
    pub(crate) counts: Counts,
    /// Jobs waiting or running: scheduled, ready and active.
    pub(crate) depth: u64,
    /// When the longest-waiting ready job was created.
    pub(crate) oldest_ready: Option<Time>,
}

/// The runs that ended in one minute, over every queue.
#[derive(Debug, Serialize, Clone, Copy)]
pub(crate) struct MinuteView {
    /// The minute's start.
    pub(crate) at: Time,
    pub(crate) runs: Runs,
}

/// The overview page.
#[derive(Debug, Serialize)]
pub(crate) struct Overview {
    pub(crate) queues: Vec<QueueSummary>,
    /// Live workers; `None` when the driver keeps no records of workers.
    pub(crate) workers: Option<usize>,
    /// The runs of the current minute and of the one before, over every queue; `None` when
    /// the driver keeps no statistics.
    pub(crate) this_minute: Option<Runs>,
    pub(crate) last_minute: Option<Runs>,
    /// The longest-waiting ready job over every queue.
    pub(crate) oldest_ready: Option<Time>,
    /// The last hour, minute by minute, oldest first (empty without statistics).
    pub(crate) chart: Vec<MinuteView>,
}

/// Reads the overview: per queue its counters and its per-minute statistics.
pub(crate) async fn overview(state: &AppState) -> Result<Overview, WebError> {
    let queue = state.queue();
    let with_stats = queue.driver().stats().is_some();
    let now_minute = unix_minute(SystemTime::now());
    let mut chart: Vec<MinuteView> = (now_minute.saturating_sub(STATS_MINUTES - 1)..=now_minute)
        .map(|m| MinuteView {
            at: Time(queue_core::from_unix_ms(m * 60_000)),
            runs: Runs::default(),
        })
        .collect();
    let mut queues = Vec::new();
    let mut oldest_ready: Option<Time> = None;
    for name in state.queue_names().await? {
        let counts = queue.counts(&name).await.map_err(|e| state.fail(e))?;
        let mut summary = QueueSummary {
            depth: counts.pending(),
            name,
            counts,
            oldest_ready: None,
        };
        if with_stats {
            let stats = queue
                .stats(&summary.name)
                .await
                .map_err(|e| state.fail(e))?;
            summary.oldest_ready = stats.oldest_ready.map(Time);
            for minute in &stats.minutes {
                let slot = (minute.minute + STATS_MINUTES).checked_sub(now_minute + 1);
                if let Some(point) = slot.and_then(|i| chart.get_mut(i as usize)) {
                    point.runs.completed += minute.runs.completed;
                    point.runs.failed += minute.runs.failed;
                    point.runs.retried += minute.runs.retried;
                }
            }
        }
        if let Some(t) = summary.oldest_ready {
            oldest_ready = Some(oldest_ready.map_or(t, |o| o.min(t)));
        }
        queues.push(summary);
    }
    let workers = match queue.driver().presence() {
        Some(_) => Some(queue.workers().await.map_err(|e| state.fail(e))?.len()),
        None => None,
    };
    if !with_stats {
        chart.clear();
    }
    let minute = |back: usize| chart.len().checked_sub(back + 1).map(|i| chart[i].runs);
    Ok(Overview {
        workers,
        this_minute: minute(0),
        last_minute: minute(1),
        oldest_ready,
        queues,
        chart,
    })
}
