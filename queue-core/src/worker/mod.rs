//! Workers: one pool per handler and queue it serves, each renewing its own leases; graceful
//! shutdown.

mod batch;
mod execute;
mod fetch;
mod gauges;
mod heartbeat;
mod lease;
mod outbox;
mod pool;
mod retry;
pub(crate) mod scheduler;
mod shards;
mod stats;
mod steps;
mod tally;
mod trim;

pub use scheduler::DEFAULT_SCHEDULE_REFRESH;
pub use stats::WorkerStats;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::context::State;
use crate::error::{Error, Result};
use crate::job::{Keep, Lane, LimitSpec};
use crate::presence::WorkerPresence;
use crate::queue::Queue;
use crate::registry::{registry, JobDefinition, Registration};

use self::pool::Pool;
use crate::run::Scope;

/// Default lease: how long a job stays leased without renewal before it is handed out again.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Default grace period for running jobs at shutdown.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(25);
/// How long a stopping worker waits for its last events to reach the event log.
const EVENT_LOG_FLUSH: Duration = Duration::from_secs(2);

/// Configures a [`Worker`]; made by [`Queue::worker`].
///
/// ```no_run
/// # async fn example(queue: queue_core::Queue) -> queue_core::Result<()> {
/// queue
///     .worker()
///     .state(String::from("shared state"))
///     .grace(std::time::Duration::from_secs(10))
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct WorkerBuilder {
    queue: Queue,
    state: State,
    lease: Duration,
    grace: Duration,
    only: Option<Vec<String>>,
    concurrency: HashMap<String, usize>,
    keep: HashMap<String, Keep>,
    limits: HashMap<String, LimitSpec>,
    queues: HashMap<String, Vec<String>>,
    sample_every: Duration,
    stats_every: Duration,
    heartbeat_every: Duration,
    trim_failed: Option<Duration>,
    schedule_refresh: Duration,
}

impl Queue {
    /// A builder for a worker that runs this program's handlers against this queue.
    pub fn worker(&self) -> WorkerBuilder {
        WorkerBuilder::new(self.clone())
    }
}

impl WorkerBuilder {
    fn new(queue: Queue) -> Self {
        Self {
            queue,
            state: State::default(),
            lease: DEFAULT_LEASE,
            grace: DEFAULT_GRACE,
            only: None,
            concurrency: HashMap::new(),
            keep: HashMap::new(),
            limits: HashMap::new(),
            queues: HashMap::new(),
            sample_every: gauges::SAMPLE_EVERY,
            stats_every: tally::SEND_EVERY,
            heartbeat_every: crate::presence::HEARTBEAT_EVERY,
            trim_failed: None,
            schedule_refresh: DEFAULT_SCHEDULE_REFRESH,
        }
    }

    /// Registers application state that handlers receive as `Data<T>`.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Sets the lease (default 15 s, at least 300 ms). Running jobs' leases are renewed every
    /// third of it; a worker that dies has its jobs handed out again one lease later. A run
    /// whose lease no renewal could confirm (the storage unreachable or too slow) is cancelled
    /// by the worker's own clock a tenth of the lease before it runs out, so it has stopped
    /// before another worker can take the job.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// Sets how often a worker with metrics on ([`Queue::with_metrics`]) samples the depth of
    /// the queues it serves and the number of live workers into gauges (default 10 s).
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every.max(Duration::from_millis(10));
        self
    }

    /// Sets how often the worker adds its run counts to the storage's queue statistics
    /// ([`Queue::stats`]), when the driver keeps them (default 5 s; also once at shutdown).
    pub fn stats_every(mut self, every: Duration) -> Self {
        self.stats_every = every.max(Duration::from_millis(10));
        self
    }

    /// Removes the failed jobs of the queues this worker serves once they failed more than
    /// `age` ago, on each heartbeat, a thousand per queue at most each time; the driver's
    /// failed-list cap still bounds their number. Needs the driver's [`Retention`](crate::Retention): a worker asked for it on a
    /// driver without it refuses to start.
    pub fn trim_failed_after(mut self, age: Duration) -> Self {
        self.trim_failed = Some(age);
        self
    }

    /// Sets how often the worker records itself in storage ([`Queue::workers`]) with each
    /// lane's running jobs (default [`HEARTBEAT_EVERY`](crate::HEARTBEAT_EVERY), at least
    /// 10 ms). A record outlives three heartbeats, and at least
    /// [`HEARTBEAT_TTL`](crate::HEARTBEAT_TTL).
    pub fn heartbeat_every(mut self, every: Duration) -> Self {
        self.heartbeat_every = every.max(Duration::from_millis(10));
        self
    }

    /// Sets how long running jobs may take to finish after shutdown begins (default 25 s);
    /// those still running then are cancelled and requeued without spending an attempt.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Runs only the handlers with these job names (default: every handler linked in).
    pub fn handlers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Overrides one handler's concurrency (per queue it serves).
    pub fn concurrency(mut self, job: &str, concurrency: usize) -> Self {
        self.concurrency.insert(job.to_string(), concurrency.max(1));
        self
    }

    /// Overrides what storage keeps of handler `job`'s successful jobs (`#[job(keep_completed
    /// = .., keep_completed_for = .., keep_result = ..)]`), e.g. to keep more on one deployment:
    /// `.keep("resize", Keep { completed: 1000, ..Keep::default() })`.
    pub fn keep(mut self, job: &str, keep: Keep) -> Self {
        self.keep.insert(job.to_string(), keep);
        self
    }

    /// Overrides handler `job`'s limits kept across workers (`#[job(rate = .., global_concurrency
    /// = ..)]`), e.g. from configuration:
    /// `.limits("call_partner", LimitSpec::default().with_rate("50/1s".parse()?))`.
    /// `LimitSpec::default()` lifts them. Every worker serving the handler should be given the
    /// same limits: each reserves by its own.
    pub fn limits(mut self, job: &str, limits: LimitSpec) -> Self {
        self.limits.insert(job.to_string(), limits);
        self
    }

    /// Makes handler `job` serve these queues instead of its own (`#[job(queue = ..)]`), one
    /// pool with the handler's concurrency per queue. Jobs dispatched with `.queue(name)` run
    /// only where a worker serves that queue for their handler.
    pub fn queues<I, S>(mut self, job: &str, queues: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queues.insert(
            job.to_string(),
            queues.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Sets how often the worker reads the schedules of the queues it serves again, to see
    /// schedules added, replaced, paused or resumed elsewhere (default
    /// [`DEFAULT_SCHEDULE_REFRESH`]; at least 10 ms). Between reads it sleeps until the next
    /// tick; a firing that finds a definition changed reads them again at once.
    pub fn schedule_refresh(mut self, every: Duration) -> Self {
        self.schedule_refresh = every.max(Duration::from_millis(10));
        self
    }

    /// Checks the configuration: no job name registered twice, every handler's state present,
    /// every named handler known.
    pub fn build(self) -> Result<Worker> {
        let registry = registry();
        registry.check_duplicates()?;
        let mut selected: Vec<&'static Registration> = match &self.only {
            None => registry.by_name.values().copied().collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    registry
                        .by_name
                        .get(name.as_str())
                        .copied()
                        .ok_or_else(|| Error::UnknownJob { name: name.clone() })
                })
                .collect::<Result<_>>()?,
        };
        selected.sort_by_key(|r| r.definition.name);
        for name in self.concurrency.keys().chain(self.queues.keys()) {
            if !registry.by_name.contains_key(name.as_str()) {
                return Err(Error::UnknownJob { name: name.clone() });
            }
        }
        for registration in &selected {
            for requirement in (registration.requirements)() {
                if !self.state.contains(requirement.type_id) {
                    return Err(Error::MissingState {
                        job: registration.definition.name.to_string(),
                        type_name: requirement.type_name,
                    });
                }
            }
        }
        let state = Arc::new(self.state);
        let driver = self.queue.driver().clone();
        let stats = Arc::new(WorkerStats::default());
        let mut lanes = Vec::new();
        for registration in selected {
            let def = registration.definition;
            match self.queues.get(def.name) {
                Some(queues) if queues.is_empty() => {
                    return Err(Error::InvalidConfig {
                        reason: format!("handler `{}` was given no queue to serve", def.name),
                    })
                }
                Some(queues) => {
                    for queue in queues {
                        lanes.push((registration, Lane::new(queue, def.name)?));
                    }
                }
                None => lanes.push((registration, Lane::new(def.queue, def.name)?)),
            }
        }
        lanes.sort_by(|a, b| a.1.cmp(&b.1));
        lanes.dedup_by(|a, b| a.1 == b.1);
        if self.trim_failed.is_some() && driver.retention().is_none() {
            return Err(Error::Unsupported {
                capability: "removing old failed jobs (WorkerBuilder::trim_failed_after)",
                driver: format!("{driver:?}"),
            });
        }
        let keep_of = |def: &JobDefinition| self.keep.get(def.name).copied().unwrap_or(def.keep);
        for (name, keep) in &self.keep {
            let Some(registration) = registry.by_name.get(name.as_str()) else {
                return Err(Error::InvalidConfig {
                    reason: format!("`keep` names job `{name}`, which no handler linked in has"),
                });
            };
            // Only a handler declared with keep_result encodes its `Ok` value.
            if keep.result_for.is_some() && registration.definition.keep.result_for.is_none() {
                return Err(Error::InvalidConfig {
                    reason: format!(
                        "`keep` asks to keep the results of job `{name}`, whose handler does not \
                         produce them: declare it with #[job(keep_result = \"...\")]"
                    ),
                });
            }
        }
        if driver.retention().is_none() {
            if let Some((registration, _)) = lanes
                .iter()
                .find(|(registration, _)| !keep_of(registration.definition).is_nothing())
            {
                return Err(Error::Unsupported {
                    capability: "keeping completed jobs and results (handler option keep_completed, keep_completed_for or keep_result)",
                    driver: format!("{driver:?} (asked by handler `{}`)", registration.definition.name),
                });
            }
        }
        // An override keeps a keyed handler's limits per key: its jobs carry keys.
        let limits_of = |def: &JobDefinition| {
            let mut limits = self.limits.get(def.name).copied().unwrap_or(def.limits);
            limits.keyed |= def.rate_key.is_some();
            limits
        };
        if let Some(name) = self
            .limits
            .keys()
            .find(|name| !registry.by_name.contains_key(name.as_str()))
        {
            return Err(Error::InvalidConfig {
                reason: format!("`limits` names job `{name}`, which no handler linked in has"),
            });
        }
        for (registration, _) in &lanes {
            let def = registration.definition;
            let limits = limits_of(def);
            if limits.is_none() {
                continue;
            }
            limits.checked().map_err(|error| Error::InvalidConfig {
                reason: format!("handler `{}`: {error}", def.name),
            })?;
            if limits.keyed && driver.keyed_limits().is_none() {
                return Err(Error::Unsupported {
                    capability: "limits per rate key across workers (handler option rate_key)",
                    driver: format!("{driver:?} (asked by handler `{}`)", def.name),
                });
            }
            if !limits.keyed && driver.limits().is_none() {
                return Err(Error::Unsupported {
                    capability: "rate and concurrency limits across workers (handler option rate or global_concurrency)",
                    driver: format!("{driver:?} (asked by handler `{}`)", def.name),
                });
            }
        }
        let schedules = handler_schedules(&lanes)?;
        if !schedules.is_empty() && driver.schedules().is_none() {
            return Err(Error::Unsupported {
                capability: "schedules (handler option cron)",
                driver: format!("{driver:?} (asked by handler `{}`)", schedules[0].job),
            });
        }
        let concurrency_of = |registration: &'static Registration| {
            let def = registration.definition;
            self.concurrency
                .get(def.name)
                .copied()
                .unwrap_or(def.concurrency)
        };
        let lanes = shards::expand(
            lanes,
            &self.queue.sharding,
            concurrency_of,
            |registration| !limits_of(registration.definition).is_none(),
        )?;
        let pools = lanes
            .into_iter()
            .map(|(registration, lane, shared)| {
                let def = registration.definition;
                let concurrency = concurrency_of(registration);
                let pool = Pool::new(
                    registration,
                    Arc::new(Scope {
                        observe: self.queue.observer.lane(&lane),
                        lane,
                        driver: driver.clone(),
                    }),
                    concurrency,
                    self.lease,
                    self.grace,
                    state.clone(),
                    stats.clone(),
                );
                let pool = pool.with_keep(keep_of(def));
                let pool = match shared {
                    Some((slots, shards)) => pool.sharing_slots(slots, shards),
                    None => pool,
                };
                // Decided once: only handlers with limits reserve through them.
                let limits = limits_of(def);
                let pool = match limits.is_none() {
                    true => pool,
                    false => pool.with_limits(limits),
                };
                // Decided once: without statistics in storage, runs count nothing.
                Ok(Arc::new(match driver.stats() {
                    Some(_) => pool.with_tally(Arc::default()),
                    None => pool,
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Worker {
            event_log: self.queue.observer.event_log.clone(),
            sampling: self.queue.observer.metrics.then_some(self.sample_every),
            driver,
            pools,
            stats,
            stats_every: self.stats_every,
            heartbeat_every: self.heartbeat_every,
            trim_failed: self.trim_failed,
            schedules,
            schedule_refresh: self.schedule_refresh,
        })
    }

    /// Builds the worker and runs it until `signal` completes; see [`Worker::run_until`].
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> Result<()> {
        self.build()?.run_until(signal).await
    }

    /// Builds the worker and runs it until Ctrl-C or SIGTERM; see [`Worker::run_until`].
    pub async fn run(self) -> Result<()> {
        self.build()?.run_until(shutdown_signal()).await
    }
}

/// Runs one pool per handler and queue against the storage, until told to stop.
#[derive(Debug)]
pub struct Worker {
    driver: Arc<dyn crate::Driver>,
    /// How often the worker samples queue depth into gauges, when metrics are on.
    sampling: Option<Duration>,
    pools: Vec<Arc<Pool>>,
    stats: Arc<WorkerStats>,
    /// The queue's publisher to the storage's event log, when on.
    event_log: Option<Arc<crate::observe::log::Publisher>>,
    /// How often run counts go to storage statistics.
    stats_every: Duration,
    /// How often the worker records itself in storage.
    heartbeat_every: Duration,
    /// The age past which failed jobs of the served queues are removed, if any.
    trim_failed: Option<Duration>,
    /// The schedules of the handlers it serves (`#[job(cron = ...)]`), stored at start.
    schedules: Vec<crate::schedule::Schedule>,
    /// How often the scheduler reads the served queues' schedules again.
    schedule_refresh: Duration,
}

/// The schedule of each handler's lane whose handler declares one: named after the job, in the
/// lane's queue. A handler on a schedule must accept the `null` payload its ticks carry.
fn handler_schedules(
    lanes: &[(&'static Registration, Lane)],
) -> Result<Vec<crate::schedule::Schedule>> {
    let mut out = Vec::new();
    for (registration, lane) in lanes {
        let def = registration.definition;
        let Some(cron) = def.cron else { continue };
        if let Err(e) = (registration.check_payload)(b"null") {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "handler `{}` runs on a schedule, whose jobs carry no payload (`null`), \
                     but its payload type needs one ({e}): take no payload, or an `Option`",
                    def.handler
                ),
            });
        }
        let mut schedule = crate::schedule::Schedule::new(def.name, def.name, cron.expr)
            .queue(lane.queue())
            .tz(cron.tz)
            .missed(cron.missed);
        schedule.from_handler = true;
        schedule.check()?;
        out.push(schedule);
    }
    Ok(out)
}

impl Worker {
    /// The queues this worker serves, each once (pools are sorted by lane, so a queue's pools
    /// are adjacent).
    fn served_queues(&self) -> Vec<String> {
        let mut queues: Vec<String> = self
            .pools
            .iter()
            .map(|p| p.lane().queue().to_string())
            .collect();
        queues.dedup();
        queues
    }

    /// The lanes (queue and job name) this worker serves, with their concurrency.
    pub fn lanes(&self) -> Vec<(Lane, usize)> {
        self.pools
            .iter()
            .map(|p| (p.lane().clone(), p.concurrency))
            .collect()
    }

    /// The worker's counters of lost leases and refused or dropped settlements, live while it
    /// runs.
    pub fn stats(&self) -> Arc<WorkerStats> {
        self.stats.clone()
    }

    /// Runs until `signal` completes, then shuts down gracefully: stops fetching, lets running
    /// jobs finish within the grace period, cancels and requeues the rest (without spending an
    /// attempt), settles everything with the storage and returns. Dropping the future before
    /// it returns starts the same shutdown, which then goes on without anyone waiting for it.
    ///
    /// # Panics
    ///
    /// Only on a bug in this crate: if one of its own tasks panicked (a handler's panic fails
    /// that job instead), that panic is resumed here once the shutdown is complete.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> Result<()> {
        let stop = CancellationToken::new();
        if let Some(log) = &self.event_log {
            log.start();
        }
        let presence =
            WorkerPresence::of_this_process(self.pools.iter().map(|p| p.lane().clone()).collect());
        let beat_stop = CancellationToken::new();
        let beating = tokio::spawn(heartbeat::beat(
            self.driver.clone(),
            presence,
            self.pools.clone(),
            self.heartbeat_every,
            beat_stop.clone(),
        ));
        let trimming = self.trim_failed.map(|age| {
            tokio::spawn(trim::failed(
                self.driver.clone(),
                self.served_queues(),
                age,
                self.heartbeat_every,
                beat_stop.clone(),
            ))
        });
        // Only on a driver that keeps schedules: nothing runs for them otherwise.
        let scheduling = self.driver.schedules().is_some().then(|| {
            // Lanes whose handlers declare no schedule: one a worker stored for an earlier
            // version of the handler is removed.
            let unscheduled = self
                .pools
                .iter()
                .map(|p| p.lane().clone())
                .filter(|lane| {
                    !self
                        .schedules
                        .iter()
                        .any(|s| s.queue == lane.queue() && s.job == lane.job())
                })
                .collect();
            tokio::spawn(scheduler::run(
                self.driver.clone(),
                self.served_queues(),
                self.schedules.clone(),
                unscheduled,
                self.schedule_refresh,
                stop.clone(),
            ))
        });
        // Only on a driver that keeps workflows: hand-overs of ready steps left half done by a
        // process that died are finished, at start and then every so often.
        let recovering = self.driver.workflows().is_some().then(|| {
            tokio::spawn(crate::flow::pump::recover_every(
                self.driver.clone(),
                beat_stop.clone(),
            ))
        });
        let sampling = self.sampling.map(|every| {
            tokio::spawn(gauges::sample(
                self.driver.clone(),
                self.served_queues(),
                every,
                beat_stop.clone(),
            ))
        });
        let tallies: Vec<_> = self
            .pools
            .iter()
            .filter_map(|p| Some((p.lane().clone(), p.tally.clone()?)))
            .collect();
        let tally_stop = CancellationToken::new();
        // Should this future be dropped before it ends (a timeout around it, an aborted task),
        // the tasks it started drain and stop as on a signal rather than run on detached.
        let _stop_on_drop = [&stop, &beat_stop, &tally_stop].map(|t| t.clone().drop_guard());
        let tallying = (!tallies.is_empty()).then(|| {
            tokio::spawn(tally::send(
                self.driver.clone(),
                tallies,
                self.stats_every,
                tally_stop.clone(),
            ))
        });
        // Each pool task ends only once `stop` is cancelled, unless a bug in this crate made it
        // panic: then the whole worker shuts down, rather than go on looking alive while one of
        // its lanes is no longer fetched.
        let ended = Arc::new(tokio::sync::Notify::new());
        let handles: Vec<_> = self
            .pools
            .iter()
            .map(|pool| {
                let run = pool.clone().run(stop.clone());
                let ended = ended.clone();
                tokio::spawn(async move {
                    let _tell = NotifyOnDrop(ended);
                    run.await
                })
            })
            .collect();
        tracing::info!(lanes = ?self.pools.iter().map(|p| p.lane().to_string()).collect::<Vec<_>>(), "worker started");

        tokio::select! {
            _ = signal => tracing::info!("worker shutting down"),
            _ = ended.notified() => tracing::error!("a pool task stopped unexpectedly; shutting the worker down"),
        }
        stop.cancel();
        if let Some(scheduling) = scheduling {
            let _ = scheduling.await;
        }
        // A pool task can only panic on a bug in this crate (handlers' panics are caught per
        // job). The other pools still shut down cleanly; then the panic goes on to the caller
        // rather than vanish into a log line.
        let mut panic = None;
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::error!(%error, "a pool task failed");
                if error.is_panic() && panic.is_none() {
                    panic = Some(error.into_panic());
                }
            }
        }
        // After the pools: the last runs' counts go with the final send.
        tally_stop.cancel();
        if let Some(tallying) = tallying {
            let _ = tallying.await;
        }
        beat_stop.cancel();
        let _ = beating.await;
        if let Some(recovering) = recovering {
            let _ = recovering.await;
        }
        if let Some(sampling) = sampling {
            let _ = sampling.await;
        }
        if let Some(trimming) = trimming {
            let _ = trimming.await;
        }
        if let Some(log) = &self.event_log {
            log.flush(EVENT_LOG_FLUSH).await;
        }
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// Wakes a waiter when dropped: when a pool task ends, however it ends.
struct NotifyOnDrop(Arc<tokio::sync::Notify>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
