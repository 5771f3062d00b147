//! Real worker processes against a real redis-server: a worker killed with SIGKILL loses no
//! job, two workers share a queue without duplicates, and a Redis restart loses nothing.

#[path = "../../../queue-redis/tests/support/mod.rs"]
mod support;

#[path = "../src/jobs.rs"]
mod jobs;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::{JobId, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;

/// A worker binary with its stdout lines, each with the time it was read.
struct WorkerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl WorkerProcess {
    fn spawn(url: &str, lease_ms: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_worker"))
            .env("QUEUE_URL", url)
            .env("WORKER_LEASE_MS", lease_ms.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the worker binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push((Instant::now(), line));
            }
        });
        let worker = Self { child, lines };
        worker.wait_for(Duration::from_secs(20), |w| {
            w.lines
                .lock()
                .unwrap()
                .iter()
                .any(|(_, l)| l == "worker ready")
        });
        worker
    }

    fn wait_for(&self, limit: Duration, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + limit;
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "worker output never satisfied the check"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ids with a `start` line, and with a `done` line, and when each job started.
    fn events(&self) -> (Vec<(Instant, String, u32)>, Vec<String>) {
        let mut starts = Vec::new();
        let mut dones = Vec::new();
        for (at, line) in self.lines.lock().unwrap().iter() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["start", id, attempt] => {
                    starts.push((*at, id.to_string(), attempt.parse().unwrap()))
                }
                ["done", id, _] => dones.push(id.to_string()),
                _ => {}
            }
        }
        (starts, dones)
    }

    fn done_count(&self) -> usize {
        self.events().1.len()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

async fn dispatch(queue: &Queue, range: std::ops::Range<u64>, ms: u64) -> Vec<JobId> {
    queue
        .dispatch_bulk(range.map(|n| jobs::process::job(jobs::Item { n, ms })))
        .await
        .expect("dispatch")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

async fn until_drained(queue: &Queue, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let counts = queue.counts("split").await.expect("counts");
        if counts.pending() == 0 {
            assert_eq!(counts.failed, 0, "no job may fail");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "queue not drained within {limit:?}: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_no_job() {
    let server = RedisServer::start();
    let queue = queue(&server.url()).await;
    let lease = Duration::from_millis(2000);
    let ids: Vec<JobId> = queue
        .dispatch_bulk((0..200).map(|n| {
            jobs::process::job(jobs::Item {
                n,
                ms: 20 + n % 7 * 10,
            })
        }))
        .await
        .expect("dispatch")
        .into_iter()
        .map(|d| d.id)
        .collect();

    let first = WorkerProcess::spawn(&server.url(), lease.as_millis() as u64);
    // Kill it once 30 jobs are done and others are running.
    first.wait_for(Duration::from_secs(20), |w| {
        let (starts, dones) = w.events();
        dones.len() >= 30 && starts.len() > dones.len() + 3
    });
    let mut first = first;
    first.child.kill().expect("SIGKILL the worker");
    first.child.wait().unwrap();
    let killed_at = Instant::now();
    let (starts, dones) = first.events();
    let done_by_first: HashSet<String> = dones.into_iter().collect();
    // In flight = still leased in storage when the worker died: running, or finished but not
    // yet acked (acks are batched). Nothing changes them until their leases expire.
    let mut in_flight = HashSet::new();
    for (_, id, _) in &starts {
        let info = queue
            .job("split", &JobId::from(id.as_str()))
            .await
            .expect("lookup");
        if info.is_some_and(|j| j.state == queue_core::JobState::Active) {
            in_flight.insert(id.clone());
        }
    }
    assert!(
        !in_flight.is_empty(),
        "the kill must interrupt running jobs ({} started, {} done)",
        starts.len(),
        done_by_first.len()
    );

    let second = WorkerProcess::spawn(&server.url(), lease.as_millis() as u64);
    until_drained(&queue, Duration::from_secs(60)).await;
    let (starts2, dones2) = second.events();

    // Every job completed; only jobs that were running at the kill completed twice.
    let mut completions: HashMap<String, usize> = HashMap::new();
    for id in done_by_first.iter().chain(dones2.iter()) {
        *completions.entry(id.clone()).or_default() += 1;
    }
    for id in &ids {
        assert!(completions.contains_key(id.as_str()), "job {id} was lost");
    }
    for (id, n) in &completions {
        assert!(
            *n == 1 || in_flight.contains(id),
            "job {id} ran {n} times but was not in flight"
        );
    }
    // The killed worker's jobs ran again within one lease (plus scheduling slack) of the kill,
    // with the attempt number of the lost run: a lost lease spends no attempt.
    for id in &in_flight {
        let (at, _, attempt) = starts2
            .iter()
            .find(|(_, s, _)| s == id)
            .unwrap_or_else(|| panic!("in-flight job {id} never ran again"));
        let lost_run = starts
            .iter()
            .rev()
            .find(|(_, s, _)| s == id)
            .map(|(_, _, attempt)| *attempt)
            .expect("an in-flight job started in the killed worker");
        assert_eq!(
            *attempt, lost_run,
            "the lost run must not count as an attempt"
        );
        let after = at.duration_since(killed_at);
        assert!(
            after <= lease + Duration::from_millis(1500),
            "job {id} re-ran {after:?} after the kill"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_share_a_queue_without_duplicates() {
    let server = RedisServer::start();
    let queue = queue(&server.url()).await;
    let a = WorkerProcess::spawn(&server.url(), 15_000);
    let b = WorkerProcess::spawn(&server.url(), 15_000);
    let ids = dispatch(&queue, 0..300, 5).await;
    until_drained(&queue, Duration::from_secs(60)).await;
    let (_, done_a) = a.events();
    let (_, done_b) = b.events();
    assert!(
        !done_a.is_empty() && !done_b.is_empty(),
        "both workers took jobs: {} / {}",
        done_a.len(),
        done_b.len()
    );
    let mut all: Vec<String> = done_a.into_iter().chain(done_b).collect();
    assert_eq!(all.len(), 300, "each job ran exactly once");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_acknowledged_or_enqueued_job() {
    let mut server = RedisServer::start();
    let url = server.url();
    let queue = queue(&url).await;
    let worker = WorkerProcess::spawn(&url, 2000);
    let mut accepted: Vec<JobId> = dispatch(&queue, 0..100, 20).await;
    worker.wait_for(Duration::from_secs(20), |w| w.done_count() >= 10);

    // Kill Redis (AOF with fsync always) while jobs are running.
    tokio::task::block_in_place(|| server.stop());
    let started = Instant::now();
    let outage = queue
        .dispatch(jobs::process::job(jobs::Item { n: 1000, ms: 1 }))
        .await;
    assert!(outage.is_err(), "dispatch during the outage must fail");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "and must not hang: {:?}",
        started.elapsed()
    );
    let err = outage.unwrap_err();
    assert!(err.is_retryable(), "an outage is retryable: {err}");
    tokio::task::block_in_place(|| server.restart());

    // Dispatch works again once the connection is back.
    let deadline = Instant::now() + Duration::from_secs(20);
    let more = loop {
        match queue
            .dispatch_bulk((100..150).map(|n| jobs::process::job(jobs::Item { n, ms: 5 })))
            .await
        {
            Ok(stored) => break stored,
            Err(e) => {
                assert!(Instant::now() < deadline, "dispatch never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    accepted.extend(more.into_iter().map(|d| d.id));

    until_drained(&queue, Duration::from_secs(60)).await;
    let (_, dones) = worker.events();
    let done: HashSet<String> = dones.into_iter().collect();
    for id in &accepted {
        assert!(
            done.contains(id.as_str()),
            "job {id} was lost across the restart"
        );
    }
}
