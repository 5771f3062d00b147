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
//! Big payloads are the exception to one call at a time: once the jobs waiting behind a lane's
//! call hold [`SEND_AT_BYTES`], they go in a call of their own at once, up to [`MOST_SENDING`]
//! calls of the lane on their way together. A call of megabytes costs the client and the server
//! time in proportion to its bytes, not the fixed cost the grouping saves, and with one call at
//! a time each waited for the last to be answered, the client and the server taking turns (50
//! producers of 100 KB jobs: 57 µs of client CPU per job, one job per 241 µs). Jobs dispatched
//! alone while other lone dispatches are on their way have no order among them (none has
//! returned), so calls on their way together may be stored in any order.
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

/// Payload bytes of waiting jobs that go in a call of their own at once, however many calls of
/// their lane are on their way (up to [`MOST_SENDING`]).
pub(crate) const SEND_AT_BYTES: usize = 1 << 20;

/// Calls of one lane's lone dispatches on their way to Redis together, at most.
pub(crate) const MOST_SENDING: usize = 4;

/// Lone dispatches waiting, per lane. Cloning shares them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Gatherer {
    lanes: Arc<Mutex<HashMap<Lane, Gathering>>>,
}

/// Where a gathered job's outcome goes.
type Outcome = oneshot::Sender<Result<Dispatched>>;

#[derive(Debug, Default)]
struct Gathering {
    /// Calls of this lane's lone dispatches on their way to Redis (each a turn).
    sending: usize,
    /// Jobs that came meanwhile, each with where its outcome goes.
    waiting: Vec<(NewJob, Outcome)>,
    /// The payload bytes of the waiting jobs.
    waiting_bytes: usize,
}

impl Gathering {
    /// Takes the waiting jobs for a turn.
    fn take(&mut self) -> Vec<(NewJob, Outcome)> {
        self.waiting_bytes = 0;
        std::mem::take(&mut self.waiting)
    }
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
        let mut now = None;
        let waiting = {
            let mut lanes = self.lanes.lock();
            let gathering = lanes.entry(lane.clone()).or_default();
            if gathering.sending > 0 {
                let (sent, outcome) = oneshot::channel();
                gathering.waiting_bytes += job.spec().payload.len();
                gathering.waiting.push((job, sent));
                if gathering.waiting_bytes >= SEND_AT_BYTES && gathering.sending < MOST_SENDING {
                    gathering.sending += 1;
                    now = Some(gathering.take());
                }
                Err(outcome)
            } else {
                gathering.sending = 1;
                Ok(job)
            }
        };
        if let Some(gathered) = now {
            self.start_turn(sender.clone(), lane.clone(), gathered);
        }
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

    /// Ends a turn of `lane`: sends the jobs that gathered, in a task of their own, or counts
    /// one call fewer on its way (the lane is idle after the last).
    fn end_turn<S: Sender>(&self, sender: S, lane: Lane) {
        let gathered = {
            let mut lanes = self.lanes.lock();
            let Some(gathering) = lanes.get_mut(&lane) else {
                return;
            };
            if gathering.waiting.is_empty() {
                one_call_fewer(&mut lanes, &lane);
                return;
            }
            gathering.take()
        };
        self.start_turn(sender, lane, gathered);
    }

    /// Sends `gathered` jobs of `lane` in a turn of their own, in a task (the turn is counted
    /// in the lane's `sending` already).
    fn start_turn<S: Sender>(&self, sender: S, lane: Lane, gathered: Vec<(NewJob, Outcome)>) {
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
            // No runtime to send from (it is shutting down): the gathered callers get an error,
            // and the lane counts one call fewer (others may still be on their way).
            Err(_) => one_call_fewer(&mut self.lanes.lock(), &lane),
        }
    }
}

/// Counts one call of `lane` fewer on its way; the lane is idle (forgotten) after its last.
fn one_call_fewer(lanes: &mut HashMap<Lane, Gathering>, lane: &Lane) {
    if let Some(gathering) = lanes.get_mut(lane) {
        gathering.sending = gathering.sending.saturating_sub(1);
        if gathering.sending == 0 {
            lanes.remove(lane);
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
    use tokio::sync::Semaphore;

    /// Calls held until the test lets them answer, counted as they go.
    #[derive(Clone, Default)]
    struct Held {
        inner: Arc<HeldInner>,
    }

    struct HeldInner {
        /// Each call takes a permit to answer.
        answers: Semaphore,
        /// Calls on their way now, the most at once, and the jobs of each call in order.
        state: Mutex<(usize, usize, Vec<usize>)>,
    }

    impl Default for HeldInner {
        fn default() -> Self {
            Self {
                answers: Semaphore::new(0),
                state: Mutex::default(),
            }
        }
    }

    impl Sender for Held {
        async fn send(&self, _lane: &Lane, jobs: &[&NewJob]) -> Result<Vec<Dispatched>> {
            {
                let mut state = self.inner.state.lock();
                state.0 += 1;
                state.1 = state.1.max(state.0);
                state.2.push(jobs.len());
            }
            self.inner.answers.acquire().await.expect("open").forget();
            self.inner.state.lock().0 -= 1;
            // Each job's id is the number its payload starts with, so a caller handed another
            // caller's answer sees an id that is not its own.
            Ok(jobs
                .iter()
                .map(|job| {
                    let payload = job.spec().payload;
                    let end = payload.iter().position(|b| *b == b':').expect("numbered");
                    let n: u64 = std::str::from_utf8(&payload[..end])
                        .expect("ascii")
                        .parse()
                        .expect("a number");
                    Dispatched::new(n.into(), true)
                })
                .collect())
        }
    }

    impl Held {
        /// Waits until `n` calls are on their way at once (panics after 10 s).
        async fn until_sending(&self, n: usize) {
            let sending = async {
                while self.inner.state.lock().0 < n {
                    tokio::task::yield_now().await;
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), sending)
                .await
                .unwrap_or_else(|_| panic!("{n} calls were never on their way at once"));
        }

        /// (the most calls on their way at once, the jobs of each call).
        fn seen(&self) -> (usize, Vec<usize>) {
            let state = self.inner.state.lock();
            (state.1, state.2.clone())
        }
    }

    /// Dispatches `count` lone jobs of `bytes` each through `sender`, each from a task of its
    /// own, once the first has taken the lane's turn; returns their tasks, first included.
    async fn dispatch_lone(
        gatherer: &Gatherer,
        sender: &Held,
        count: usize,
        bytes: usize,
    ) -> Vec<tokio::task::JoinHandle<Result<Dispatched>>> {
        // Job `k`'s payload: `k:` and then `bytes` bytes.
        let job = |k: usize| {
            let mut payload = format!("{k}:").into_bytes();
            payload.resize(payload.len() + bytes, b'x');
            NewJob::named("lone_job", payload).queue("lone")
        };
        let mut tasks = Vec::new();
        let (g, s) = (gatherer.clone(), sender.clone());
        let first = job(0);
        tasks.push(tokio::spawn(async move { g.dispatch(first, s).await }));
        sender.until_sending(1).await;
        for k in 1..count {
            let (g, s, job) = (gatherer.clone(), sender.clone(), job(k));
            tasks.push(tokio::spawn(async move { g.dispatch(job, s).await }));
        }
        tasks
    }

    /// Waits for every task and returns the ids their callers got, checking that task `k`
    /// got the id of its own job (`k`, see [`Held`]).
    async fn ids(tasks: Vec<tokio::task::JoinHandle<Result<Dispatched>>>) -> Vec<String> {
        let mut ids = Vec::new();
        for (k, task) in tasks.into_iter().enumerate() {
            let id = task.await.expect("task").expect("dispatch").id.to_string();
            assert_eq!(id, k.to_string(), "caller {k} was answered for another job");
            ids.push(id);
        }
        ids
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lone_dispatches_of_big_payloads_that_meet_go_in_calls_on_their_way_together() {
        let (gatherer, sender) = (Gatherer::default(), Held::default());
        // 300 KB each: every fourth waiting job passes SEND_AT_BYTES.
        let tasks = dispatch_lone(&gatherer, &sender, 21, 300 << 10).await;
        // The first call and MOST_SENDING - 1 more, each of 4 jobs, are on their way before
        // any answers; the rest wait for a turn to end.
        sender.until_sending(MOST_SENDING).await;
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sender.seen().1, vec![1, 4, 4, 4]);
        sender.inner.answers.add_permits(1000);
        let ids = ids(tasks).await;
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 21, "each caller got its own job: {ids:?}");
        let (most, calls) = sender.seen();
        assert_eq!(most, MOST_SENDING);
        assert_eq!(calls.iter().sum::<usize>(), 21, "{calls:?}");
        assert!(gatherer.lanes.lock().is_empty(), "the lane went idle");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lone_dispatches_of_small_payloads_keep_one_call_on_its_way() {
        let (gatherer, sender) = (Gatherer::default(), Held::default());
        let tasks = dispatch_lone(&gatherer, &sender, 200, 100).await;
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        assert_eq!(sender.seen(), (1, vec![1]), "the others wait for the first");
        sender.inner.answers.add_permits(1000);
        assert_eq!(ids(tasks).await.len(), 200);
        let (most, calls) = sender.seen();
        assert_eq!(most, 1);
        assert_eq!(calls.iter().sum::<usize>(), 200, "{calls:?}");
        assert!(gatherer.lanes.lock().is_empty(), "the lane went idle");
    }

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
