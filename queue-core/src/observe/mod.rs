//! Seeing what jobs do: in-process [`events`], the same events published to the storage's
//! event [`log`] for other processes ([`follow`]ed there, in their stored [`record`] form),
//! [`metrics`] through the `metrics` facade, and the per-run tracing spans (made in
//! `worker::execute`), which continue the dispatcher's OpenTelemetry trace with the `otel`
//! feature (`otel`). Everything here is off until asked for, and then costs a run one check
//! of a flag, and the runs that end together two clock readings in all.

pub mod events;
pub mod follow;
pub mod log;
pub mod metrics;
#[cfg(feature = "otel")]
pub(crate) mod otel;
pub mod record;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::driver::Driver;
use crate::job::{Dispatched, JobId, Lane, Name, ReservedJob};

use self::events::{Event, EventBus, EventKind, RunEnd};
use self::log::Publisher;
use self::metrics::{DispatchCounters, LaneMetrics};

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
    /// The dispatched counters of the lanes dispatched to, once metrics are on.
    dispatch_counters: Arc<DispatchCounters>,
}

impl Observer {
    pub(crate) fn new(event_buffer: usize) -> Self {
        Self {
            bus: Arc::new(EventBus::new(event_buffer)),
            metrics: false,
            event_log: None,
            dispatch_counters: Arc::default(),
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
        let (mut events, at) = if listened {
            (Vec::with_capacity(stored.len()), Some(SystemTime::now()))
        } else {
            (Vec::new(), None)
        };
        // Consecutive jobs usually share a lane: they are counted in one step, and their
        // events share one lane value, built once.
        let mut current: Option<(&str, &str, u64, Option<Lane>)> = None;
        for ((queue, job), dispatched) in lanes.iter().zip(stored) {
            if !dispatched.created {
                continue;
            }
            let (queue, job) = (&**queue, &**job);
            if !matches!(&current, Some((q, j, ..)) if *q == queue && *j == job) {
                if let Some((q, j, n, _)) = current.take() {
                    self.count_dispatched(q, j, n);
                }
                current = Some((queue, job, 0, None));
            }
            let (_, _, count, lane) = current.as_mut().expect("set above");
            *count += 1;
            if let Some(at) = at {
                let lane = lane.get_or_insert_with(|| Lane::unchecked(queue, job));
                events.push(Event {
                    kind: EventKind::Dispatched,
                    id: dispatched.id.clone(),
                    lane: lane.clone(),
                    attempt: 0,
                    duration: None,
                    error: None,
                    retry_in: None,
                    progress: None,
                    at,
                });
            }
        }
        if let Some((q, j, n, _)) = current {
            self.count_dispatched(q, j, n);
        }
        self.bus.send_all(events);
    }

    /// Counts `count` jobs dispatched to lane (`queue`, `job`), when metrics are on.
    fn count_dispatched(&self, queue: &str, job: &str, count: u64) {
        if self.metrics {
            self.dispatch_counters.add(queue, job, count);
        }
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

/// The reports of runs that ended together, from [`LaneObserver::ending`].
#[derive(Debug)]
pub(crate) struct EndedRuns {
    /// When they ended, on the local clock.
    now: Instant,
    /// When they ended, on the wall clock: read for their events.
    at: Option<SystemTime>,
    events: Vec<RunEnd>,
    /// Successes not counted yet.
    completed: u64,
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
    /// Cancelled ([`Queue::cancel`](crate::Queue::cancel)) while it ran.
    Cancelled,
    /// Cancelled by shutdown and handed back: not an outcome of the job.
    Requeued,
}

impl LaneObserver {
    /// Whether runs should be timed and reported: someone listens or metrics are on.
    #[inline]
    pub(crate) fn on(&self) -> bool {
        self.metrics.is_some() || self.bus.has_subscribers()
    }

    /// Starts the reports of up to `runs` runs that ended together, at `now` on the local clock:
    /// the wall clock is read once for their events (when someone listens), and their events
    /// are sent and their successes counted together, by [`LaneObserver::send`].
    pub(crate) fn ending(&self, runs: usize, now: Instant) -> EndedRuns {
        let listened = self.bus.has_subscribers();
        EndedRuns {
            now,
            at: listened.then(SystemTime::now),
            events: if listened {
                Vec::with_capacity(runs)
            } else {
                Vec::new()
            },
            completed: 0,
        }
    }

    /// Reports the end of a run of job `id` (attempt `attempt`) that started at `started`
    /// (its batch's start): times it, counts it, and adds its event to `ended` when someone
    /// listens.
    pub(crate) fn run_ended(
        &self,
        ended: &mut EndedRuns,
        id: &JobId,
        attempt: u32,
        started: Instant,
        ending: Ending<'_>,
    ) {
        let took = ended.now.saturating_duration_since(started);
        if let Some(metrics) = &self.metrics {
            if ending == Ending::Completed {
                // Counted with the runs that ended with it, in `send`.
                ended.completed += 1;
                metrics.run_took(took);
            } else {
                metrics.run_ended(took, &ending);
            }
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
            Ending::Cancelled => (EventKind::Cancelled, None, None),
            Ending::Requeued => return,
        };
        // A subscriber that arrived since the clocks were read gets its own reading.
        let at = *ended.at.get_or_insert_with(SystemTime::now);
        ended.events.push(RunEnd {
            kind,
            id: id.clone(),
            attempt,
            duration: took,
            error,
            retry_in,
            at,
        });
    }

    /// Counts the successes and sends the events gathered by [`LaneObserver::run_ended`] (runs
    /// of `lane`).
    pub(crate) fn send(&self, lane: &Lane, ended: EndedRuns) {
        if let (Some(metrics), completed @ 1..) = (&self.metrics, ended.completed) {
            metrics.completed(completed);
        }
        self.bus.send_runs(lane, ended.events);
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

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
