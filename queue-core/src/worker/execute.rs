//! Running one job: its handler under a timeout, with panics caught, and the verdict.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;

use crate::context::{JobContext, State};
use crate::error::JobError;
use crate::job::Failure;
use crate::registry::Registration;
use crate::worker::run::{Batch, CancelReason, RunState};

/// What became of one run.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The handler returned `Ok`: remove the job.
    Done,
    /// The run failed: retry later or move to the failed list.
    Failed(Failure),
    /// Cancelled by shutdown: put the job back without spending the attempt.
    Requeue,
    /// The lease was lost: the job is someone else's now; do nothing.
    Abandoned,
}

/// Runs run `index` of `batch` with the handler of `registration` and decides what happens to
/// its job.
pub(crate) async fn execute(
    registration: &'static Registration,
    batch: &Arc<Batch>,
    index: usize,
    payload: Bytes,
    state: &State,
) -> Verdict {
    let def = registration.definition;
    let run = &batch.runs[index];
    let ctx = JobContext::new(batch.clone(), index);
    // Building the future decodes the payload; a panicking Deserialize impl is caught too.
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
        (registration.handler)(&payload, ctx, state)
    }));
    drop(payload);
    let result = match started {
        Err(panic) => Err(panicked(panic)),
        Ok(future) => {
            let guarded = AssertUnwindSafe(future).catch_unwind();
            let timed = async {
                match def.timeout {
                    Some(limit) => tokio::time::timeout(limit, guarded).await.ok(),
                    None => Some(guarded.await),
                }
            };
            tokio::select! {
                biased;
                reason = run.cancel.cancelled() => {
                    return match reason {
                        CancelReason::LeaseLost => Verdict::Abandoned,
                        _ => Verdict::Requeue,
                    };
                }
                outcome = timed => match outcome {
                    None => Err(JobError::msg(format!(
                        "timed out after {}",
                        human(def.timeout.unwrap_or_default())
                    ))),
                    Some(Err(panic)) => Err(panicked(panic)),
                    Some(Ok(result)) => result,
                },
            }
        }
    };
    match result {
        Ok(()) => Verdict::Done,
        Err(error) => Verdict::Failed(judge(registration, run, &error)),
    }
}

/// Retry with backoff while attempts remain and the error is not fatal; otherwise fail.
fn judge(registration: &Registration, run: &RunState, error: &JobError) -> Failure {
    let message = error.to_string();
    if error.is_fatal() || run.attempt >= run.max_attempts {
        return Failure::fail(message);
    }
    let delay = error
        .retry_delay()
        .unwrap_or_else(|| registration.definition.backoff.delay(run.attempt));
    Failure::retry(message, delay)
}

fn panicked(panic: Box<dyn Any + Send>) -> JobError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    JobError::msg(format!("handler panicked: {message}"))
}

/// `1.5s`, `250ms`, `2m` for messages.
pub(crate) fn human(d: Duration) -> String {
    if d.as_secs() >= 60 && d.subsec_nanos() == 0 && d.as_secs() % 60 == 0 {
        format!("{}m", d.as_secs() / 60)
    } else if d.as_millis() >= 1000 {
        format!("{}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
    }
}
