//! Group commit for one-by-one dispatch: a job dispatched alone while an earlier lone dispatch
//! of its lane is still on its way to Redis waits, and every job that gathered meanwhile goes in
//! the next call together.
//!
//! A script call costs the server ~9 µs however few jobs it carries, so 50 producers each
//! dispatching one job at a time had paid that per job. The first dispatch of an idle lane is
//! sent at once, so a lone dispatch waits for nothing; under load the calls carry whatever
//! gathered during one round trip. Each caller still gets its own job's outcome: the job's id,
//! whether it was new, or the error of the call that carried it (of the same kind, so a
//! connectivity failure stays retryable).
//!
//! The [`Gatherer`] knows nothing of Redis: it sends through the [`Sender`] each dispatch
//! brings.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use queue_core::{Dispatched, Error, Lane, NewJob, Result};
use tokio::sync::oneshot;

/// Stores jobs of one lane in one call.
pub(crate) trait Sender: Clone + Send + Sync + 'static {
    /// Stores `jobs` (at most [`JOBS_PER_CALL`](crate::scripts::JOBS_PER_CALL)) of `lane`; returns what became of each, in
    /// order, or the error of the call.
    fn send(
        &self,
        lane: &Lane,
        jobs: &[&NewJob],
    ) -> impl Future<Output = Result<Vec<Dispatched>>> + Send;
}

/// Lone dispatches waiting, per lane. Cloning shares them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Gatherer {
    lanes: Arc<Mutex<HashMap<Lane, Gathering>>>,
}

/// Where a gathered job's outcome goes.
type Outcome = oneshot::Sender<Result<Dispatched>>;

#[derive(Debug, Default)]
struct Gathering {
    /// A call of this lane's lone dispatches is on its way to Redis.
    sending: bool,
    /// Jobs that came meanwhile, each with where its outcome goes.
    waiting: Vec<(NewJob, Outcome)>,
}

/// Ends a lane's turn when dropped, also if the dispatch that sent was cancelled: jobs that
/// gathered meanwhile go in a call of their own.
struct Turn<S: Sender> {
    gatherer: Gatherer,
    sender: S,
    lane: Option<Lane>,
}

impl<S: Sender> Drop for Turn<S> {
    fn drop(&mut self) {
        if let Some(lane) = self.lane.take() {
            self.gatherer.end_turn(self.sender.clone(), lane);
        }
    }
}

impl Gatherer {
    /// Dispatches one job through `sender`, together with other lone dispatches of its lane if
    /// some are waiting.
    pub(crate) async fn dispatch<S: Sender>(&self, job: NewJob, sender: S) -> Result<Dispatched> {
        let lane = job.lane()?;
        let waiting = {
            let mut lanes = self.lanes.lock();
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
                let turn = Turn {
                    gatherer: self.clone(),
                    sender,
                    lane: Some(lane.clone()),
                };
                let mut sent = turn.sender.send(&lane, &[&job]).await?;
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

    /// Ends the turn of `lane`: sends the jobs that gathered, in a task of their own, or marks
    /// the lane idle.
    fn end_turn<S: Sender>(&self, sender: S, lane: Lane) {
        let gathered = {
            let mut lanes = self.lanes.lock();
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
                // The next turn exists before its task does: a runtime shutting down drops a
                // new task unpolled, and dropping the turn still hands the lane on.
                let turn = Turn {
                    gatherer: self.clone(),
                    sender,
                    lane: Some(lane.clone()),
                };
                runtime.spawn(send_gathered(turn, lane, gathered));
            }
            // No runtime to send from (it is shutting down): the waiting callers get an error.
            Err(_) => {
                self.lanes.lock().remove(&lane);
            }
        }
    }
}

/// Sends gathered jobs (one call per [`JOBS_PER_CALL`](crate::scripts::JOBS_PER_CALL) of them, or per 16 MB of payload),
/// hands each caller its outcome
/// as soon as its call has answered, and ends the turn. A job whose caller stopped waiting
/// before it was sent is dropped, as it would have been without the grouping: a caller that
/// gave up (a timeout, say) and dispatches again must not find the first attempt stored too.
async fn send_gathered<S: Sender>(turn: Turn<S>, lane: Lane, gathered: Vec<(NewJob, Outcome)>) {
    let mut live: Vec<_> = gathered
        .into_iter()
        .filter(|(_, outcome)| !outcome.is_closed())
        .collect();
    while !live.is_empty() {
        // One send is one call: cut as the driver cuts a dispatch into calls.
        let n = crate::scripts::batch_len(live.iter().map(|(job, _)| job.spec().payload.len()));
        let rest = live.split_off(n.max(1));
        let (jobs, outcomes): (Vec<NewJob>, Vec<_>) =
            std::mem::replace(&mut live, rest).into_iter().unzip();
        let refs: Vec<&NewJob> = jobs.iter().collect();
        match turn.sender.send(&lane, &refs).await {
            Ok(sent) => {
                for (outcome, dispatched) in outcomes.into_iter().zip(sent) {
                    let _ = outcome.send(Ok(dispatched));
                }
            }
            Err(error) => {
                let shared = Shared::new(error);
                for outcome in outcomes {
                    let _ = outcome.send(Err(shared.get()));
                }
            }
        }
    }
}

/// The error of one call, for each of the jobs it carried: every copy is of the call's error
/// kind, with its message and source chain (the source is shared).
#[derive(Debug)]
enum Shared {
    Unavailable {
        url: String,
        source: Arc<dyn StdError + Send + Sync>,
    },
    Storage(Arc<dyn StdError + Send + Sync>),
    /// A kind a send does not return (it validates and serializes nothing): kept whole as the
    /// source of a storage error.
    Other(Arc<Error>),
}

impl Shared {
    fn new(error: Error) -> Self {
        match error {
            Error::Unavailable { url, source } => Self::Unavailable {
                url,
                source: Arc::from(source),
            },
            Error::Storage { source } => Self::Storage(Arc::from(source)),
            other => Self::Other(Arc::new(other)),
        }
    }

    fn get(&self) -> Error {
        match self {
            Self::Unavailable { url, source } => Error::Unavailable {
                url: url.clone(),
                source: Box::new(source.clone()),
            },
            Self::Storage(source) => Error::Storage {
                source: Box::new(source.clone()),
            },
            Self::Other(error) => Error::storage(error.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_error_keeps_its_kind_message_and_source() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        let unavailable = Error::Unavailable {
            url: "redis://h:1".to_string(),
            source: Box::new(io),
        };
        let message = unavailable.to_string();
        let shared = Shared::new(unavailable);
        for copy in [shared.get(), shared.get()] {
            assert!(matches!(copy, Error::Unavailable { ref url, .. } if url == "redis://h:1"));
            assert!(copy.is_retryable());
            assert_eq!(copy.to_string(), message);
            assert_eq!(copy.source().unwrap().to_string(), "no answer");
        }

        let storage = Error::storage("enqueue returned no list");
        let message = storage.to_string();
        let copy = Shared::new(storage).get();
        assert!(matches!(copy, Error::Storage { .. }));
        assert!(!copy.is_retryable());
        assert_eq!(copy.to_string(), message);
    }
}
