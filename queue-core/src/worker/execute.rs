//! Running one job: its handler under a timeout, with panics caught, and the verdict.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tracing::Span;

use crate::context::{JobContext, State};
use crate::error::JobError;
use crate::job::Failure;
use crate::registry::Registration;
use crate::run::{Batch, CancelReason, RunState};

/// What became of one run.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// The handler returned `Ok`: remove the job, or keep it (and the handler's value, as JSON,
    /// when its handler keeps results).
    Done(Option<Bytes>),
    /// The run failed: retry later or move to the failed list.
    Failed(Failure),
    /// Cancelled by shutdown: put the job back without spending the attempt.
    Requeue,
    /// The handler was rate limited: put the job back for this long without spending the
    /// attempt (and pause the lane).
    Postpone(Duration),
    /// The lease was lost: the job is someone else's now; do nothing.
    Abandoned,
    /// The job was cancelled: storage already ended it; do nothing.
    Cancelled,
}

/// A handler's future, as `#[job]` expansions return it, dropped under a panic guard: a handler
/// cancelled by a timeout, a lost lease or shutdown drops its future outside its own polls, and
/// a value whose `Drop` panics must not take the pool's task with it.
///
/// It carries the run's span, entered at every poll, so the handler's own spans and events
/// are its children.
pub(crate) struct HandlerFuture {
    future: Option<BoxFuture<'static, Result<Option<Bytes>, JobError>>>,
    span: Span,
}

impl Future for HandlerFuture {
    type Output = Result<Option<Bytes>, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.span.enter();
        match this.future.as_mut() {
            Some(future) => future.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

impl Drop for HandlerFuture {
    fn drop(&mut self) {
        let _entered = self.span.enter();
        if let Some(future) = self.future.take() {
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| drop(future))) {
                tracing::error!(
                    panic = %panic_message(&*panic),
                    "a job handler's future panicked while being dropped"
                );
            }
        }
    }
}

/// A run after its first poll.
pub(crate) enum Started {
    /// It ended (or never began, being cancelled already): nothing more to drive.
    Ended(Verdict),
    /// Its handler is waiting for something: drive it with [`finish`].
    Running(HandlerFuture),
}

/// Starts run `index` of `batch`: builds its handler's future (which decodes the payload) and
/// polls it once in `cx`, the context of the task starting the batch (the fetch loop's, or the
/// batch's own).
///
/// Most handlers of a busy queue finish in their first poll; they then need no timer, no
/// cancellation wait and no place among the batch's pending runs. A handler that panics while
/// building or polling, or that is cancelled before it starts, ends here too. One that returns
/// `Pending` has registered `cx`'s waker; once it is moved into the batch's set of pending runs
/// (in the batch's task), that set polls it again with its own waker, as it does every run it
/// receives.
pub(crate) fn start(
    registration: &'static Registration,
    batch: &Arc<Batch>,
    index: usize,
    payload: Bytes,
    state: &State,
    cx: &mut Context<'_>,
) -> Started {
    let run = &batch.runs[index];
    let lane = &batch.scope.lane;
    let span = tracing::debug_span!(
        "job",
        id = %run.lease.id,
        name = lane.job(),
        queue = lane.queue(),
        attempt = run.attempt,
        outcome = tracing::field::Empty,
    );
    // Before the span is first entered: only then can it take a parent.
    #[cfg(feature = "otel")]
    crate::observe::otel::continue_trace(&span, &payload);
    let ctx = JobContext::new(batch.clone(), index);
    // Building the future decodes the payload; a panicking Deserialize impl is caught too.
    let built = span.in_scope(|| {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            (registration.handler)(&payload, ctx, state)
        }))
    });
    drop(payload);
    let mut future = match built {
        Ok(future) => HandlerFuture {
            future: Some(future),
            span,
        },
        Err(panic) => {
            let verdict = verdict(registration, run, Err(panicked(panic)));
            return Started::Ended(recorded(&span, verdict));
        }
    };
    // As in `finish`, cancellation is looked at before the handler.
    if run.cancel.is_cancelled() {
        return Started::Ended(recorded(&future.span, cancelled(run.cancel.reason())));
    }
    let verdict =
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut future).poll(cx))) {
            Ok(Poll::Pending) => return Started::Running(future),
            Ok(Poll::Ready(result)) => verdict(registration, run, result),
            Err(panic) => verdict(registration, run, Err(panicked(panic))),
        };
    Started::Ended(recorded(&future.span, verdict))
}

/// Records how a run ended on its span.
fn recorded(span: &Span, verdict: Verdict) -> Verdict {
    if !span.is_disabled() {
        let outcome = match &verdict {
            Verdict::Done(_) => "completed",
            Verdict::Failed(failure) if failure.retry_in.is_some() => "retrying",
            Verdict::Failed(_) => "failed",
            Verdict::Requeue => "requeued",
            Verdict::Postpone(_) => "rate_limited",
            Verdict::Abandoned => "lease_lost",
            Verdict::Cancelled => "cancelled",
        };
        span.record("outcome", outcome);
    }
    verdict
}

/// Drives a started run to its end under its timeout (counted from the batch's start, as the
/// context's deadline says) and its cancellation.
pub(crate) async fn finish(
    registration: &'static Registration,
    batch: &Batch,
    index: usize,
    future: HandlerFuture,
) -> Verdict {
    let def = registration.definition;
    let run = &batch.runs[index];
    let span = future.span.clone();
    recorded(
        &span,
        finish_run(registration, batch, run, future, def).await,
    )
}

async fn finish_run(
    registration: &'static Registration,
    batch: &Batch,
    run: &RunState,
    future: HandlerFuture,
    def: &crate::registry::JobDefinition,
) -> Verdict {
    let guarded = AssertUnwindSafe(future).catch_unwind();
    let timed = async {
        match batch.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, guarded).await.ok(),
            None => Some(guarded.await),
        }
    };
    let result = tokio::select! {
        biased;
        reason = run.cancel.cancelled() => return cancelled(reason),
        outcome = timed => match outcome {
            None => Err(JobError::msg(format!(
                "timed out after {}",
                human(def.timeout.unwrap_or_default())
            ))),
            Some(Err(panic)) => Err(panicked(panic)),
            Some(Ok(result)) => result,
        },
    };
    verdict(registration, run, result)
}

/// The verdict of a run cancelled for `reason`.
fn cancelled(reason: CancelReason) -> Verdict {
    match reason {
        CancelReason::LeaseLost => Verdict::Abandoned,
        CancelReason::Cancelled => Verdict::Cancelled,
        _ => Verdict::Requeue,
    }
}

fn verdict(
    registration: &Registration,
    run: &RunState,
    result: Result<Option<Bytes>, JobError>,
) -> Verdict {
    match result {
        Ok(kept) => Verdict::Done(kept),
        Err(error) if error.rate_limit().is_some() => {
            Verdict::Postpone(error.rate_limit().expect("checked"))
        }
        // The error's `Display` and `Drop` are the handler's code: under a panic guard too.
        Err(error) => Verdict::Failed(
            std::panic::catch_unwind(AssertUnwindSafe(move || {
                let failure = judge(registration, run, &error);
                drop(error);
                failure
            }))
            .unwrap_or_else(|panic| {
                Failure::fail(format!(
                    "the handler's error panicked while being formatted or dropped: {}",
                    panic_message(&*panic)
                ))
            }),
        ),
    }
}

/// Retry with backoff while attempts remain and the error is not fatal; otherwise fail. A
/// backoff function that panics fails the job for good, naming the panic: its retries could
/// not be timed.
fn judge(registration: &Registration, run: &RunState, error: &JobError) -> Failure {
    let message = error.to_string();
    if error.is_fatal() || run.attempt >= run.max_attempts {
        return Failure::fail(message);
    }
    let delay = match error.retry_delay() {
        Some(delay) => delay,
        None => {
            let backoff = &registration.definition.backoff;
            match std::panic::catch_unwind(AssertUnwindSafe(|| backoff.delay(run.attempt))) {
                Ok(delay) => delay,
                Err(panic) => {
                    return Failure::fail(format!(
                        "{message} (not retried: the backoff function panicked: {})",
                        panic_message(&*panic)
                    ))
                }
            }
        }
    };
    Failure::retry(message, delay)
}

fn panicked(panic: Box<dyn Any + Send>) -> JobError {
    JobError::msg(format!("handler panicked: {}", panic_message(&*panic)))
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string())
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
