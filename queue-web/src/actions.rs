//! What the dashboard's buttons do: each action reads its fields (a form, or the JSON API's
//! object), changes storage through `Queue`, and says what it did. The guard has already
//! checked read-only mode and the CSRF token.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use queue_core::{JobId, JobState};

use crate::data::JobsParams;
use crate::error::WebError;
use crate::state::AppState;

/// Most jobs one "everything matching" action changes; the rest stay for another press.
pub(crate) const MAX_BULK: usize = 100_000;

/// An action's fields: from a form (`a=1&id=2&id=3`) or a JSON object (`{"a": 1, "id": [2, 3]}`:
/// an array gives its key once per item).
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub(crate) fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| WebError::bad_request(format!("could not read the request: {e}")))?;
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        if !json {
            return serde_urlencoded::from_bytes(&bytes)
                .map(Self)
                .map_err(|e| WebError::bad_request(format!("unreadable form: {e}")));
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| WebError::bad_request(format!("unreadable JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| WebError::bad_request("expected a JSON object"))?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut fields = Vec::new();
        for (key, value) in object {
            match value {
                serde_json::Value::Array(items) => {
                    fields.extend(items.iter().map(|v| (key.clone(), text(v))));
                }
                other => fields.push((key.clone(), text(other))),
            }
        }
        Ok(Self(fields))
    }
}

/// Runs `action` on job `id` of `queue`: `retry`, `delete` or `cancel`.
pub(crate) async fn job_action(
    state: &AppState,
    queue: &str,
    id: &str,
    action: &str,
) -> Result<String, WebError> {
    let q = state.queue();
    let fail = |e| state.fail(e);
    let job = JobId::from(id);
    queue_core::validate_name("queue name", queue).map_err(fail)?;
    match action {
        "retry" => {
            q.retry_failed(queue, &job).await.map_err(fail)?;
            Ok(format!("job {id} moved back to ready"))
        }
        "delete" => match q.delete(queue, &job).await.map_err(fail)? {
            true => Ok(format!("job {id} deleted")),
            false => Err(WebError::not_found(format!(
                "no job `{id}` in queue `{queue}`"
            ))),
        },
        "cancel" => {
            let outcome = q.cancel(queue, &job).await.map_err(fail)?;
            Ok(format!("job {id}: {}", cancel_text(outcome)))
        }
        other => Err(WebError::not_found(format!("no job action `{other}`"))),
    }
}

fn cancel_text(outcome: queue_core::CancelOutcome) -> &'static str {
    match outcome {
        queue_core::CancelOutcome::Removed => "cancelled (it was waiting, and is removed)",
        queue_core::CancelOutcome::Stopped => "cancelled (its worker stops it at its next renewal)",
        queue_core::CancelOutcome::Finished => "already finished; nothing to cancel",
        _ => "cancel requested",
    }
}

/// Runs `action` on `queue`: `pause`, `resume`, `retry-failed`, `clean` (fields `state`:
/// completed or failed, `older_than`: seconds) or `purge` (field `confirm`: the queue's name).
pub(crate) async fn queue_action(
    state: &AppState,
    queue: &str,
    action: &str,
    fields: &Fields,
) -> Result<String, WebError> {
    state.known_queue(queue).await?;
    let q = state.queue();
    let fail = |e| state.fail(e);
    match action {
        "pause" => {
            q.pause(queue).await.map_err(fail)?;
            Ok(format!("queue {queue} paused"))
        }
        "resume" => {
            q.resume(queue).await.map_err(fail)?;
            Ok(format!("queue {queue} resumed"))
        }
        "retry-failed" => {
            let n = q.retry_all_failed(queue).await.map_err(fail)?;
            Ok(format!("{n} failed jobs of {queue} moved back to ready"))
        }
        "clean" => {
            let which = match fields.get("state") {
                Some("completed") => JobState::Completed,
                Some("failed") => JobState::Failed,
                other => {
                    return Err(WebError::bad_request(format!(
                        "clean needs state `completed` or `failed`, not `{}`",
                        other.unwrap_or("")
                    )))
                }
            };
            let secs: u64 = fields
                .get("older_than")
                .unwrap_or("0")
                .trim()
                .parse()
                .map_err(|_| {
                    WebError::bad_request("`older_than` must be a whole number of seconds")
                })?;
            let n = q
                .clean(queue, which, Duration::from_secs(secs), MAX_BULK)
                .await
                .map_err(fail)?;
            Ok(format!("{n} jobs of {queue} removed"))
        }
        "purge" => {
            if fields.get("confirm").map(str::trim) != Some(queue) {
                return Err(WebError::bad_request(format!(
                    "purge not done: type the queue's name `{queue}` to confirm"
                )));
            }
            q.purge(queue).await.map_err(fail)?;
            Ok(format!("queue {queue} purged: every job deleted"))
        }
        other => Err(WebError::not_found(format!("no queue action `{other}`"))),
    }
}

/// Retries or deletes (`op`) the selected jobs (`id` fields) of `queue`, or with
/// `scope=matching` every job matching `state` and `name` (up to [`MAX_BULK`]).
pub(crate) async fn bulk_action(
    state: &AppState,
    queue: &str,
    fields: &Fields,
) -> Result<String, WebError> {
    state.known_queue(queue).await?;
    let op = match fields.get("op") {
        Some(op @ ("retry" | "delete")) => op,
        other => {
            return Err(WebError::bad_request(format!(
                "bulk action needs op `retry` or `delete`, not `{}`",
                other.unwrap_or("")
            )))
        }
    };
    let mut done = 0usize;
    if fields.get("scope") == Some("matching") {
        let params = JobsParams {
            state: fields.get("state").map(str::to_string),
            name: fields.get("name").map(str::to_string),
            ..JobsParams::default()
        };
        let mut query = params.query()?;
        query.cursor = None;
        if op == "retry" && query.state != JobState::Failed {
            return Err(WebError::bad_request("only failed jobs can be retried"));
        }
        // Every pass takes the first page again: the jobs of the pass before have left it. A
        // page may come back empty with a cursor (a listing by name that ran out of its window
        // of entries): then the listing goes on from there.
        let mut cursor: Option<String> = None;
        while done < MAX_BULK {
            let mut page_query = query.clone().limit(queue_core::MAX_PAGE);
            page_query.cursor = cursor.take();
            let page = state
                .queue()
                .jobs(queue, page_query)
                .await
                .map_err(|e| state.fail(e))?;
            if page.jobs.is_empty() {
                match page.next {
                    Some(next) => {
                        cursor = Some(next);
                        continue;
                    }
                    None => break,
                }
            }
            let before = done;
            for job in &page.jobs {
                done += apply(state, queue, op, job.id.as_str()).await?;
            }
            if page.next.is_none() || done == before {
                break;
            }
        }
    } else {
        let ids = fields.all("id");
        if ids.is_empty() {
            return Err(WebError::bad_request("no job selected"));
        }
        for id in ids {
            done += apply(state, queue, op, id).await?;
        }
    }
    let verb = if op == "retry" {
        "moved back to ready"
    } else {
        "deleted"
    };
    Ok(format!("{done} jobs of {queue} {verb}"))
}

/// Retries or deletes one job; 1 if it changed, 0 if it was gone (or not failed, for a retry).
async fn apply(state: &AppState, queue: &str, op: &str, id: &str) -> Result<usize, WebError> {
    let q = state.queue();
    let job = JobId::from(id);
    let changed = match op {
        "retry" => match q.retry_failed(queue, &job).await {
            Ok(()) => true,
            Err(queue_core::Error::JobNotFound { .. }) => false,
            Err(e) => return Err(state.fail(e)),
        },
        _ => q.delete(queue, &job).await.map_err(|e| state.fail(e))?,
    };
    Ok(usize::from(changed))
}

/// Runs `action` on schedule `name` of `queue`: `trigger` (dispatch its job now), `pause` or
/// `resume`.
pub(crate) async fn schedule_action(
    state: &AppState,
    queue: &str,
    name: &str,
    action: &str,
) -> Result<String, WebError> {
    let q = state.queue();
    let fail = |e| state.fail(e);
    match action {
        "pause" => {
            q.pause_schedule(queue, name).await.map_err(fail)?;
            Ok(format!("schedule {name} paused"))
        }
        "resume" => {
            q.resume_schedule(queue, name).await.map_err(fail)?;
            Ok(format!("schedule {name} resumed"))
        }
        "trigger" => {
            let schedule = q
                .schedules(queue)
                .await
                .map_err(fail)?
                .into_iter()
                .find(|s| s.schedule.name == name)
                .ok_or_else(|| {
                    WebError::not_found(format!("no schedule `{name}` in queue `{queue}`"))
                })?
                .schedule;
            let dispatched = q
                .dispatch_named(&schedule.job, &schedule.payload)
                .queue(queue)
                .await
                .map_err(fail)?;
            Ok(format!(
                "schedule {name} triggered: job {} dispatched",
                dispatched.id
            ))
        }
        other => Err(WebError::not_found(format!("no schedule action `{other}`"))),
    }
}
