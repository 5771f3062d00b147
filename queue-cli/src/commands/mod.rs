//! The commands: each reads or changes storage through `queue_core::Queue` and returns a
//! [`Report`], printed as text or JSON by `main`.

mod change;
mod events;
mod inspect;
mod results;
mod web;

use queue_core::{JobInfo, Queue};
use serde_json::{json, Value};

use crate::cli::Command;
use crate::error::{CliError, CliResult};
use crate::listing::state_name;
use crate::output::Style;
use crate::time::rfc3339;

/// What a command has to say: JSON for scripts, text for people, and notes for stderr.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// The result as JSON (printed with `--json`).
    pub(crate) json: Value,
    /// The result as text (printed without `--json`), ending with a newline.
    pub(crate) text: String,
    /// Remarks for stderr in either mode (one line each).
    pub(crate) notes: Vec<String>,
}

/// What every command works with.
#[derive(Debug)]
pub(crate) struct Context {
    /// The storage.
    pub(crate) queue: Queue,
    /// Colours for the text report.
    pub(crate) style: Style,
    /// Whether the storage is this process's memory (nothing of other programs is there).
    pub(crate) in_memory: bool,
    /// Whether output is JSON (for commands that print as they go).
    pub(crate) json: bool,
    /// The storage URL's password (as typed and decoded), never to be shown.
    pub(crate) secrets: Vec<String>,
}

/// Runs `command`.
pub(crate) async fn run(cx: &Context, command: Command) -> CliResult<Report> {
    match command {
        Command::Stats { queue } => inspect::stats(cx, queue.as_deref()).await,
        Command::Queues => inspect::queues(cx).await,
        Command::Jobs(args) => inspect::jobs(cx, args).await,
        Command::Show { id, queue } => inspect::show(cx, &id, queue.as_deref()).await,
        Command::Workers => inspect::workers(cx).await,
        Command::Unserved => inspect::unserved(cx).await,
        Command::Retry { id, all, queue } => match (id, all) {
            (_, true) => change::retry_all(cx, &queue).await,
            (Some(id), false) => change::retry(cx, &id, &queue).await,
            (None, false) => Err(CliError::usage("retry needs a job id or --all")),
        },
        Command::Delete { id, queue } => change::delete(cx, &id, &queue).await,
        Command::Cancel { id, queue } => change::cancel(cx, &id, queue.as_deref()).await,
        Command::Purge { queue } => change::purge(cx, &queue).await,
        Command::Pause { queue } => change::pause(cx, &queue, true).await,
        Command::Resume { queue } => change::pause(cx, &queue, false).await,
        Command::Dispatch(args) => change::dispatch(cx, args).await,
        Command::Events { queue } => events::follow(cx, queue).await,
        Command::Result { id, queue, wait } => results::result(cx, &id, &queue, wait).await,
        Command::Clean(args) => results::clean(cx, args).await,
        Command::Web(args) => web::serve(cx, args).await,
    }
}

/// Fails unless storage knows the queue `name` (a shard's name: its queue), listing the queues
/// it knows.
async fn known_queue(queue: &Queue, name: &str) -> CliResult<()> {
    let mut queues = queue.queues().await?;
    queues.sort();
    // A shard's own name (`q@shard-1-of-3`) is known when its queue is.
    let base = queue_core::parse_shard_queue(name).map_or(name, |(base, _, _)| base);
    if queues.iter().any(|q| q == base) {
        return Ok(());
    }
    Err(CliError::failed(if queues.is_empty() {
        format!("unknown queue `{name}`: the storage holds no queues")
    } else {
        format!(
            "unknown queue `{name}`; known queues: {}",
            queues.join(", ")
        )
    }))
}

/// A job's record as JSON (the payload parsed, or as text when it is not JSON).
fn job_json(job: &JobInfo) -> Value {
    json!({
        "id": job.id.as_str(),
        "queue": job.queue,
        "name": job.name,
        "state": state_name(job.state),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "lost_leases": job.lost_leases,
        "priority": job.priority,
        "created_at": rfc3339(job.created_at),
        "first_started_at": job.first_started_at.map(rfc3339),
        "started_at": job.started_at.map(rfc3339),
        "failed_at": job.failed_at.map(rfc3339),
        "finished_at": job.finished_at.map(rfc3339),
        "held_by": job.held_by,
        "last_error": job.last_error,
        "progress": job.progress,
        "payload": payload(job),
        "traceparent": traceparent(job),
        "result": job.result.as_deref().map(json_or_text),
    })
}

/// The W3C `traceparent` of the dispatch the job continues, when its payload carries one.
fn traceparent(job: &JobInfo) -> Option<&str> {
    job.stored_payload().ok()?.context_field("traceparent")
}

/// Stored bytes as JSON, or as a string when they do not parse.
fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// The payload as JSON without the trace context it may carry, or as a string when it does
/// not parse.
fn payload(job: &JobInfo) -> Value {
    json_or_text(queue_core::strip_trace_context(&job.payload))
}
