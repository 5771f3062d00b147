//! Three worker processes on one real redis-server fire a every-second schedule: each tick's
//! job runs exactly once, and across a stop of all of them (ticks missed meanwhile are caught
//! up by the schedule's policy) no tick is missing.

#[path = "../../../queue-redis/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use queue_core::{unix_ms, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;

/// A cron worker binary and its stdout lines.
struct CronWorker {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl CronWorker {
    fn spawn(url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cron_worker"))
            .env("QUEUE_URL", url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cron worker binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let worker = Self { child, lines };
        wait_until(Duration::from_secs(20), || {
            worker
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l == "worker ready")
        });
        worker
    }

    /// The tick times this process ran (from `tick tick@<ms>` lines).
    fn ticks(&self) -> Vec<u64> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("tick tick@"))
            .map(|ms| ms.parse().expect("a tick time"))
            .collect()
    }

    /// Stops it as a deployment would (SIGTERM) and waits for it to exit cleanly.
    fn stop(mut self) -> Vec<u64> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait for the worker");
        assert!(
            exit.success(),
            "the worker exits cleanly on SIGTERM: {exit}"
        );
        // The reader thread has seen every line once the pipe closed.
        wait_until(Duration::from_secs(5), || {
            Arc::strong_count(&self.lines) == 1
        });
        self.ticks()
    }
}

impl Drop for CronWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(limit: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Every tick each of `workers` ran, until they ran ticks due at or after `until_ms`.
fn run_until_tick(workers: &[CronWorker], until_ms: u64) {
    wait_until(Duration::from_secs(30), || {
        workers
            .iter()
            .flat_map(|w| w.ticks())
            .any(|tick| tick >= until_ms)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_fire_each_tick_once_across_a_restart() {
    let server = RedisServer::start();
    let url = server.url();
    let mut ran: Vec<u64> = Vec::new();

    // Three workers for about six ticks.
    let workers: Vec<CronWorker> = (0..3).map(|_| CronWorker::spawn(&url)).collect();
    run_until_tick(&workers, now_ms() + 6000);
    for worker in workers {
        ran.extend(worker.stop());
    }
    // All stopped for about three ticks: those ticks come due with no worker running.
    let stopped_at = now_ms();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let restarted_at = now_ms();

    let workers: Vec<CronWorker> = (0..3).map(|_| CronWorker::spawn(&url)).collect();
    run_until_tick(&workers, now_ms() + 5000);
    // Paused, the schedule fires no more; the workers run what it fired, then stop.
    let queue = Queue::new(Arc::new(RedisDriver::connect(&url).await.expect("connect")));
    queue.pause_schedule("split-cron", "tick").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue.counts("split-cron").await.unwrap().pending() > 0 {
        assert!(Instant::now() < deadline, "the fired ticks never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for worker in workers {
        ran.extend(worker.stop());
    }

    // Each tick ran exactly once.
    let mut runs: BTreeMap<u64, usize> = BTreeMap::new();
    for tick in &ran {
        *runs.entry(*tick).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "ticks ran more than once: {twice:?}");
    // No tick missing, from the first to the last, the downtime's included.
    let ticks: Vec<u64> = runs.keys().copied().collect();
    let gaps: Vec<_> = ticks.windows(2).filter(|w| w[1] - w[0] != 1000).collect();
    assert!(
        gaps.is_empty(),
        "ticks missing between: {gaps:?} (of {ticks:?})"
    );
    assert!(
        ticks.len() >= 12,
        "about fourteen ticks expected: {ticks:?}"
    );
    let during_downtime = ticks
        .iter()
        .filter(|t| **t > stopped_at && **t < restarted_at)
        .count();
    assert!(
        during_downtime >= 2,
        "the ticks due while every worker was stopped ran after the restart: {ticks:?}"
    );

    // Storage agrees: the last fired tick is the last that ran, and nothing is left or failed.
    let listed = queue.schedules("split-cron").await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "one schedule, however many workers stored it"
    );
    assert_eq!(listed[0].last_tick.map(unix_ms), ticks.last().copied());
    let counts = queue.counts("split-cron").await.unwrap();
    assert_eq!(counts.failed, 0);
    assert_eq!(counts.pending(), 0, "every fired tick ran: {counts:?}");
    assert!(listed[0].paused);
}
