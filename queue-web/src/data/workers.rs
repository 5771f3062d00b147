//! Live workers: their heartbeat records, lanes, load and the jobs they run.

use std::collections::{BTreeSet, HashMap};

use queue_core::{JobQuery, JobState, HEARTBEAT_EVERY, HEARTBEAT_TTL};
use serde::Serialize;

use super::Time;
use crate::error::WebError;
use crate::state::AppState;

/// How many active jobs per queue are read to name the jobs workers run.
const ACTIVE_PAGE: usize = 200;

/// One lane a worker serves.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerLaneView {
    pub(crate) queue: String,
    pub(crate) job: String,
    pub(crate) concurrency: Option<usize>,
    pub(crate) running: Option<usize>,
    /// Ids of the jobs it runs, as far as the first page of the queue's active jobs shows.
    pub(crate) jobs: Vec<String>,
}

/// One live worker.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerView {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) started_at: Time,
    pub(crate) lanes: Vec<WorkerLaneView>,
}

/// The workers page.
#[derive(Debug, Serialize)]
pub(crate) struct WorkersView {
    /// Whether the driver keeps records of workers at all.
    pub(crate) supported: bool,
    /// Seconds between heartbeats, and after which a silent worker counts as gone.
    pub(crate) heartbeat_every_s: u64,
    pub(crate) heartbeat_ttl_s: u64,
    pub(crate) workers: Vec<WorkerView>,
}

/// Reads the live workers and names the jobs they hold.
pub(crate) async fn workers(state: &AppState) -> Result<WorkersView, WebError> {
    let queue = state.queue();
    let mut view = WorkersView {
        supported: queue.driver().presence().is_some(),
        heartbeat_every_s: HEARTBEAT_EVERY.as_secs(),
        heartbeat_ttl_s: HEARTBEAT_TTL.as_secs(),
        workers: Vec::new(),
    };
    if !view.supported {
        return Ok(view);
    }
    let fail = |e| state.fail(e);
    let mut found = queue.workers().await.map_err(fail)?;
    found.sort_by(|a, b| a.id.cmp(&b.id));
    // Jobs by (queue, token), from one page of each busy queue's active jobs.
    let busy: BTreeSet<String> = found
        .iter()
        .flat_map(|w| w.lanes.iter().map(|l| l.queue().to_string()))
        .collect();
    let mut by_token: HashMap<(String, u64), String> = HashMap::new();
    for name in busy {
        let query = JobQuery::new(JobState::Active).limit(ACTIVE_PAGE);
        let Ok(page) = queue.jobs(&name, query).await else {
            continue;
        };
        for job in page.jobs {
            if let Some(token) = job.token {
                by_token.insert((name.clone(), token), job.id.to_string());
            }
        }
    }
    for worker in found {
        let lanes = worker
            .lanes
            .iter()
            .enumerate()
            .map(|(i, lane)| {
                let load = worker.load.get(i);
                let tokens = worker.tokens.get(i).map(Vec::as_slice).unwrap_or(&[]);
                WorkerLaneView {
                    queue: lane.queue().to_string(),
                    job: lane.job().to_string(),
                    concurrency: load.map(|l| l.concurrency),
                    running: load.map(|l| l.running),
                    jobs: tokens
                        .iter()
                        .filter_map(|t| by_token.get(&(lane.queue().to_string(), *t)).cloned())
                        .collect(),
                }
            })
            .collect();
        view.workers.push(WorkerView {
            id: worker.id,
            host: worker.host,
            pid: worker.pid,
            started_at: Time(worker.started_at),
            lanes,
        });
    }
    Ok(view)
}
