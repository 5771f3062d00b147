//! In-process events: what happened to jobs, for whoever subscribed with
//! [`Queue::events`](crate::Queue::events).
//!
//! Subscribers never slow the worker down: events go through a bounded buffer, and a subscriber
//! that falls behind loses the oldest ones, counted in [`Events::dropped`]. With no subscriber,
//! nothing is built or sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::job::{JobId, Lane};

/// Sends buffered per subscriber before the oldest are dropped, unless
/// [`Queue::with_event_buffer`](crate::Queue::with_event_buffer) says otherwise. A send carries
/// the events of one dispatch, or of the runs of one reservation that ended together.
pub const DEFAULT_EVENT_BUFFER: usize = 4096;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The job was stored by this process's [`Queue`](crate::Queue).
    Dispatched,
    /// A run succeeded (its ack goes to the storage with the worker's next call).
    Completed,
    /// A run failed and the job will run again after [`Event::retry_in`].
    Retrying,
    /// A run failed and the job went to the failed list (attempts spent, or a fatal error).
    Failed,
    /// A running handler reported progress ([`JobContext::progress`](crate::JobContext::progress)).
    Progress,
    /// A run was stopped because its lease was lost or could not be confirmed in time; the job
    /// runs again elsewhere without spending the attempt.
    LeaseLost,
    /// The job lost its lease too often (its runs kept killing or cutting off their workers)
    /// and went to the failed list as poison. Reported by the worker whose reserve reaped it;
    /// [`Event::error`] says why, [`Event::attempt`] is the attempt it failed at.
    Poisoned,
    /// The job was cancelled ([`Queue::cancel`](crate::Queue::cancel)): a waiting job was
    /// removed (sent by the process that cancelled it), or a running job's run was stopped
    /// (sent by the worker that ran it, with the run's attempt and time). It is not retried.
    Cancelled,
}

/// One event about one job.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The job.
    pub id: JobId,
    /// Its queue and job name.
    pub lane: Lane,
    /// The run's number, from 1 (0 for [`EventKind::Dispatched`]).
    pub attempt: u32,
    /// How long the run took, for the ends of runs.
    pub duration: Option<Duration>,
    /// The run's error, for [`EventKind::Retrying`] and [`EventKind::Failed`].
    pub error: Option<String>,
    /// When the job runs again, for [`EventKind::Retrying`].
    pub retry_in: Option<Duration>,
    /// The value reported, for [`EventKind::Progress`].
    pub progress: Option<serde_json::Value>,
    /// When it happened, by this process's clock.
    pub at: SystemTime,
}

/// Events sent together: those of runs that ended together, or of one dispatch. `first` is the
/// bus's number of the first one, so a subscriber that missed batches knows how many events
/// it missed.
#[derive(Debug)]
struct Batch {
    first: u64,
    events: Held,
}

/// A batch's events as the bus holds them.
#[derive(Debug)]
enum Held {
    /// Whole events.
    Events(Vec<Event>),
    /// Ends of runs of one lane, which each subscriber's copy of an event names: the lane is
    /// held once for them all.
    Runs { lane: Lane, runs: Vec<RunEnd> },
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Events(events) => events.len(),
            Held::Runs { runs, .. } => runs.len(),
        }
    }

    /// A copy of event `index`, if there is one.
    fn get(&self, index: usize) -> Option<Event> {
        match self {
            Held::Events(events) => events.get(index).cloned(),
            Held::Runs { lane, runs } => runs.get(index).map(|run| run.event(lane)),
        }
    }
}

/// The end of a run, for an [`Event`] of its lane: what the event says besides the lane.
#[derive(Debug, Clone)]
pub(crate) struct RunEnd {
    pub(crate) kind: EventKind,
    pub(crate) id: JobId,
    pub(crate) attempt: u32,
    pub(crate) duration: Duration,
    pub(crate) error: Option<String>,
    pub(crate) retry_in: Option<Duration>,
    pub(crate) at: SystemTime,
}

impl RunEnd {
    fn event(&self, lane: &Lane) -> Event {
        Event {
            kind: self.kind,
            id: self.id.clone(),
            lane: lane.clone(),
            attempt: self.attempt,
            duration: Some(self.duration),
            error: self.error.clone(),
            retry_in: self.retry_in,
            progress: None,
            at: self.at,
        }
    }
}

/// Where a queue's events are sent: a broadcast channel of batches and a count of its
/// subscribers, read before any event is built. Sending a batch costs one lock and one wake-up
/// of each waiting subscriber, however many events it holds.
#[derive(Debug)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<Arc<Batch>>,
    subscribers: Arc<AtomicUsize>,
    /// Events numbered so far; held while a batch is numbered and sent, so batches go out in
    /// the order of their numbers.
    sent: Mutex<u64>,
}

impl EventBus {
    pub(crate) fn new(buffer: usize) -> Self {
        Self {
            sender: broadcast::channel(buffer.max(1)).0,
            subscribers: Arc::new(AtomicUsize::new(0)),
            sent: Mutex::new(0),
        }
    }

    #[inline]
    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    /// Sends one event.
    pub(crate) fn send(&self, event: Event) {
        self.send_all(vec![event]);
    }

    /// Sends events together, in order.
    pub(crate) fn send_all(&self, events: Vec<Event>) {
        self.send_held(Held::Events(events));
    }

    /// Sends the ends of runs of `lane` together, in order.
    pub(crate) fn send_runs(&self, lane: &Lane, runs: Vec<RunEnd>) {
        if !runs.is_empty() {
            self.send_held(Held::Runs {
                lane: lane.clone(),
                runs,
            });
        }
    }

    fn send_held(&self, events: Held) {
        if events.len() == 0 {
            return;
        }
        let mut sent = self.sent.lock().expect("event numbering lock");
        let first = *sent;
        *sent += events.len() as u64;
        // An error means every subscriber left meanwhile: nobody to tell.
        let _ = self.sender.send(Arc::new(Batch { first, events }));
    }

    pub(crate) fn subscribe(&self) -> Events {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        // Under the numbering lock: the first batch this receiver can see is numbered from here.
        let sent = self.sent.lock().expect("event numbering lock");
        Events {
            receiver: self.sender.subscribe(),
            subscribers: self.subscribers.clone(),
            dropped: 0,
            batch: None,
            expected: *sent,
        }
    }
}

/// A subscription to a queue's events, from [`Queue::events`](crate::Queue::events): events
/// from this process's dispatches and workers (workers started from the queue or its clones).
#[derive(Debug)]
pub struct Events {
    receiver: broadcast::Receiver<Arc<Batch>>,
    subscribers: Arc<AtomicUsize>,
    dropped: u64,
    /// The batch being read, and the index of its next event.
    batch: Option<(Arc<Batch>, usize)>,
    /// The number of the event expected next.
    expected: u64,
}

impl Events {
    /// The next event, waiting for one; `None` once the queue and all its workers are gone.
    /// Events this subscriber fell too far behind to receive are skipped and counted in
    /// [`Events::dropped`].
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.next_in_batch() {
                return Some(event);
            }
            // Cancel-safe: a batch received is stored before anything else can happen.
            match self.receiver.recv().await {
                Ok(batch) => self.start(batch),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.next_in_batch() {
                return Some(event);
            }
            match self.receiver.try_recv() {
                Ok(batch) => self.start(batch),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return None,
            }
        }
    }

    /// How many events this subscriber missed by falling behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn next_in_batch(&mut self) -> Option<Event> {
        let (batch, next) = self.batch.as_mut()?;
        let event = batch.events.get(*next);
        *next += 1;
        if event.is_none() {
            self.batch = None;
        }
        event
    }

    /// Starts reading `batch`, counting the events of the batches missed before it.
    fn start(&mut self, batch: Arc<Batch>) {
        self.dropped += batch.first.saturating_sub(self.expected);
        self.expected = batch.first + batch.events.len() as u64;
        self.batch = Some((batch, 0));
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}
