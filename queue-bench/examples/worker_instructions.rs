//! What a worker costs per job on the memory driver, in instructions: the bare drain against
//! the observed one (events with a subscriber reading them, metrics into a Prometheus recorder,
//! a tracing subscriber at info, the last 1,000 completed jobs kept), as the bench's
//! `--observe` runs set them up. The process runs itself under valgrind's callgrind and counts
//! each drain alone (the dispatch before it is not counted). Instruction counts do not drift
//! with the machine's speed as CPU time does, so two builds, or bare and observed, compare in
//! one run each; the profiles it leaves (`callgrind_annotate`) say where the instructions go.
//!
//! `cargo run --release -p queue-bench --example worker_instructions -- [jobs] [dir]`
//! (default 100,000 jobs per drain; profiles in `dir`, default a new temporary directory).
//! Needs `valgrind` (`apt-get install valgrind`). Prints a `| measurement | value |` table.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use callgrind::{count_arg, dir_arg, Callgrind};
use drains::{dispatch, drain};
use queue_core::{Keep, Queue};
use queue_memory::MemoryDriver;

#[path = "../../queue-redis/examples/callgrind/mod.rs"]
mod callgrind;
mod drains;

/// This program's name, in its messages.
const PROGRAM: &str = "worker_instructions";

/// Set in the process that runs under callgrind.
const CHILD: &str = "WORKER_INSTRUCTIONS_CHILD";

fn main() {
    let mut args = std::env::args().skip(1);
    let jobs = count_arg(&mut args, PROGRAM, "jobs", 100_000);
    let dir = dir_arg(&mut args, PROGRAM);
    if std::env::var_os(CHILD).is_some() {
        return child(jobs, &dir);
    }
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}/phase", dir.display()))
        .arg(std::env::current_exe().expect("this program's path"))
        .args([jobs.to_string(), dir.display().to_string()])
        .env(CHILD, "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::null())
        .status()
        .expect("valgrind is not installed: install it (`apt-get install valgrind`)");
    assert!(status.success(), "the run under callgrind failed: {status}");
}

/// The run under callgrind: a bare drain, then an observed one, each counted alone.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn child(jobs: u64, dir: &Path) {
    // As the bench's `--observe` installs them, for both drains.
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            &queue_core::observe::metrics::SECONDS_BUCKETS,
        )
        .expect("the metrics example's buckets")
        .install_recorder()
        .expect("the only metrics recorder");
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO)
        .with_writer(std::io::sink)
        .with_ansi(false)
        .init();
    let bare = Queue::new(Arc::new(MemoryDriver::new()));
    let observed = Queue::new(Arc::new(MemoryDriver::new())).with_metrics();
    let mut events = observed.events();
    tokio::spawn(async move { while events.next().await.is_some() {} });
    println!(
        "<!-- {jobs} jobs per drain; profiles in {} -->",
        dir.display()
    );
    println!("| measurement | value |");
    println!("| --- | --- |");
    let kept = Keep {
        completed: 1000,
        ..Keep::default()
    };
    for (name, queue, keep) in [
        ("bare", &bare, Keep::default()),
        ("observed", &observed, kept),
    ] {
        dispatch(queue, jobs).await;
        let callgrind = Callgrind {
            pid: std::process::id(),
            dir: dir.to_path_buf(),
        };
        let (instructions, took) = callgrind.count(name, drain(queue, jobs, keep)).await;
        println!(
            "| worker instructions per job, drain, {name} | {} ({:.1} s) |",
            instructions / jobs,
            took.as_secs_f64()
        );
    }
}
