//! Cancelling jobs (the driver's [`Cancel`] capability).

use std::time::SystemTime;

use crate::driver::{Cancel, CancelOutcome};
use crate::error::{Error, Result};
use crate::flow::pump::end_step;
use crate::flow::{is_step_id, StepOutcome};
use crate::job::{JobId, Lane};
use crate::observe::events::{Event, EventKind};
use crate::queue::Queue;

impl Queue {
    /// The driver's cancelling of jobs, or an error saying it has none.
    fn canceller(&self) -> Result<&dyn Cancel> {
        self.driver().cancel().ok_or_else(|| Error::Unsupported {
            capability: "cancelling jobs",
            driver: format!("{:?}", self.driver()),
        })
    }

    /// Cancels job `id` of `queue`; it is never retried. A waiting job (ready, scheduled, or
    /// waiting for a retry) is removed ([`CancelOutcome::Removed`]). A running job
    /// ([`CancelOutcome::Stopped`]) is taken from its worker: whichever process runs it finds
    /// out at its next lease renewal (within a third of the lease), fires the run's
    /// cancellation ([`JobContext::cancelled`](crate::JobContext::cancelled)) and stops it; its
    /// ack or failure would be refused. The job is kept in the failed list as
    /// [`JobState::Cancelled`](crate::JobState::Cancelled), and the worker reports a
    /// `cancelled` event. Retried from the failed list while the stopped run's lease would
    /// still hold, it is scheduled for when that lease would have ended, so its two runs never
    /// overlap. A job that already ended is left as it is ([`CancelOutcome::Finished`]).
    ///
    /// A removed job is reported here as a `cancelled` event (when anyone listens), with the
    /// job's lane when the driver can look it up. A job of a sharded lane is cancelled in the
    /// shard that holds it.
    ///
    /// A workflow step's job that is removed or stopped ends its step as cancelled, which its
    /// dependents treat as a failure (see [`flow`](crate::flow)).
    pub async fn cancel(&self, queue: &str, id: &JobId) -> Result<CancelOutcome> {
        let outcome = self.cancel_job(queue, id).await?;
        if is_step_id(id) && matches!(outcome, CancelOutcome::Removed | CancelOutcome::Stopped) {
            end_step(
                self.driver(),
                id,
                StepOutcome::Cancelled("cancelled".into()),
            )
            .await?;
        }
        Ok(outcome)
    }

    async fn cancel_job(&self, queue: &str, id: &JobId) -> Result<CancelOutcome> {
        let canceller = self.canceller()?;
        crate::job::validate_name("queue name", queue)?;
        let queue = self.holder_of(queue, id).await?;
        let queue = queue.as_str();
        // Starts the event log's publisher, if there is one, so it hears the event.
        let _ = self.observer.watches_dispatch();
        if !self.observer.bus.has_subscribers() {
            return canceller.cancel(queue, id).await;
        }
        // The job's name, for the event's lane, while the job is still there.
        let name = match self.driver().admin() {
            Some(admin) => admin.job(queue, id).await?.map(|info| info.name),
            None => None,
        };
        let outcome = canceller.cancel(queue, id).await?;
        if let (CancelOutcome::Removed, Some(name)) = (outcome, name) {
            self.observer.bus.send(Event {
                kind: EventKind::Cancelled,
                id: id.clone(),
                lane: Lane::unchecked(queue, &name),
                attempt: 0,
                duration: None,
                error: None,
                retry_in: None,
                progress: None,
                at: SystemTime::now(),
            });
        }
        Ok(outcome)
    }
}
