#![doc = include_str!("../README.md")]

mod event_log;
mod flows;
mod keyed;
mod limits;
mod presence;
mod retention;
mod schedules;
mod state;
mod stats;
mod store;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use queue_core::hash::IdHashMap;
use queue_core::{
    Admin, Counts, Dispatched, Driver, Failure, JobId, JobInfo, JobPage, JobQuery, Lane, Lease,
    NewJob, Reservation, Result, WorkerPresence, DEFAULT_MAX_LOST_LEASES,
};

use presence::Presence;
use state::{EnqueueTime, LaneId, QueueState};

/// Default cap on each queue's failed list.
pub const DEFAULT_MAX_FAILED: usize = 10_000;

/// Settings of a [`MemoryDriver`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MemoryOptions {
    /// How many failed jobs each queue keeps (oldest dropped). Default [`DEFAULT_MAX_FAILED`].
    pub max_failed: usize,
    /// How many times a job may lose its lease (its worker stopped or lost its connection while
    /// running it) before it is failed as poison. Lost leases do not spend attempts. Default
    /// [`DEFAULT_MAX_LOST_LEASES`]; at least 1.
    pub max_lost_leases: u32,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        Self {
            max_failed: DEFAULT_MAX_FAILED,
            max_lost_leases: DEFAULT_MAX_LOST_LEASES,
        }
    }
}

/// Stores jobs in this process's memory. Nothing survives a restart; use it for development and
/// tests. Cloning shares the storage.
///
/// Connect with the URL `memory://`, or build one with [`MemoryDriver::new`].
#[derive(Clone)]
pub struct MemoryDriver {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MemoryDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDriver")
            .field("queues", &self.shared.queues.lock().len())
            .field("options", &self.shared.options)
            .finish()
    }
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<IdHashMap<Arc<str>, Arc<Mutex<QueueState>>>>,
    /// The zero of the store's clock ([`MemoryDriver::now`]), on a millisecond of the wall clock.
    epoch: Instant,
    /// The wall time at [`Shared::epoch`], in ms since the Unix epoch: a reserve at `now` starts
    /// its runs at `wall_epoch_ms + now` (their [`ReservedJob::started_at`](queue_core::ReservedJob)).
    wall_epoch_ms: u64,
    tokens: AtomicU64,
    options: MemoryOptions,
    workers: Presence,
    /// Queue statistics.
    stats: stats::StatsStore,
    /// Wakes waits on queues that did not exist yet when a queue is created.
    created: tokio::sync::Notify,
    /// Each queue's log of events.
    events: event_log::EventLogs,
    /// Each queue's schedules.
    schedules: schedules::ScheduleStore,
    /// Workflows and batches.
    flows: flows::FlowStore,
}

/// The zero of a store's clock and the wall time then (ms since the Unix epoch). The zero is
/// put back to the start of the wall clock's millisecond, so the store's milliseconds and the
/// wall clock's begin together: a start the rate limit counted at `now` is reported at
/// `wall_epoch_ms + now`, the same millisecond the wall clock read (unless the wall clock is
/// set while the store lives), and starts a window apart by the limit are a window apart as
/// reported.
fn clock_zero() -> (Instant, u64) {
    let (instant, wall) = (Instant::now(), SystemTime::now());
    let since = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let into_ms = Duration::from_nanos(u64::from(since.subsec_nanos() % 1_000_000));
    let epoch = instant.checked_sub(into_ms).unwrap_or(instant);
    (epoch, since.as_millis() as u64)
}

impl Default for MemoryDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        Self::with_max_failed(DEFAULT_MAX_FAILED)
    }

    /// An empty store whose failed lists keep at most `max_failed` jobs each (oldest dropped).
    pub fn with_max_failed(max_failed: usize) -> Self {
        Self::with_options(MemoryOptions {
            max_failed,
            ..MemoryOptions::default()
        })
    }

    /// An empty store with `options`.
    pub fn with_options(mut options: MemoryOptions) -> Self {
        options.max_lost_leases = options.max_lost_leases.max(1);
        let (epoch, wall_epoch_ms) = clock_zero();
        Self {
            shared: Arc::new(Shared {
                queues: Mutex::new(IdHashMap::default()),
                epoch,
                wall_epoch_ms,
                tokens: AtomicU64::new(1),
                options,
                workers: Presence::default(),
                stats: stats::StatsStore::default(),
                created: tokio::sync::Notify::new(),
                events: event_log::EventLogs::default(),
                schedules: schedules::ScheduleStore::default(),
                flows: flows::FlowStore::default(),
            }),
        }
    }

    /// Milliseconds since this store was created: the clock for due times and leases.
    fn now(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    fn queue(&self, name: &str) -> Arc<Mutex<QueueState>> {
        self.queue_or_new(name).0
    }

    /// The queue named `name`, created if needed; true when it was.
    fn queue_or_new(&self, name: &str) -> (Arc<Mutex<QueueState>>, bool) {
        let mut queues = self.shared.queues.lock();
        if let Some(q) = queues.get(name) {
            return (q.clone(), false);
        }
        let options = &self.shared.options;
        let q = Arc::new(Mutex::new(QueueState::new(
            name,
            options.max_failed,
            options.max_lost_leases,
            self.shared.wall_epoch_ms,
        )));
        queues.insert(name.into(), q.clone());
        (q, true)
    }

    fn existing(&self, name: &str) -> Option<Arc<Mutex<QueueState>>> {
        self.shared.queues.lock().get(name).cloned()
    }

    /// Stores jobs, ready or scheduled, and reports what became of each: the body of
    /// [`Driver::enqueue`], also used by a schedule's firing.
    fn store(&self, jobs: &[NewJob]) -> Vec<Dispatched> {
        let time = EnqueueTime {
            now: self.now(),
            created_at: SystemTime::now(),
        };
        // Producers and workers share each queue's lock, so as little as possible happens while
        // holding it: a payload's first clone allocates its reference count, so it is made here;
        // ids are formatted and the jobs dropped after the lock is released.
        for job in jobs {
            drop(job.spec().payload.clone());
        }
        let mut stored = Vec::with_capacity(jobs.len());
        // Jobs usually share a queue: lock it once for each run of jobs bound for it.
        let mut rest = jobs.iter().peekable();
        while let Some(first) = rest.peek() {
            let name = first.spec().queue;
            let (queue, new) = self.queue_or_new(name);
            let run = std::iter::from_fn(|| rest.next_if(|job| job.spec().queue == name));
            queue.lock().enqueue_all(run, time, &mut stored);
            if new {
                // Waits on the queue before it existed look again, now that it holds the jobs.
                self.shared.created.notify_waiters();
            }
        }
        stored
            .into_iter()
            .zip(jobs)
            .map(|(stored, job)| stored.dispatched(job))
            .collect()
    }

    /// Acks `done` with `ack`, then reserves with `reserve`, under one lock of `queue`: the step
    /// the plain, limited and keyed acks-and-reserves share. `reserve` is given the time, the
    /// lease in ms and the lease token counter. The acked jobs' payloads are freed once the
    /// lock is released (freeing is the costliest part of an ack).
    fn ack_then_reserve(
        &self,
        queue: &Mutex<QueueState>,
        lane: &Lane,
        done: &[Lease],
        lease: Duration,
        ack: impl Fn(&mut QueueState, LaneId, &Lease) -> Option<bytes::Bytes>,
        reserve: impl FnOnce(&mut QueueState, u64, u64, &AtomicU64) -> Reservation,
    ) -> (Vec<bool>, Reservation) {
        let now = self.now();
        let lease_ms = lease.as_millis().min(u128::from(u64::MAX)) as u64;
        let mut payloads = Vec::with_capacity(done.len());
        let mut q = queue.lock();
        let acked = match q.existing_lane(lane.job()) {
            Some(id) => done
                .iter()
                .map(|l| ack(&mut q, id, l).map(|p| payloads.push(p)).is_some())
                .collect(),
            None => vec![false; done.len()],
        };
        let reservation = reserve(&mut q, now, lease_ms, &self.shared.tokens);
        drop(q);
        drop(payloads);
        (acked, reservation)
    }

    /// Applies `step` to each lease of `lane` under one lock. Leases of a lane that never held
    /// a job are all stale.
    fn settle(
        &self,
        lane: &Lane,
        leases: &[Lease],
        mut step: impl FnMut(&mut QueueState, LaneId, &Lease) -> bool,
    ) -> Vec<bool> {
        let Some(queue) = self.existing(lane.queue()) else {
            return vec![false; leases.len()];
        };
        let mut q = queue.lock();
        match q.existing_lane(lane.job()) {
            Some(id) => leases.iter().map(|l| step(&mut q, id, l)).collect(),
            None => vec![false; leases.len()],
        }
    }
}

/// Jobs per unit of Tokio's cooperative budget an enqueue spends.
const JOBS_PER_BUDGET_UNIT: usize = 16;

/// Spends Tokio's cooperative budget for handling `jobs` jobs, yielding to the runtime when the
/// task's budget is spent. The memory driver never waits on I/O, so without this a task
/// dispatching in a loop would keep its thread until it finished, and workers scheduled on that
/// thread would wait for it.
async fn cooperate(jobs: usize) {
    for _ in 0..jobs.div_ceil(JOBS_PER_BUDGET_UNIT).max(1) {
        tokio::task::consume_budget().await;
    }
}

fn connect(_url: String) -> BoxFuture<'static, Result<Arc<dyn Driver>>> {
    Box::pin(async { Ok(Arc::new(MemoryDriver::new()) as Arc<dyn Driver>) })
}

queue_core::register_driver!(["memory"], connect);

#[async_trait]
impl Driver for MemoryDriver {
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        cooperate(jobs.len()).await;
        Ok(self.store(&jobs))
    }

    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        // A queue that never held a job has nothing to hand out; it is not created for asking.
        let Some(queue) = self.existing(lane.queue()) else {
            return Ok((vec![false; done.len()], Reservation::default()));
        };
        Ok(self.ack_then_reserve(
            &queue,
            lane,
            done,
            lease,
            QueueState::ack,
            |q, now, lease_ms, tokens| {
                q.reserve(lane.job(), max, now, lease_ms, |n| {
                    tokens.fetch_add(n, Ordering::Relaxed)
                })
            },
        ))
    }

    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()> {
        // A queue that does not exist is not created for waiting: the wait ends when any queue
        // is created, and the caller looks again.
        let created = self.shared.created.notified();
        tokio::pin!(created);
        created.as_mut().enable();
        let notify = self
            .existing(lane.queue())
            .map(|q| q.lock().lane(lane.job()).notify.clone());
        let woken = async {
            match &notify {
                Some(notify) => notify.notified().await,
                None => created.await,
            }
        };
        match timeout {
            Some(t) => {
                let _ = tokio::time::timeout(t, woken).await;
            }
            None => woken.await,
        }
        Ok(())
    }

    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        let lease_ms = lease.as_millis().min(u128::from(u64::MAX)) as u64;
        let deadline = self.now().saturating_add(lease_ms);
        Ok(self.settle(lane, leases, |q, id, l| q.renew(id, l, deadline)))
    }

    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        let mut payloads = Vec::with_capacity(leases.len());
        let acked = self.settle(lane, leases, |q, id, lease| {
            q.ack(id, lease)
                .map(|payload| payloads.push(payload))
                .is_some()
        });
        // Freeing is the costliest part of an ack: done once the queue's lock is released.
        drop(payloads);
        Ok(acked)
    }

    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool> {
        let now = self.now();
        let mut failure = Some(failure);
        let done = self.settle(lane, std::slice::from_ref(lease), |q, id, l| {
            q.fail(id, l, failure.take().expect("one lease"), now)
        });
        Ok(done[0])
    }

    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        let Some(queue) = self.existing(lane.queue()) else {
            return Ok(vec![false; leases.len()]);
        };
        let now = self.now();
        let mut q = queue.lock();
        Ok(match q.existing_lane(lane.job()) {
            Some(id) => q.requeue(id, leases, now),
            None => vec![false; leases.len()],
        })
    }

    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool> {
        Ok(self
            .existing(lane.queue())
            .is_some_and(|q| q.lock().progress(lease, progress)))
    }

    async fn reap(&self, lane: &Lane) -> Result<usize> {
        let now = self.now();
        Ok(self
            .existing(lane.queue())
            .map_or(0, |q| q.lock().reap_lane(lane.job(), now)))
    }

    fn capabilities(&self) -> queue_core::Capabilities<'_> {
        queue_core::Capabilities::default()
            .with_admin(self)
            .with_presence(self)
            .with_retention(self)
            .with_event_log(self)
            .with_stats(self)
            .with_limits(self)
            .with_schedules(self)
            .with_unique(self)
            .with_cancel(self)
            .with_keyed_limits(self)
            .with_workflows(self)
    }
}

#[async_trait]
impl queue_core::Cancel for MemoryDriver {
    async fn cancel(&self, queue: &str, id: &JobId) -> Result<queue_core::CancelOutcome> {
        Ok(self
            .existing(queue)
            .map_or(queue_core::CancelOutcome::NotFound, |q| q.lock().cancel(id)))
    }
}

#[async_trait]
impl queue_core::UniqueJobs for MemoryDriver {
    async fn enqueue_unique(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        cooperate(jobs.len()).await;
        let time = EnqueueTime {
            now: self.now(),
            created_at: SystemTime::now(),
        };
        let mut stored = Vec::with_capacity(jobs.len());
        let mut rest = jobs.iter().peekable();
        while let Some(first) = rest.peek() {
            let name = first.spec().queue;
            let (queue, new) = self.queue_or_new(name);
            let run = std::iter::from_fn(|| rest.next_if(|job| job.spec().queue == name));
            queue.lock().enqueue_unique_all(run, time, &mut stored);
            if new {
                self.shared.created.notify_waiters();
            }
        }
        Ok(stored)
    }
}

#[async_trait]
impl Admin for MemoryDriver {
    async fn lease_floor(&self, _queue: &str) -> Result<u64> {
        // Tokens come from one counter for every queue; the next lease gets at least its value.
        Ok(self.shared.tokens.load(Ordering::Relaxed).saturating_sub(1))
    }

    async fn queues(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .shared
            .queues
            .lock()
            .keys()
            .map(|k| k.to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn counts(&self, queue: &str) -> Result<Counts> {
        Ok(self
            .existing(queue)
            .map(|q| q.lock().counts())
            .unwrap_or_default())
    }

    async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>> {
        let now = self.now();
        Ok(self.existing(queue).and_then(|q| {
            let q = q.lock();
            let mut info = q.info(id)?;
            info.result = q.result(id, now);
            Some(info)
        }))
    }

    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>> {
        Ok(self
            .existing(queue)
            .map(|q| q.lock().failed(offset, limit))
            .unwrap_or_default())
    }

    async fn list_jobs(&self, queue: &str, query: &JobQuery) -> Result<JobPage> {
        query.check()?;
        queue_core::validate_name("queue name", queue)?;
        match self.existing(queue) {
            Some(q) => q.lock().list(query),
            None => {
                // Nothing to list, but a cursor is still checked.
                queue_core::Cursor::read(query)?;
                Ok(JobPage::new(Vec::new(), None))
            }
        }
    }

    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize> {
        let now = self.now();
        Ok(self
            .existing(queue)
            .map(|q| q.lock().retry_failed(id, now))
            .unwrap_or(0))
    }

    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool> {
        let now = self.now();
        Ok(self
            .existing(queue)
            .map(|q| q.lock().delete(id, now))
            .unwrap_or(false))
    }

    async fn purge(&self, queue: &str) -> Result<()> {
        // The queue's state stays, emptied: its id counter (ids are never reused, so a lookup or
        // delete by an old id cannot reach a new job), its pause flag and its lanes, on which
        // workers may be waiting. That is a few hundred bytes per purged name, as the Redis
        // driver keeps a queue's counters.
        let now = self.now();
        if let Some(q) = self.existing(queue) {
            q.lock().purge(now);
        }
        Ok(())
    }

    async fn pause(&self, queue: &str) -> Result<()> {
        queue_core::validate_name("queue name", queue)?;
        self.queue(queue).lock().paused = true;
        Ok(())
    }

    async fn resume(&self, queue: &str) -> Result<()> {
        queue_core::validate_name("queue name", queue)?;
        self.queue(queue).lock().resume();
        Ok(())
    }

    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>> {
        Ok(self
            .existing(queue)
            .map(|q| q.lock().lane_counts())
            .unwrap_or_default())
    }
}

#[async_trait]
impl queue_core::Presence for MemoryDriver {
    async fn heartbeat(&self, worker: &WorkerPresence, ttl: Duration) -> Result<()> {
        self.shared.workers.beat(worker, ttl);
        Ok(())
    }

    async fn retire(&self, worker_id: &str) -> Result<()> {
        self.shared.workers.retire(worker_id);
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerPresence>> {
        Ok(self.shared.workers.live())
    }
}
