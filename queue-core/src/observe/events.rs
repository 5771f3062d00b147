//! In-process events: what happened to jobs, for whoever subscribed with
//! [`Queue::events`](crate::Queue::events).
//!
//! Subscribers never slow the worker down: events go through a bounded buffer, and a subscriber
//! that falls behind loses the oldest ones, counted in [`Events::dropped`]. With no subscriber,
//! nothing is built or sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::job::{JobId, Lane};

/// Events buffered per subscriber before the oldest are dropped, unless
/// [`Queue::with_event_buffer`](crate::Queue::with_event_buffer) says otherwise.
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

/// Where a queue's events are sent: a broadcast channel and a count of its subscribers, read
/// before any event is built.
#[derive(Debug)]
pub(crate) struct EventBus {
    sender: broadcast::Sender<Event>,
    subscribers: Arc<AtomicUsize>,
}

impl EventBus {
    pub(crate) fn new(buffer: usize) -> Self {
        Self {
            sender: broadcast::channel(buffer.max(1)).0,
            subscribers: Arc::new(AtomicUsize::new(0)),
        }
    }

    #[inline]
    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscribers.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn send(&self, event: Event) {
        // An error means every subscriber left meanwhile: nobody to tell.
        let _ = self.sender.send(event);
    }

    pub(crate) fn subscribe(&self) -> Events {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Events {
            receiver: self.sender.subscribe(),
            subscribers: self.subscribers.clone(),
            dropped: 0,
        }
    }
}

/// A subscription to a queue's events, from [`Queue::events`](crate::Queue::events): events
/// from this process's dispatches and workers (workers started from the queue or its clones).
#[derive(Debug)]
pub struct Events {
    receiver: broadcast::Receiver<Event>,
    subscribers: Arc<AtomicUsize>,
    dropped: u64,
}

impl Events {
    /// The next event, waiting for one; `None` once the queue and all its workers are gone.
    /// Events this subscriber fell too far behind to receive are skipped and counted in
    /// [`Events::dropped`].
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.receiver.recv().await {
                Ok(event) => return Some(event),
                Err(broadcast::error::RecvError::Lagged(missed)) => self.dropped += missed,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        loop {
            match self.receiver.try_recv() {
                Ok(event) => return Some(event),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => self.dropped += missed,
                Err(_) => return None,
            }
        }
    }

    /// How many events this subscriber missed by falling behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}
