//! What the fault tests share: a directory with the history file that every worker process
//! appends to, worker processes started, killed and watched, and bounded waits.
#![allow(dead_code, unreachable_pub)]

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::{JobId, JobInfo, Queue};
use queue_faults::{
    now_us, parse_history, Event, CONCURRENCY_ENV, GRACE_ENV, HISTORY_ENV, KILL_AFTER_SUCCESS_ENV,
    LEASE_ENV, QUEUE, URL_ENV,
};
use queue_redis::RedisDriver;

/// A test's working directory and history file, removed when dropped.
#[derive(Debug)]
pub struct Lab {
    dir: PathBuf,
    history: PathBuf,
    spawned: std::cell::Cell<usize>,
}

impl Lab {
    /// A fresh directory for the test called `name`.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "queue-faults-{name}-{}-{}",
            std::process::id(),
            now_us()
        ));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let history = dir.join("history");
        File::create(&history).expect("create the history file");
        Self {
            dir,
            history,
            spawned: std::cell::Cell::new(0),
        }
    }

    /// Every complete event recorded so far.
    pub fn events(&self) -> Vec<Event> {
        let text = std::fs::read_to_string(&self.history).expect("read the history");
        parse_history(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The history as written, for failure messages.
    pub fn history_text(&self) -> String {
        std::fs::read_to_string(&self.history).unwrap_or_default()
    }

    /// Starts a `fault-worker` against `url` and waits until it is connected and running.
    pub fn spawn(&self, url: &str, settings: Settings) -> WorkerProcess {
        let number = self.spawned.get() + 1;
        self.spawned.set(number);
        let log = self.dir.join(format!("worker-{number}.stderr"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_fault-worker"));
        command
            .env(URL_ENV, url)
            .env(HISTORY_ENV, &self.history)
            .env(LEASE_ENV, settings.lease.as_millis().to_string())
            .env(CONCURRENCY_ENV, settings.concurrency.to_string())
            .env(
                KILL_AFTER_SUCCESS_ENV,
                if settings.kill_after_success {
                    "1"
                } else {
                    "0"
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create the worker's log"));
        if let Some(grace) = settings.grace {
            command.env(GRACE_ENV, grace.as_millis().to_string());
        }
        let child = command.spawn().expect("start the fault-worker binary");
        let pid = child.id();
        let mut worker = WorkerProcess {
            child,
            pid,
            lab_history: self.history.clone(),
            log,
            exited: false,
        };
        let deadline = Deadline::after(Duration::from_secs(20), "a worker to start");
        while !self
            .events()
            .iter()
            .any(|e| matches!(e, Event::Ready { pid: p, .. } if *p == pid))
        {
            if worker.exited() {
                panic!("the worker exited at start: {}", worker.log_text());
            }
            deadline.check(|| worker.log_text());
            std::thread::sleep(Duration::from_millis(5));
        }
        worker
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("the failed test's history and logs: {}", self.dir.display());
        }
    }
}

/// How a worker process is set up.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub lease: Duration,
    pub concurrency: usize,
    pub grace: Option<Duration>,
    pub kill_after_success: bool,
}

impl Settings {
    /// A worker with this lease and concurrency, default grace, no kill after success.
    pub fn new(lease: Duration, concurrency: usize) -> Self {
        Self {
            lease,
            concurrency,
            grace: None,
            kill_after_success: false,
        }
    }
}

/// A running `fault-worker`; killed (and its exit recorded) when dropped.
#[derive(Debug)]
pub struct WorkerProcess {
    child: Child,
    pid: u32,
    lab_history: PathBuf,
    log: PathBuf,
    exited: bool,
}

impl WorkerProcess {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// What it wrote to stderr.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether it has exited; the first time it is seen dead, its exit is recorded.
    pub fn exited(&mut self) -> bool {
        if self.exited {
            return true;
        }
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.record_exit();
                true
            }
            Ok(None) => false,
            Err(error) => panic!("cannot wait for worker {}: {error}", self.pid),
        }
    }

    /// Kills it with SIGKILL and records its exit.
    pub fn kill(&mut self) {
        if self.exited {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.record_exit();
    }

    /// Waits until it dies on its own.
    pub fn wait_for_death(&mut self, limit: Duration) {
        let deadline = Deadline::after(limit, "a worker to die");
        while !self.exited() {
            deadline.check(|| format!("worker {} still runs", self.pid));
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn record_exit(&mut self) {
        self.exited = true;
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.lab_history)
            .expect("open the history");
        let line = format!(
            "{}\n",
            Event::Exit {
                pid: self.pid,
                at: now_us()
            }
        );
        file.write_all(line.as_bytes())
            .expect("append to the history");
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A bounded wait: `check` panics once the limit has passed.
#[derive(Debug)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
    what: &'static str,
}

impl Deadline {
    pub fn after(limit: Duration, what: &'static str) -> Self {
        Self {
            at: Instant::now() + limit,
            limit,
            what,
        }
    }

    /// Panics, with `detail()`, if the deadline has passed.
    #[track_caller]
    pub fn check(&self, detail: impl FnOnce() -> String) {
        if Instant::now() >= self.at {
            panic!(
                "waited {:?} for {} in vain: {}",
                self.limit,
                self.what,
                detail()
            );
        }
    }
}

/// A queue handle of its own, connected straight to `url`.
pub async fn connect(url: &str) -> Queue {
    Queue::new(Arc::new(
        RedisDriver::connect(url).await.expect("connect to redis"),
    ))
}

/// Looks a job of the fault queue up.
pub async fn job(queue: &Queue, id: &str) -> Option<JobInfo> {
    queue
        .job(QUEUE, &JobId::from(id))
        .await
        .unwrap_or_else(|e| panic!("look job {id} up: {e}"))
}

/// Whether job `id` is done: acked jobs are removed at once, so no longer stored.
pub async fn is_done(queue: &Queue, id: &str) -> bool {
    job(queue, id).await.is_none()
}

/// Waits until the fault queue holds no pending job; panics if any failed.
pub async fn until_drained(queue: &Queue, limit: Duration) {
    let deadline = Deadline::after(limit, "the queue to drain");
    loop {
        let counts = queue.counts(QUEUE).await.expect("counts");
        assert_eq!(counts.failed, 0, "no job may fail: {counts:?}");
        if counts.pending() == 0 {
            return;
        }
        deadline.check(|| format!("{counts:?}"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ids with a completed (`ok`) run in `events`.
pub fn completed(events: &[Event]) -> std::collections::HashSet<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::End {
                id,
                outcome: queue_faults::Outcome::Ok,
                ..
            } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// The start events of `pid`, as (job id, attempt, time).
pub fn starts_of(events: &[Event], pid: u32) -> Vec<(String, u32, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Start {
                id,
                attempt,
                pid: p,
                at,
            } if *p == pid => Some((id.clone(), *attempt, *at)),
            _ => None,
        })
        .collect()
}

/// The jobs in flight when worker `pid` died: those it started that storage still holds as
/// active (running, or finished with the ack not sent). Ask at once after the death is seen:
/// nothing changes them until their leases expire.
pub async fn in_flight_at_death(queue: &Queue, events: &[Event], pid: u32) -> Vec<String> {
    let mut ids: Vec<String> = starts_of(events, pid)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    ids.sort();
    ids.dedup();
    let mut in_flight = Vec::new();
    for id in ids {
        if job(queue, &id)
            .await
            .is_some_and(|info| info.state == queue_core::JobState::Active)
        {
            in_flight.push(id);
        }
    }
    in_flight
}
