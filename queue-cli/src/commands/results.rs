//! What finished jobs left behind: `queue result` reads a kept result, `queue clean` removes
//! old completed or failed jobs.

use std::time::Duration;

use queue_core::{JobId, JobState};
use serde_json::{json, Value};

use super::{known_queue, Context, Report};
use crate::cli::CleanArgs;
use crate::error::{CliError, CliResult};
use crate::listing::state_name;

/// `queue result ID --queue Q [--wait D]`
pub(crate) async fn result(
    cx: &Context,
    id: &str,
    queue: &str,
    wait: Option<Duration>,
) -> CliResult<Report> {
    known_queue(&cx.queue, queue).await?;
    let job_id = JobId::from(id);
    let value: Value = match wait {
        Some(timeout) => cx.queue.wait_result(queue, &job_id, timeout).await?,
        None => match cx.queue.result(queue, &job_id).await? {
            Some(value) => value,
            None => return Err(no_result(cx, id, queue).await),
        },
    };
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value serializes");
    text.push('\n');
    Ok(Report {
        json: json!({ "queue": queue, "id": id, "result": value }),
        text,
        notes: Vec::new(),
    })
}

/// Why job `id` has no result to print, as the error to end with.
async fn no_result(cx: &Context, id: &str, queue: &str) -> CliError {
    let job = match cx.queue.job(queue, &JobId::from(id)).await {
        Ok(job) => job,
        Err(error) => return error.into(),
    };
    CliError::failed(match job {
        None => format!("job `{id}` not found in queue `{queue}`"),
        Some(job) if job.state == JobState::Failed => format!(
            "job `{id}` in queue `{queue}` failed: {}",
            job.last_error.as_deref().unwrap_or("no error recorded")
        ),
        Some(job) if job.state == JobState::Completed => format!(
            "job `{id}` in queue `{queue}` completed without a kept result (its handler keeps \
             none, or the result expired)"
        ),
        Some(job) => format!(
            "job `{id}` in queue `{queue}` has no result yet: it is {}; pass --wait to wait for it",
            state_name(job.state)
        ),
    })
}

/// `queue clean STATE --older-than D [--queue Q] [--limit N]`
pub(crate) async fn clean(cx: &Context, args: CleanArgs) -> CliResult<Report> {
    let names = match &args.queue {
        Some(name) => {
            known_queue(&cx.queue, name).await?;
            vec![name.clone()]
        }
        None => {
            let mut names = cx.queue.queues().await?;
            names.sort();
            names
        }
    };
    let state = state_name(args.state);
    let mut text = String::new();
    let mut list = Vec::new();
    let mut total = 0;
    for name in &names {
        let removed = cx
            .queue
            .clean(name, args.state, args.older_than, args.limit as usize)
            .await?;
        total += removed;
        text.push_str(&format!(
            "removed {removed} {state} job{} from queue `{name}`\n",
            if removed == 1 { "" } else { "s" }
        ));
        list.push(json!({ "queue": name, "removed": removed }));
    }
    if names.is_empty() {
        text.push_str("no queues\n");
    }
    Ok(Report {
        json: json!({
            "state": state,
            "older_than_secs": args.older_than.as_secs_f64(),
            "queues": list,
            "removed": total,
        }),
        text,
        notes: Vec::new(),
    })
}
