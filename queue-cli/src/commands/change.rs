//! The commands that change storage: retry, cancel, delete, purge, pause, resume, dispatch.

use queue_core::{CancelOutcome, JobId, JobState, Lane};
use serde_json::{json, Value};

use super::inspect::counts_json;
use super::{known_queue, Context, Report};
use crate::cli::DispatchArgs;
use crate::error::{CliError, CliResult};
use crate::listing::state_name;

/// `queue retry ID --queue Q`
pub(crate) async fn retry(cx: &Context, id: &str, queue: &str) -> CliResult<Report> {
    known_queue(&cx.queue, queue).await?;
    let job_id = JobId::from(id);
    let job = cx
        .queue
        .job(queue, &job_id)
        .await?
        .ok_or_else(|| not_found(id, queue))?;
    if !matches!(job.state, JobState::Failed | JobState::Cancelled) {
        return Err(CliError::failed(format!(
            "job `{id}` in queue `{queue}` is {}, not failed; only failed jobs can be retried",
            state_name(job.state)
        )));
    }
    cx.queue.retry_failed(queue, &job_id).await?;
    Ok(Report {
        json: json!({ "queue": queue, "id": id, "retried": 1 }),
        text: format!("job {id} of queue `{queue}` is ready again with fresh attempts\n"),
        notes: Vec::new(),
    })
}

/// `queue retry --all --queue Q`
pub(crate) async fn retry_all(cx: &Context, queue: &str) -> CliResult<Report> {
    known_queue(&cx.queue, queue).await?;
    let moved = cx.queue.retry_all_failed(queue).await?;
    Ok(Report {
        json: json!({ "queue": queue, "retried": moved }),
        text: format!(
            "{moved} failed job{} of queue `{queue}` ready again with fresh attempts\n",
            plural(moved)
        ),
        notes: Vec::new(),
    })
}

/// `queue cancel ID [--queue Q]`: without a queue, the one queue holding the job.
pub(crate) async fn cancel(cx: &Context, id: &str, queue: Option<&str>) -> CliResult<Report> {
    let job_id = JobId::from(id);
    let queue = match queue {
        Some(name) => {
            known_queue(&cx.queue, name).await?;
            name.to_string()
        }
        None => super::inspect::find(cx, id).await?.queue,
    };
    let (verb, text) = match cx.queue.cancel(&queue, &job_id).await? {
        CancelOutcome::Removed => ("removed", "it was waiting and is removed"),
        CancelOutcome::Stopped => (
            "stopped",
            "it was running: its worker stops it at its next lease renewal, and it stays in the \
             failed list as cancelled",
        ),
        CancelOutcome::Finished => {
            let state = match cx.queue.job(&queue, &job_id).await? {
                Some(job) => state_name(job.state),
                None => "gone",
            };
            return Err(CliError::failed(format!(
                "job `{id}` in queue `{queue}` already ended ({state}); nothing to cancel"
            )));
        }
        _ => return Err(not_found(id, &queue)),
    };
    Ok(Report {
        json: json!({ "queue": queue, "id": id, "cancelled": verb }),
        text: format!("cancelled job {id} of queue `{queue}`: {text}\n"),
        notes: Vec::new(),
    })
}

/// `queue delete ID --queue Q`
pub(crate) async fn delete(cx: &Context, id: &str, queue: &str) -> CliResult<Report> {
    known_queue(&cx.queue, queue).await?;
    if !cx.queue.delete(queue, &JobId::from(id)).await? {
        return Err(not_found(id, queue));
    }
    Ok(Report {
        json: json!({ "queue": queue, "deleted": id }),
        text: format!("deleted job {id} of queue `{queue}`\n"),
        notes: Vec::new(),
    })
}

/// `queue purge Q`
pub(crate) async fn purge(cx: &Context, queue: &str) -> CliResult<Report> {
    known_queue(&cx.queue, queue).await?;
    let before = cx.queue.counts(queue).await?;
    cx.queue.purge(queue).await?;
    let total = before.pending() + before.failed + before.completed;
    Ok(Report {
        json: json!({ "queue": queue, "purged": total, "before": counts_json(&before) }),
        text: format!(
            "purged queue `{queue}`: {total} job{} (ready {}, scheduled {}, active {}, failed {}, completed {})\n",
            plural(total as usize),
            before.ready,
            before.scheduled,
            before.active,
            before.failed,
            before.completed
        ),
        notes: Vec::new(),
    })
}

/// `queue pause Q` (`pause = true`) and `queue resume Q`.
///
/// A queue the storage does not list (it has no jobs yet, or was purged) is paused or resumed
/// all the same, so jobs dispatched later wait; a note names it in case it is a typo.
pub(crate) async fn pause(cx: &Context, queue: &str, pause: bool) -> CliResult<Report> {
    let mut notes = Vec::new();
    let mut known = cx.queue.queues().await?;
    if !known.iter().any(|q| q == queue) {
        known.sort();
        notes.push(format!(
            "the storage lists no queue `{queue}` (no jobs yet?); {} it anyway{}",
            if pause { "pausing" } else { "resuming" },
            if known.is_empty() {
                String::new()
            } else {
                format!("; known queues: {}", known.join(", "))
            }
        ));
    }
    if pause {
        cx.queue.pause(queue).await?;
    } else {
        cx.queue.resume(queue).await?;
    }
    Ok(Report {
        json: json!({ "queue": queue, "paused": pause }),
        text: if pause {
            format!("paused queue `{queue}`: workers take none of its jobs until `queue resume {queue}`\n")
        } else {
            format!("resumed queue `{queue}`\n")
        },
        notes,
    })
}

/// `queue dispatch NAME JSON [--queue Q] [--delay D] [--id ID] [--priority P] [--attempts N]`
pub(crate) async fn dispatch(cx: &Context, args: DispatchArgs) -> CliResult<Report> {
    let payload: Value = serde_json::from_str(&args.payload)
        .map_err(|e| CliError::usage(format!("payload is not valid JSON: {e}")))?;
    // The handler lives in another program, so the queue is always named: the command line's
    // or the default one.
    let mut dispatch = cx
        .queue
        .dispatch_named(&args.name, payload)
        .queue(&args.queue);
    if let Some(delay) = args.delay {
        dispatch = dispatch.delay(delay);
    }
    if let Some(priority) = args.priority {
        dispatch = dispatch.priority(priority);
    }
    if let Some(attempts) = args.attempts {
        dispatch = dispatch.attempts(attempts);
    }
    if let Some(id) = &args.id {
        dispatch = dispatch.id(id.as_str());
    }
    let stored = dispatch.await?;
    let id = stored.id.to_string();
    let text = if stored.created {
        format!(
            "dispatched job {id} ({}) to queue `{}`\n",
            args.name, args.queue
        )
    } else {
        format!(
            "job {id} already exists in queue `{}`; nothing new was stored\n",
            args.queue
        )
    };
    let mut notes = Vec::new();
    if !cx.in_memory {
        if let Some(note) = unserved_note(cx, &args.queue, &args.name).await {
            notes.push(note);
        }
    }
    Ok(Report {
        json: json!({
            "id": id,
            "queue": args.queue,
            "name": args.name,
            "created": stored.created,
        }),
        text,
        notes,
    })
}

/// A note when no live worker serves the lane a job was just stored in; nothing when one
/// does, or when the storage keeps no worker records (the job is stored either way).
async fn unserved_note(cx: &Context, queue: &str, job: &str) -> Option<String> {
    let lane = Lane::new(queue, job).ok()?;
    let workers = cx.queue.workers().await.ok()?;
    let served = workers.iter().any(|w| w.lanes.contains(&lane));
    (!served).then(|| {
        format!(
            "no live worker serves `{lane}` now; the job waits until a worker with a `{job}` \
             handler serves queue `{queue}`"
        )
    })
}

fn not_found(id: &str, queue: &str) -> CliError {
    CliError::failed(format!("job `{id}` not found in queue `{queue}`"))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
