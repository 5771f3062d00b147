//! The job the fault suite runs: it records each run's start and end, sleeps, and does what its
//! payload asks (succeed, fail, abort its process, or succeed and then be killed).

use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, Data, JobContext, JobError};
use serde::{Deserialize, Serialize};

use crate::event::Outcome;
use crate::record::Recorder;

/// The queue the fault suite's jobs go to.
pub const QUEUE: &str = "faults";

/// What a run does after sleeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Return `Ok`.
    Succeed,
    /// Return an error (retried while attempts remain).
    Fail,
    /// Abort the whole worker process as soon as the run starts (`std::process::abort`): the
    /// run never ends and its lease is lost. For poison tests.
    Abort,
    /// Finish the work, record the end as `ok`, then kill the process with SIGKILL before the
    /// handler returns, so the worker never learns of the success and no ack is sent. Only in
    /// a worker started with `FAULT_KILL_AFTER_SUCCESS=1`; elsewhere it just succeeds, so the
    /// job can run again once a worker without the setting takes it.
    SucceedThenKill,
}

/// A job's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// How long the run sleeps before its action.
    pub ms: u64,
    /// What it does then.
    pub action: Action,
}

impl Task {
    /// Sleeps `ms` milliseconds, then succeeds.
    pub fn sleep(ms: u64) -> Self {
        Self {
            ms,
            action: Action::Succeed,
        }
    }
}

/// What the handler shares within a worker process: where it records, and what it may do.
#[derive(Debug)]
pub struct Bench {
    /// The history.
    pub recorder: Arc<Recorder>,
    /// Whether [`Action::SucceedThenKill`] kills the process.
    pub kill_after_success: bool,
}

/// Runs a [`Task`], recording its start and (from a drop guard, so a cancelled run records
/// one too) its end.
#[job(
    queue = "faults",
    concurrency = 4,
    attempts = 3,
    backoff = "fixed(50ms)"
)]
pub async fn fault_task(task: Task, ctx: JobContext, bench: Data<Bench>) -> Result<(), JobError> {
    let mut run = bench.recorder.start(ctx.id().as_str(), ctx.attempt());
    if task.action == Action::Abort {
        std::process::abort();
    }
    tokio::time::sleep(Duration::from_millis(task.ms)).await;
    match task.action {
        Action::Fail => {
            run.outcome(Outcome::Error);
            Err(JobError::msg("the task was asked to fail"))
        }
        Action::SucceedThenKill if bench.kill_after_success => {
            run.outcome(Outcome::Ok);
            drop(run);
            kill_this_process()
        }
        _ => {
            run.outcome(Outcome::Ok);
            Ok(())
        }
    }
}

/// Sends SIGKILL to this process: no destructor, no buffered write and no pending request
/// gets out after it.
fn kill_this_process() -> ! {
    // SAFETY: kill(2) with this process's own id and a valid signal number has no memory
    // effects; SIGKILL cannot be caught, so it does not return once delivered.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL to oneself is delivered before kill(2) returns; this is never reached.
    std::process::abort()
}
