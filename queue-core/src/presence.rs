//! Which workers are alive and which lanes they serve, as storage records it: how an operator
//! sees jobs that no running worker will take.

use std::time::{Duration, SystemTime};

use crate::job::{Counts, Lane};

/// How often a running worker tells the storage it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// How long a worker counts as alive after its last heartbeat (three heartbeats).
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(30);

/// How busy one of a worker's lanes is, as of its last heartbeat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaneLoad {
    /// Most jobs of the lane the worker runs at once.
    pub concurrency: usize,
    /// Jobs of the lane it was running (or reserving) when it last recorded itself.
    pub running: usize,
}

impl LaneLoad {
    /// A lane's load: its concurrency and the jobs running now.
    pub fn new(concurrency: usize, running: usize) -> Self {
        Self {
            concurrency,
            running,
        }
    }
}

/// A running worker: its identity, the lanes it serves and how busy each is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerPresence {
    /// Unique per worker run: `host:pid:n`.
    pub id: String,
    /// The machine's host name.
    pub host: String,
    /// The worker's process id.
    pub pid: u32,
    /// When the worker started.
    pub started_at: SystemTime,
    /// The lanes it serves.
    pub lanes: Vec<Lane>,
    /// Each lane's load, in the order of `lanes`, as of the last heartbeat; empty when the
    /// record was written by a worker that did not report it.
    pub load: Vec<LaneLoad>,
    /// Per lane, in the order of `lanes`, the fencing tokens of the leases it was running jobs
    /// under at the last heartbeat: how a job's holder is found
    /// ([`Queue::job`](crate::Queue::job) fills [`JobInfo::held_by`](crate::JobInfo::held_by)).
    pub tokens: Vec<Vec<u64>>,
}

impl WorkerPresence {
    /// A worker's record as a driver hands it back.
    pub fn new(
        id: String,
        host: String,
        pid: u32,
        started_at: SystemTime,
        lanes: Vec<Lane>,
    ) -> Self {
        Self {
            id,
            host,
            pid,
            started_at,
            lanes,
            load: Vec::new(),
            tokens: Vec::new(),
        }
    }

    /// The record with each lane's load (in the order of `lanes`).
    pub fn with_load(mut self, load: Vec<LaneLoad>) -> Self {
        self.load = load;
        self
    }

    /// The load of `lane`, when the record has it.
    pub fn load_of(&self, lane: &Lane) -> Option<LaneLoad> {
        let at = self.lanes.iter().position(|l| l == lane)?;
        self.load.get(at).copied()
    }

    /// The record of a worker of this process serving `lanes`, with a fresh id.
    pub(crate) fn of_this_process(lanes: Vec<Lane>) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let host = host_name();
        let pid = std::process::id();
        let started_at = SystemTime::now();
        let nanos = started_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        Self::new(
            format!("{host}:{pid}:{nanos:x}-{run}"),
            host,
            pid,
            started_at,
            lanes,
        )
    }
}

/// Jobs of a lane that no live worker serves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unserved {
    /// The lane (queue and job name).
    pub lane: Lane,
    /// Its jobs by state (`failed` is counted per queue, not here).
    pub counts: Counts,
}

fn host_name() -> String {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_file = || std::fs::read_to_string("/etc/hostname").ok();
    from_env
        .or_else(from_file)
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}
