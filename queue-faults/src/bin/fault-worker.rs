//! A worker process for the fault suite: runs `fault_task` jobs against `QUEUE_URL` until
//! SIGTERM or Ctrl-C, recording every run in a history. Settings come from environment
//! variables (see the crate's README); a bad one exits with status 2 and a message naming it.

use std::process::ExitCode;
use std::sync::Arc;

use queue_core::Queue;
use queue_faults::{fault_task, Bench, Recorder, WorkerConfig};
use queue_redis as _;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match WorkerConfig::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fault-worker: {error}");
            return ExitCode::from(2);
        }
    };
    let recorder = match &config.history {
        Some(path) => match Recorder::to_file(path) {
            Ok(recorder) => recorder,
            Err(error) => {
                eprintln!(
                    "fault-worker: cannot open the history file {}: {error}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        },
        None => Recorder::to_stdout(),
    };
    let queue = match Queue::connect(&config.url).await {
        Ok(queue) => queue,
        Err(error) => {
            eprintln!("fault-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    let recorder = Arc::new(recorder);
    let bench = Bench {
        recorder: recorder.clone(),
        kill_after_success: config.kill_after_success,
    };
    let mut worker = queue
        .worker()
        .handlers([fault_task::NAME])
        .concurrency(fault_task::NAME, config.concurrency);
    if let Some(lease) = config.lease {
        worker = worker.lease(lease);
    }
    if let Some(grace) = config.grace {
        worker = worker.grace(grace);
    }
    let worker = match worker.state(bench).build() {
        Ok(worker) => worker,
        Err(error) => {
            eprintln!("fault-worker: {error}");
            return ExitCode::FAILURE;
        }
    };
    recorder.ready();
    match worker.run_until(queue_core::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fault-worker: {error}");
            ExitCode::FAILURE
        }
    }
}
