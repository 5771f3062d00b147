//! Publishing a queue's events to the storage's [`EventLog`](crate::EventLog), so other
//! processes can follow them ([`Queue::with_event_log`](crate::Queue::with_event_log)).
//!
//! One publisher per [`Queue`](crate::Queue) (shared by its clones and its workers) subscribes
//! to the in-process bus and writes what arrives in batches: whatever came within
//! [`BATCH_WINDOW`] of the first event, at most [`BATCH_MAX`], one `append` per queue. It runs
//! in a task of its own, started by the first dispatch or by a worker's start, and ends once
//! the queue and its workers are gone.
//!
//! The worker never waits for it: runs report to the bounded bus as they do for any
//! subscriber. Events the publisher cannot write (an append that fails or takes longer than
//! [`APPEND_TIMEOUT`]) and events it fell too far behind to receive are dropped, counted in
//! [`EventLogStats::dropped`] and logged at most once per [`REPORT_EVERY`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::driver::Driver;
use crate::observe::events::{Event, EventBus, Events};

/// Events kept per queue's log when [`Queue::with_event_log`](crate::Queue::with_event_log)
/// is given this value: a suggestion, about 10,000 events.
pub const DEFAULT_EVENT_LOG_LEN: usize = 10_000;

/// How long the publisher gathers events after the first one before writing them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Most events written in one batch.
pub const BATCH_MAX: usize = 512;

/// How long one append may take before its events are dropped.
pub const APPEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Dropped events are logged at most this often (with how many since the last report).
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a queue's event publisher did, from
/// [`Queue::event_log_stats`](crate::Queue::event_log_stats).
#[derive(Debug, Default)]
pub struct EventLogStats {
    written: AtomicU64,
    dropped: AtomicU64,
}

impl EventLogStats {
    /// Events written to the log.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Events lost: their append failed or timed out, or the publisher fell behind the bus.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A queue's publisher: its settings, and once started, the way to ask its task to flush.
#[derive(Debug)]
pub(crate) struct Publisher {
    bus: Arc<EventBus>,
    driver: Arc<dyn Driver>,
    max_len: usize,
    stats: Arc<EventLogStats>,
    /// Flush requests to the running task; set when it starts.
    running: OnceLock<mpsc::UnboundedSender<oneshot::Sender<()>>>,
}

impl Publisher {
    pub(crate) fn new(bus: Arc<EventBus>, driver: Arc<dyn Driver>, max_len: usize) -> Self {
        Self {
            bus,
            driver,
            max_len: max_len.max(1),
            stats: Arc::new(EventLogStats::default()),
            running: OnceLock::new(),
        }
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    pub(crate) fn stats(&self) -> Arc<EventLogStats> {
        self.stats.clone()
    }

    /// Subscribes to the bus and starts the publishing task, unless it runs already. Must be
    /// called inside a Tokio runtime.
    #[inline]
    pub(crate) fn start(&self) {
        if self.running.get().is_some() {
            return;
        }
        self.running.get_or_init(|| {
            let (flushes, requests) = mpsc::unbounded_channel();
            let task = Task {
                events: self.bus.subscribe(),
                driver: self.driver.clone(),
                max_len: self.max_len,
                stats: self.stats.clone(),
                requests,
                lagged: 0,
                report: Report::default(),
            };
            tokio::spawn(task.run());
            flushes
        });
    }

    /// Waits, at most `bound`, until the events sent on the bus before this call are written
    /// (or dropped).
    pub(crate) async fn flush(&self, bound: Duration) {
        let Some(requests) = self.running.get() else {
            return;
        };
        let (done, flushed) = oneshot::channel();
        if requests.send(done).is_ok() {
            let _ = tokio::time::timeout(bound, flushed).await;
        }
    }
}

/// The publishing task's state.
struct Task {
    events: Events,
    driver: Arc<dyn Driver>,
    max_len: usize,
    stats: Arc<EventLogStats>,
    requests: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    /// The bus's count of missed events, as last accounted.
    lagged: u64,
    report: Report,
}

impl Task {
    async fn run(mut self) {
        let mut open = true;
        while open {
            let mut batch = Vec::new();
            let mut flushed = Vec::new();
            tokio::select! {
                event = self.events.next() => match event {
                    Some(event) => batch.push(event),
                    None => open = false,
                },
                Some(request) = self.requests.recv() => flushed.push(request),
            }
            if !batch.is_empty() {
                open = self.gather(&mut batch, &mut flushed).await;
            }
            if !flushed.is_empty() || !open {
                while let Some(event) = self.events.try_next() {
                    batch.push(event);
                }
            }
            for chunk in batch.chunks(BATCH_MAX) {
                self.write(chunk).await;
            }
            self.account_lag();
            for request in flushed {
                let _ = request.send(());
            }
        }
    }

    /// Adds what arrives within the batch window to `batch`, up to [`BATCH_MAX`]; stops early
    /// for a flush request. Returns whether the bus is still open.
    async fn gather(
        &mut self,
        batch: &mut Vec<Event>,
        flushed: &mut Vec<oneshot::Sender<()>>,
    ) -> bool {
        let window = tokio::time::sleep(BATCH_WINDOW);
        tokio::pin!(window);
        while batch.len() < BATCH_MAX {
            tokio::select! {
                biased;
                event = self.events.next() => match event {
                    Some(event) => batch.push(event),
                    None => return false,
                },
                Some(request) = self.requests.recv() => {
                    flushed.push(request);
                    return true;
                }
                _ = &mut window => return true,
            }
        }
        true
    }

    /// Appends `events`, one call per queue in order of first appearance; drops and counts
    /// those that cannot be written.
    async fn write(&mut self, events: &[Event]) {
        let mut queues: Vec<(&str, Vec<Event>)> = Vec::new();
        for event in events {
            let queue = event.lane.queue();
            match queues.iter_mut().find(|(q, _)| *q == queue) {
                Some((_, of_queue)) => of_queue.push(event.clone()),
                None => queues.push((queue, vec![event.clone()])),
            }
        }
        for (queue, events) in queues {
            let count = events.len() as u64;
            let outcome = match self.driver.event_log() {
                Some(log) => {
                    match tokio::time::timeout(
                        APPEND_TIMEOUT,
                        log.append(queue, &events, self.max_len),
                    )
                    .await
                    {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err(format!("append took longer than {APPEND_TIMEOUT:?}")),
                    }
                }
                None => Err("the driver keeps no event log".to_string()),
            };
            match outcome {
                Ok(()) => {
                    self.stats.written.fetch_add(count, Ordering::Relaxed);
                }
                Err(error) => self.dropped(count, &error),
            }
        }
    }

    /// Counts the events the bus skipped because this task fell behind.
    fn account_lag(&mut self) {
        let lagged = self.events.dropped();
        if lagged > self.lagged {
            let missed = lagged - self.lagged;
            self.lagged = lagged;
            self.dropped(missed, "the publisher fell behind the event bus");
        }
    }

    fn dropped(&mut self, count: u64, why: &str) {
        self.stats.dropped.fetch_add(count, Ordering::Relaxed);
        if let Some(unreported) = self.report.add(count) {
            tracing::warn!(
                dropped = unreported,
                error = why,
                "events could not be written to the event log and were dropped"
            );
        }
    }
}

/// Drops not yet logged, and when they were last logged.
#[derive(Default)]
struct Report {
    unreported: u64,
    last: Option<Instant>,
}

impl Report {
    /// Adds `count` drops; returns how many to report now, if it is time to.
    fn add(&mut self, count: u64) -> Option<u64> {
        self.unreported += count;
        let due = self.last.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        due.then(|| {
            self.last = Some(Instant::now());
            std::mem::take(&mut self.unreported)
        })
    }
}
