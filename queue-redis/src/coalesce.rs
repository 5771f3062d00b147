//! Group commit for one-by-one dispatch: a job dispatched alone while an earlier lone dispatch
//! of its lane is still on its way to Redis waits, and every job that gathered meanwhile goes in
//! the next script call together.
//!
//! A script call costs the server ~9 µs however few jobs it carries, so 50 producers each
//! dispatching one job at a time had paid that per job. The first dispatch of an idle lane is
//! sent at once, so a lone dispatch waits for nothing; under load the calls carry whatever
//! gathered during one round trip. Each caller still gets its own job's outcome: the job's id,
//! whether it was new, or the error of the call that carried it.

use std::collections::HashMap;

use parking_lot::Mutex;
use queue_core::{Dispatched, Error, Lane, NewJob, Result};
use tokio::sync::oneshot;

use crate::{RedisDriver, ENQUEUE_CHUNK};

/// Lone dispatches waiting, per lane.
#[derive(Debug, Default)]
pub(crate) struct Dispatches {
    lanes: Mutex<HashMap<Lane, Gathering>>,
}

#[derive(Debug, Default)]
struct Gathering {
    /// A call of this lane's lone dispatches is on its way to Redis.
    sending: bool,
    /// Jobs that came meanwhile, each with where its outcome goes.
    waiting: Vec<(NewJob, oneshot::Sender<Result<Dispatched>>)>,
}

/// Ends a lane's turn when dropped, also if the dispatch that sent was cancelled: jobs that
/// gathered meanwhile go in a call of their own.
struct Turn {
    driver: RedisDriver,
    lane: Option<Lane>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            end_turn(self.driver.clone(), lane);
        }
    }
}

impl RedisDriver {
    /// Dispatches one job, together with other lone dispatches of its lane if some are waiting.
    pub(crate) async fn enqueue_one(&self, job: NewJob) -> Result<Dispatched> {
        let lane = job.lane()?;
        let waiting = {
            let mut lanes = self.inner.dispatches.lanes.lock();
            let gathering = lanes.entry(lane.clone()).or_default();
            if gathering.sending {
                let (sent, outcome) = oneshot::channel();
                gathering.waiting.push((job, sent));
                Err(outcome)
            } else {
                gathering.sending = true;
                Ok(job)
            }
        };
        match waiting {
            Ok(job) => {
                let _turn = Turn {
                    driver: self.clone(),
                    lane: Some(lane.clone()),
                };
                let mut sent = self.enqueue_lane(&lane, &[&job]).await?;
                sent.pop()
                    .ok_or_else(|| Error::storage("enqueue returned no result"))
            }
            Err(outcome) => outcome.await.unwrap_or_else(|_| {
                Err(Error::storage(
                    "the dispatch carrying this job stopped before Redis answered",
                ))
            }),
        }
    }
}

/// Ends the turn of `lane`: sends the jobs that gathered, in a task of their own, or marks the
/// lane idle.
fn end_turn(driver: RedisDriver, lane: Lane) {
    let gathered = {
        let mut lanes = driver.inner.dispatches.lanes.lock();
        let Some(gathering) = lanes.get_mut(&lane) else {
            return;
        };
        if gathering.waiting.is_empty() {
            lanes.remove(&lane);
            return;
        }
        std::mem::take(&mut gathering.waiting)
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            // The next turn exists before its task does: a runtime shutting down drops a new
            // task unpolled, and dropping the turn still hands the lane on.
            let turn = Turn {
                driver: driver.clone(),
                lane: Some(lane.clone()),
            };
            runtime.spawn(send_gathered(turn, driver, lane, gathered));
        }
        // No runtime to send from (it is shutting down): the waiting callers get an error.
        Err(_) => {
            driver.inner.dispatches.lanes.lock().remove(&lane);
        }
    }
}

/// Sends gathered jobs (one call per [`ENQUEUE_CHUNK`] of them), hands each caller its outcome
/// as soon as its call has answered, and ends the turn. A job whose caller stopped waiting
/// before it was sent is dropped, as it would have been without the grouping: a caller that
/// gave up (a timeout, say) and dispatches again must not find the first attempt stored too.
async fn send_gathered(
    _turn: Turn,
    driver: RedisDriver,
    lane: Lane,
    gathered: Vec<(NewJob, oneshot::Sender<Result<Dispatched>>)>,
) {
    let mut live: Vec<_> = gathered
        .into_iter()
        .filter(|(_, outcome)| !outcome.is_closed())
        .collect();
    while !live.is_empty() {
        let rest = live.split_off(ENQUEUE_CHUNK.min(live.len()));
        let (jobs, outcomes): (Vec<NewJob>, Vec<_>) =
            std::mem::replace(&mut live, rest).into_iter().unzip();
        let refs: Vec<&NewJob> = jobs.iter().collect();
        match driver.enqueue_lane(&lane, &refs).await {
            Ok(sent) => {
                for (outcome, dispatched) in outcomes.into_iter().zip(sent) {
                    let _ = outcome.send(Ok(dispatched));
                }
            }
            Err(error) => {
                for outcome in outcomes {
                    let _ = outcome.send(Err(shared(&error)));
                }
            }
        }
    }
}

/// The error of a call, for each of the jobs it carried: connectivity stays retryable.
fn shared(error: &Error) -> Error {
    match error {
        Error::Unavailable { url, source } => Error::Unavailable {
            url: url.clone(),
            source: source.to_string().into(),
        },
        other => Error::storage(other.to_string()),
    }
}
