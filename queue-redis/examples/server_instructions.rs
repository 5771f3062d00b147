//! What the Redis scripts cost the server, in instructions per job: a `redis-server` run under
//! valgrind's callgrind, counted over each phase, in this order: dispatch in batches of 1,000,
//! drain by one worker at concurrency 50, dispatch one job per call from 50 tasks, and the drain
//! again keeping the last 1,000 (or `keep`) completed jobs. Instruction counts do not drift with the
//! machine's speed as CPU time does, so two builds' scripts compare in one run each; the
//! profiles it leaves (`callgrind_annotate`) say where the instructions go when the
//! `redis-server` has symbols. Each count includes the server's own timers over the phase (an
//! idle 7.0 server under callgrind executes about 1.2M instructions a second), so each row also
//! gives the phase's length: compare builds whose phases took about as long, or set that apart.
//!
//! `cargo run --release -p queue-redis --example server_instructions -- [jobs] [dir] [keep]`
//! (default 20,000 jobs per phase; profiles in `dir`, default a new temporary directory; the
//! last drain keeps the last `keep` completed jobs, default 1,000).
//! Needs `valgrind` (`apt-get install valgrind`); `REDIS_SERVER` names the server binary
//! (default `redis-server`; a build from Redis's source keeps its symbols). Prints a
//! `| measurement | value |` table.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callgrind::{count_arg, dir_arg, Callgrind};
use queue_core::{job, JobError, Keep, Queue};
use queue_redis::RedisDriver;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[path = "callgrind/mod.rs"]
mod callgrind;

/// This program's name, in its messages.
const PROGRAM: &str = "server_instructions";

static DONE: AtomicU64 = AtomicU64::new(0);
static TARGET: AtomicU64 = AtomicU64::new(u64::MAX);
static REACHED: Notify = Notify::const_new();

/// The no-op handler, counting runs.
#[job(queue = "instructions", concurrency = 50, attempts = 1)]
async fn counted_noop(_n: u64) -> Result<(), JobError> {
    if DONE.fetch_add(1, Ordering::Relaxed) + 1 == TARGET.load(Ordering::Relaxed) {
        REACHED.notify_one();
    }
    Ok(())
}

/// The server under callgrind, stopped on drop.
struct Server {
    child: Child,
    callgrind: Callgrind,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path) -> (Self, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let server = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}/phase", dir.display()))
            .arg(&server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("valgrind is not installed: install it (`apt-get install valgrind`)");
        // Under valgrind the server takes seconds to start.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{server} did not start under valgrind"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let callgrind = Callgrind {
            pid: child.id(),
            dir: dir.to_path_buf(),
        };
        let server = Self { child, callgrind };
        (server, format!("redis://127.0.0.1:{port}/"))
    }
}

/// Dispatches jobs `0..jobs`: in batches of 1,000, or one per call from 50 tasks.
async fn dispatch(queue: &Queue, jobs: u64, one_by_one: bool) {
    if !one_by_one {
        for start in (0..jobs).step_by(1000) {
            let batch = (start..(start + 1000).min(jobs)).map(counted_noop::job);
            queue.dispatch_bulk(batch).await.expect("dispatch");
        }
        return;
    }
    let tasks: Vec<_> = (0..50)
        .map(|first| {
            let queue = queue.clone();
            tokio::spawn(async move {
                for n in (first..jobs).step_by(50) {
                    counted_noop::dispatch(&queue, n).await.expect("dispatch");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a dispatching task");
    }
}

/// Runs a worker until it ran `jobs` jobs, keeping the last `keep` completed.
async fn drain(queue: &Queue, jobs: u64, keep: usize) {
    DONE.store(0, Ordering::SeqCst);
    TARGET.store(jobs, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let reached = REACHED.notified();
    let kept = Keep {
        completed: keep,
        ..Keep::default()
    };
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["counted_noop"])
            .keep("counted_noop", kept)
            .run_until(stop.clone().cancelled_owned()),
    );
    reached.await;
    stop.cancel();
    worker.await.expect("worker").expect("worker ran");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let jobs = count_arg(&mut args, PROGRAM, "jobs", 20_000);
    let dir = dir_arg(&mut args, PROGRAM);
    let keep = count_arg(&mut args, PROGRAM, "keep", 1000) as usize;
    let (server, url) = Server::start(&dir);
    let driver = RedisDriver::connect(&url).await.expect("connect");
    let queue = Queue::new(Arc::new(driver));
    println!(
        "<!-- {jobs} jobs per phase; profiles in {} -->",
        dir.display()
    );
    println!("| measurement | value |");
    println!("| --- | --- |");
    let per_job = |(n, took): (u64, Duration)| {
        format!(
            "{:.0} instructions per job ({:.1} s)",
            n as f64 / jobs as f64,
            took.as_secs_f64()
        )
    };
    let bulk = server
        .callgrind
        .count("dispatch-bulk", dispatch(&queue, jobs, false))
        .await;
    println!("| dispatch, batches of 1,000 | {} |", per_job(bulk));
    let bare = server
        .callgrind
        .count("drain", drain(&queue, jobs, 0))
        .await;
    println!("| drain, nothing kept | {} |", per_job(bare));
    let one = server
        .callgrind
        .count("dispatch-one", dispatch(&queue, jobs, true))
        .await;
    println!(
        "| dispatch, one job per call from 50 tasks | {} |",
        per_job(one)
    );
    let kept = server
        .callgrind
        .count("drain-keep", drain(&queue, jobs, keep))
        .await;
    println!(
        "| drain, keeping the last {keep} completed | {} |",
        per_job(kept)
    );
    drop(server);
}
