//! Seeing what jobs do: in-process [`events`], the same events published to the storage's
//! event [`log`] for other processes ([`follow`]ed there, in their stored [`record`] form),
//! [`metrics`] through the `metrics` facade, and the per-run tracing spans (made in
//! `worker::execute`), which continue the dispatcher's OpenTelemetry trace with the `otel`
//! feature (`otel`). Everything here is off until asked for, and then costs a run one check
//! of a flag and two clock readings.

pub mod events;
pub mod follow;
pub mod log;
pub mod metrics;
#[cfg(feature = "otel")]
pub(crate) mod otel;
pub mod record;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::driver::Driver;
use crate::job::{Dispatched, JobId, Lane, Name, ReservedJob};

use self::events::{Event, EventBus, EventKind};
use self::log::Publisher;
use self::metrics::LaneMetrics;

/// The error of a [`EventKind::Poisoned`] event (the job's record holds the storage's words).
const POISON_EVENT_ERROR: &str = "poison: lost its lease too many times; moved to the failed list";

/// What a queue and its workers report to: the event bus its subscribers listen on and whether
/// metrics are recorded. Shared by a [`Queue`](crate::Queue)'s clones and its workers' pools.
#[derive(Debug, Clone)]
pub(crate) struct Observer {
    pub(crate) bus: Arc<EventBus>,
    pub(crate) metrics: bool,
    /// The publisher of the bus's events to the storage's event log, when asked for.
    pub(crate) event_log: Option<Arc<Publisher>>,
}

impl Observer {
    pub(crate) fn new(event_buffer: usize) -> Self {
        Self {
            bus: Arc::new(EventBus::new(event_buffer)),
            metrics: false,
            event_log: None,
        }
    }

    /// Publishes this observer's events to `driver`'s event log, keeping about `max_len` per
    /// queue (replacing an earlier publisher of this observer).
    pub(crate) fn publish_to(&mut self, driver: &Arc<dyn Driver>, max_len: usize) {
        self.event_log = Some(Arc::new(Publisher::new(
            self.bus.clone(),
            driver.clone(),
            max_len,
        )));
    }

    /// Whether dispatches are reported. With an event log, its publisher starts on the first
    /// dispatch (so a program that only dispatches publishes its dispatches too).
    #[inline]
    pub(crate) fn watches_dispatch(&self) -> bool {
        if let Some(log) = &self.event_log {
            log.start();
        }
        self.metrics || self.bus.has_subscribers()
    }

    /// Reports dispatched jobs: `lanes` (queue, job name) and what became of each, in order.
    pub(crate) fn dispatched(&self, lanes: &[(Name, Name)], stored: &[Dispatched]) {
        let listened = self.bus.has_subscribers();
        let mut events = Vec::new();
        let mut counted: Option<(&str, &str, u64)> = None;
        for ((queue, job), dispatched) in lanes.iter().zip(stored) {
            if !dispatched.created {
                continue;
            }
            if self.metrics {
                // Consecutive jobs usually share a lane: count them in one step.
                match &mut counted {
                    Some((q, j, n)) if *q == &**queue && *j == &**job => *n += 1,
                    _ => {
                        if let Some((q, j, n)) = counted.take() {
                            metrics::dispatched(q, j, n);
                        }
                        counted = Some((queue, job, 1));
                    }
                }
            }
            if listened {
                events.push(Event {
                    kind: EventKind::Dispatched,
                    id: dispatched.id.clone(),
                    lane: Lane::unchecked(queue, job),
                    attempt: 0,
                    duration: None,
                    error: None,
                    retry_in: None,
                    progress: None,
                    at: SystemTime::now(),
                });
            }
        }
        if let Some((q, j, n)) = counted {
            metrics::dispatched(q, j, n);
        }
        self.bus.send_all(events);
    }

    /// The reporting of one lane, for a pool (or a dispatch).
    pub(crate) fn lane(&self, lane: &Lane) -> LaneObserver {
        LaneObserver {
            bus: self.bus.clone(),
            metrics: self.metrics.then(|| LaneMetrics::new(lane)),
        }
    }
}

/// One lane's reporting: the bus and, when metrics are on, the lane's metric handles
/// (registered once, so a run does not build label sets).
#[derive(Debug)]
pub(crate) struct LaneObserver {
    bus: Arc<EventBus>,
    metrics: Option<LaneMetrics>,
}

/// How a run ended, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending<'a> {
    Completed,
    Retrying {
        error: &'a str,
        retry_in: Duration,
    },
    Failed {
        error: &'a str,
    },
    LeaseLost,
    /// Cancelled by shutdown and handed back: not an outcome of the job.
    Requeued,
}

impl LaneObserver {
    /// Whether runs should be timed and reported: someone listens or metrics are on.
    #[inline]
    pub(crate) fn on(&self) -> bool {
        self.metrics.is_some() || self.bus.has_subscribers()
    }

    /// Reports the end of a run of job `id` (attempt `attempt`) that took `took`: counts it,
    /// and adds its event to `events` when someone listens (sent with [`LaneObserver::send`],
    /// together with those of runs that ended at the same time).
    pub(crate) fn run_ended(
        &self,
        lane: &Lane,
        id: &JobId,
        attempt: u32,
        took: Duration,
        ending: Ending<'_>,
        events: &mut Vec<Event>,
    ) {
        if let Some(metrics) = &self.metrics {
            metrics.run_ended(took, &ending);
        }
        if !self.bus.has_subscribers() {
            return;
        }
        let (kind, error, retry_in) = match ending {
            Ending::Completed => (EventKind::Completed, None, None),
            Ending::Retrying { error, retry_in } => {
                (EventKind::Retrying, Some(error.to_string()), Some(retry_in))
            }
            Ending::Failed { error } => (EventKind::Failed, Some(error.to_string()), None),
            Ending::LeaseLost => (EventKind::LeaseLost, None, None),
            Ending::Requeued => return,
        };
        events.push(Event {
            kind,
            id: id.clone(),
            lane: lane.clone(),
            attempt,
            duration: Some(took),
            error,
            retry_in,
            progress: None,
            at: SystemTime::now(),
        });
    }

    /// Sends events gathered by [`LaneObserver::run_ended`].
    pub(crate) fn send(&self, events: Vec<Event>) {
        self.bus.send_all(events);
    }

    /// Reports that the worker's settlements of `count` jobs were refused by the storage.
    pub(crate) fn acks_refused(&self, count: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.acks_refused(count);
        }
    }

    /// Records how long the reserved `jobs` waited, when metrics are on.
    #[inline]
    pub(crate) fn jobs_taken(&self, jobs: &[ReservedJob]) {
        if let Some(metrics) = &self.metrics {
            for waited in jobs.iter().filter_map(|job| job.waited) {
                metrics.waited(waited);
            }
        }
    }

    /// Reports jobs of `lane` that a reserve failed as poison: (id, attempt) pairs.
    pub(crate) fn poisoned(&self, lane: &Lane, poisoned: &[(JobId, u32)]) {
        if let Some(metrics) = &self.metrics {
            metrics.poisoned(poisoned.len());
        }
        if !self.bus.has_subscribers() {
            return;
        }
        let at = SystemTime::now();
        let events = poisoned
            .iter()
            .map(|(id, attempt)| Event {
                kind: EventKind::Poisoned,
                id: id.clone(),
                lane: lane.clone(),
                attempt: *attempt,
                duration: None,
                error: Some(POISON_EVENT_ERROR.to_string()),
                retry_in: None,
                progress: None,
                at,
            })
            .collect();
        self.bus.send_all(events);
    }

    /// Reports a run's progress.
    pub(crate) fn progress(
        &self,
        lane: &Lane,
        id: &JobId,
        attempt: u32,
        value: &serde_json::Value,
    ) {
        if self.bus.has_subscribers() {
            self.bus.send(Event {
                kind: EventKind::Progress,
                id: id.clone(),
                lane: lane.clone(),
                attempt,
                duration: None,
                error: None,
                retry_in: None,
                progress: Some(value.clone()),
                at: SystemTime::now(),
            });
        }
    }
}
