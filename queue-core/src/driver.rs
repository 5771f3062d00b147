//! The storage interface every driver implements.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::flow::Workflows;
use bytes::Bytes;

use crate::job::{
    Completion, Counts, Dispatched, Failure, JobId, JobInfo, JobPage, JobQuery, JobState, Keep,
    Lane, Lease, LimitSpec, NewJob, Reservation,
};
use crate::job::{QueueStats, RunCounts};
use crate::keyed_limits::KeyedLimits;
use crate::observe::events::Event;
use crate::presence::WorkerPresence;
use crate::schedule::{Fired, Schedule, ScheduleInfo};

/// How many times a job may lose its lease before a driver fails it as poison, unless the
/// driver is configured otherwise (`MemoryOptions::max_lost_leases`,
/// `RedisOptions::max_lost_leases`).
pub const DEFAULT_MAX_LOST_LEASES: u32 = 3;

/// Storage for jobs: the state machine `scheduled -> ready -> active -> done | scheduled | failed`.
///
/// Workers and dispatchers only talk to storage through this trait, held as `Arc<dyn Driver>`,
/// so a program picks its driver at run time from a URL. Every driver passes the conformance suite
/// in `queue_core::testing`; the guarantees below are what that suite checks.
///
/// # Behavior
///
/// - **Lanes.** Ready, scheduled and active jobs are kept per [`Lane`] (queue and job name).
///   Within a lane, ready jobs leave in priority order (higher first) and FIFO within a priority.
/// - **Order.** One rule in every driver. New jobs join the back of their priority in dispatch
///   order. Scheduled jobs (delayed, or retried after a failure) become ready at their due time,
///   joining the back of their priority by due time and then dispatch sequence, so jobs given the
///   same due time keep their dispatch order. Returned jobs (requeued, or reaped after losing
///   their lease) go to the head of their priority, ahead of jobs that were waiting; the jobs
///   returned together (by one `requeue` call, or by one reap) keep their dispatch order among
///   themselves, and a later return goes ahead of an earlier one.
/// - **Leases and tokens.** [`reserve`](Driver::reserve) moves jobs to active with a deadline and a
///   fresh fencing token, and counts the attempt. [`renew`](Driver::renew),
///   [`ack`](Driver::ack), [`fail`](Driver::fail), [`requeue`](Driver::requeue) and
///   [`progress`](Driver::progress) act only when the token is still the job's current one and
///   report `false` otherwise.
/// - **Reaping and lost leases.** A job whose lease passed its deadline goes back to the head of
///   its lane *without spending the attempt*: the lost run was not a handler's verdict (its
///   worker was killed, or cut off, or stopped before its ack reached storage), so the next run
///   gets the same attempt number. Lost leases are counted apart, in
///   [`JobInfo::lost_leases`]; the one that reaches the driver's limit
///   ([`DEFAULT_MAX_LOST_LEASES`] unless configured) moves the job to the failed list as poison,
///   with an error saying so, so a job that kills its worker does not loop forever. `reserve`
///   reaps the lane it serves, so no separate timer is needed; [`reap`](Driver::reap) does it on
///   request.
/// - **At least once.** A job leaves storage only through `ack`, `delete` or `purge`, or when the
///   failed list is trimmed. A worker acks a success with its pool's next reserve, or within
///   moments by its settling task: a worker killed in that window leaves the job leased, and the
///   job runs again once its lease expires (it is not failed, and no attempt is spent).
/// - **Delays.** Dispatch delays and retry delays longer than [`MAX_DELAY`](crate::MAX_DELAY)
///   are taken as `MAX_DELAY`: such a job is scheduled (not run at once, not lost) and nothing
///   overflows.
/// - **No polling.** [`wait`](Driver::wait) blocks until the lane may have work, without
///   repeated storage round trips.
///
/// Times are the driver's own clock (the Redis server's for Redis); callers pass durations.
#[async_trait]
pub trait Driver: Send + Sync + std::fmt::Debug + 'static {
    /// Stores jobs, each ready now or scheduled after its delay, and wakes a waiting worker of
    /// each lane that received a ready job.
    ///
    /// Returns one [`Dispatched`] per job, in order. A job whose chosen id already exists in its
    /// queue (in any state) is not stored again and is reported with `created: false`. The jobs
    /// were checked by the caller (names, id, payload size).
    async fn enqueue(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>>;

    /// [`ack`](Driver::ack)s `done`, then leases up to `max` ready jobs of `lane` for `lease`
    /// (first promoting the lane's scheduled jobs that are due and reaping its expired leases):
    /// a busy worker's usual step, in one storage round trip where the driver can. Returns the
    /// ack results, per lease, and the reservation. On an error the caller cannot tell whether
    /// the acks happened; sending them again is harmless (a second ack reports `false`).
    ///
    /// Each job gets a new token, and the time of this reserve by the driver's clock as its
    /// run's start ([`ReservedJob::started_at`](crate::ReservedJob::started_at), the time a rate
    /// limit counts). A paused queue yields no jobs. When fewer than `max` jobs are
    /// returned, [`Reservation::next_due`] says how long until the lane's next scheduled job or
    /// lease deadline. When ready jobs remain after taking `max`, another waiting worker is
    /// woken.
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)>;

    /// [`ack_and_reserve`](Driver::ack_and_reserve) with nothing to ack.
    async fn reserve(&self, lane: &Lane, max: usize, lease: Duration) -> Result<Reservation> {
        Ok(self.ack_and_reserve(lane, &[], max, lease).await?.1)
    }

    /// Waits until `lane` may have ready jobs (a dispatch, a retry, a requeue, a resume) or until
    /// `timeout` passes, whichever is first. It may return early; callers then reserve and wait
    /// again. One wake-up is consumed per call: two waiting workers need two wake-ups, and
    /// `reserve` passes a wake-up on while ready jobs remain.
    async fn wait(&self, lane: &Lane, timeout: Option<Duration>) -> Result<()>;

    /// Extends the leases of running jobs to `lease` from now. Returns, per lease, whether it is
    /// still held; `false` means the job was reaped or deleted and the caller must stop it.
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>>;

    /// Completes jobs whose handlers succeeded, removing them. Returns, per lease, whether it was
    /// current (a stale lease changes nothing).
    async fn ack(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>>;

    /// Ends a failed run: schedules the job again after [`Failure::retry_in`], or moves it to the
    /// failed list (newest first, trimmed to the driver's limit) when that is `None`. The error is
    /// recorded with the job. Returns whether the lease was current.
    async fn fail(&self, lane: &Lane, lease: &Lease, failure: Failure) -> Result<bool>;

    /// Puts running jobs back at the head of their lane without spending the attempt (used on
    /// shutdown), in dispatch order among themselves and ahead of the jobs that were waiting.
    /// Returns, per lease, whether it was current.
    async fn requeue(&self, lane: &Lane, leases: &[Lease]) -> Result<Vec<bool>>;

    /// Records a running job's progress, shown by [`Admin::job`]. Returns whether the lease was
    /// current.
    async fn progress(
        &self,
        lane: &Lane,
        lease: &Lease,
        progress: serde_json::Value,
    ) -> Result<bool>;

    /// Returns the jobs of expired leases of `lane` to the head of ready without spending their
    /// attempts (or to the failed list as poison once they lost their lease too often), and
    /// returns how many it handled.
    async fn reap(&self, lane: &Lane) -> Result<usize>;

    // Capabilities beyond running jobs: a driver that has them returns itself.

    /// What this driver offers beyond the hot path (none unless it says so). Read it through
    /// [`admin`](trait.Driver.html#method.admin) and the like on `dyn Driver`.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::default()
    }
}

/// The capabilities a driver offers beyond the hot path, each a trait of its own: a driver
/// returns them from [`Driver::capabilities`], usually as itself:
///
/// ```ignore
/// fn capabilities(&self) -> Capabilities<'_> {
///     Capabilities::default().with_admin(self).with_presence(self)
/// }
/// ```
///
/// New capabilities are added here, so a driver written before them still compiles (and lacks
/// them).
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct Capabilities<'a> {
    /// Inspection and administration of queues.
    pub admin: Option<&'a dyn Admin>,
    /// Records of live workers.
    pub presence: Option<&'a dyn Presence>,
    /// Completed jobs and results kept after success, and cleaning by age.
    pub retention: Option<&'a dyn Retention>,
    /// A capped log of job events per queue, read by other processes.
    pub event_log: Option<&'a dyn EventLog>,
    /// Queue statistics kept in storage.
    pub stats: Option<&'a dyn Stats>,
    /// Rate and concurrency limits kept across workers.
    pub limits: Option<&'a dyn Limits>,
    /// Recurring jobs, fired once per tick.
    pub schedules: Option<&'a dyn Schedules>,
    /// Unique jobs: dispatches deduplicated by key.
    pub unique: Option<&'a dyn UniqueJobs>,
    /// Cancelling waiting and running jobs.
    pub cancel: Option<&'a dyn Cancel>,
    /// Limits held per rate key, keys served round robin.
    pub keyed_limits: Option<&'a dyn KeyedLimits>,
    /// Workflows and batches: steps released by their prerequisites.
    pub workflows: Option<&'a dyn Workflows>,
}

impl<'a> Capabilities<'a> {
    /// Offers inspection and administration.
    pub fn with_admin(mut self, admin: &'a dyn Admin) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Offers records of live workers.
    pub fn with_presence(mut self, presence: &'a dyn Presence) -> Self {
        self.presence = Some(presence);
        self
    }

    /// Offers completed jobs and results kept after success.
    pub fn with_retention(mut self, retention: &'a dyn Retention) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Offers a log of job events per queue.
    pub fn with_event_log(mut self, event_log: &'a dyn EventLog) -> Self {
        self.event_log = Some(event_log);
        self
    }

    /// Offers queue statistics kept in storage.
    pub fn with_stats(mut self, stats: &'a dyn Stats) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Offers rate and concurrency limits kept across workers.
    pub fn with_limits(mut self, limits: &'a dyn Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Offers recurring jobs.
    pub fn with_schedules(mut self, schedules: &'a dyn Schedules) -> Self {
        self.schedules = Some(schedules);
        self
    }

    /// Offers unique jobs.
    pub fn with_unique(mut self, unique: &'a dyn UniqueJobs) -> Self {
        self.unique = Some(unique);
        self
    }

    /// Offers cancelling jobs.
    pub fn with_cancel(mut self, cancel: &'a dyn Cancel) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Offers limits held per rate key.
    pub fn with_keyed_limits(mut self, keyed: &'a dyn KeyedLimits) -> Self {
        self.keyed_limits = Some(keyed);
        self
    }

    /// Offers workflows and batches.
    pub fn with_workflows(mut self, workflows: &'a dyn Workflows) -> Self {
        self.workflows = Some(workflows);
        self
    }
}

impl std::fmt::Debug for Capabilities<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities")
            .field("admin", &self.admin.is_some())
            .field("presence", &self.presence.is_some())
            .field("retention", &self.retention.is_some())
            .field("event_log", &self.event_log.is_some())
            .field("stats", &self.stats.is_some())
            .field("limits", &self.limits.is_some())
            .field("schedules", &self.schedules.is_some())
            .field("unique", &self.unique.is_some())
            .field("cancel", &self.cancel.is_some())
            .field("keyed_limits", &self.keyed_limits.is_some())
            .field("workflows", &self.workflows.is_some())
            .finish()
    }
}

impl dyn Driver {
    /// The driver's inspection and administration, if it offers them.
    pub fn admin(&self) -> Option<&dyn Admin> {
        self.capabilities().admin
    }

    /// The driver's records of live workers, if it keeps them.
    pub fn presence(&self) -> Option<&dyn Presence> {
        self.capabilities().presence
    }

    /// The driver's keeping of completed jobs and results, if it offers it.
    pub fn retention(&self) -> Option<&dyn Retention> {
        self.capabilities().retention
    }

    /// The driver's log of job events per queue, if it keeps one.
    pub fn event_log(&self) -> Option<&dyn EventLog> {
        self.capabilities().event_log
    }

    /// The driver's queue statistics, if it keeps them.
    pub fn stats(&self) -> Option<&dyn Stats> {
        self.capabilities().stats
    }

    /// The driver's rate and concurrency limits, if it keeps them.
    pub fn limits(&self) -> Option<&dyn Limits> {
        self.capabilities().limits
    }

    /// The driver's recurring jobs, if it keeps them.
    pub fn schedules(&self) -> Option<&dyn Schedules> {
        self.capabilities().schedules
    }

    /// The driver's unique jobs, if it offers them.
    pub fn unique(&self) -> Option<&dyn UniqueJobs> {
        self.capabilities().unique
    }

    /// The driver's cancelling of jobs, if it offers it.
    pub fn cancel(&self) -> Option<&dyn Cancel> {
        self.capabilities().cancel
    }

    /// The driver's limits held per rate key, if it keeps them.
    pub fn keyed_limits(&self) -> Option<&dyn KeyedLimits> {
        self.capabilities().keyed_limits
    }

    /// The driver's workflows and batches, if it offers them.
    pub fn workflows(&self) -> Option<&dyn Workflows> {
        self.capabilities().workflows
    }
}

/// Inspection and administration of queues: what an operator needs beside the hot path. A driver
/// offers it by returning itself from [`Driver::capabilities`]; [`Queue`](crate::Queue)'s inspection and
/// administration methods answer [`Error::Unsupported`](crate::Error::Unsupported) otherwise.
#[async_trait]
pub trait Admin: Send + Sync {
    /// Names of the queues that hold or held jobs.
    async fn queues(&self) -> Result<Vec<String>>;

    /// A number below the fencing token of every lease `queue` issues from now on (a
    /// workflow's reopened step refuses the ends of runs leased before).
    async fn lease_floor(&self, queue: &str) -> Result<u64>;

    /// How many jobs of `queue` are in each state.
    async fn counts(&self, queue: &str) -> Result<Counts>;

    /// Looks a job up by id.
    async fn job(&self, queue: &str, id: &JobId) -> Result<Option<JobInfo>>;

    /// Failed jobs of `queue`, newest first, skipping `offset` and returning at most `limit`.
    async fn failed(&self, queue: &str, offset: usize, limit: usize) -> Result<Vec<JobInfo>>;

    /// A page of `queue`'s jobs in state `query.state`, of one lane (`query.name`) or of every
    /// lane of the queue, from either end of the state's order ([`Order`](crate::Order)), going
    /// on from `query.cursor` (a [`JobPage::next`] this driver returned for the same state and
    /// order).
    ///
    /// A page costs storage work in proportion to its size (plus a logarithm for sorted
    /// indexes), never a scan of the queue; a queue-wide listing reads up to a page from each
    /// lane and merges them. Jobs that change state between pages may be listed again or
    /// missed, as with any cursor over live data, but a page never holds a job twice. Ready jobs
    /// are listed in the order [`Driver::reserve`] would take them (higher priority first, then
    /// first in line); scheduled ones by due time; active ones in the order they were leased
    /// (for drivers that index leases by deadline: by lease deadline); failed ones by failure
    /// time. Failed jobs are kept per queue, so a listing of them by name looks at a bounded
    /// number of entries (a few pages' worth) per call and may return a short, even empty,
    /// page with a cursor to go on. The query is checked with [`JobQuery::check`]; a cursor
    /// this listing cannot use is an [`Error::InvalidQuery`](crate::Error::InvalidQuery).
    async fn list_jobs(&self, queue: &str, query: &JobQuery) -> Result<JobPage>;

    /// Moves one failed job (`Some(id)`) or all of them (`None`) back to ready with a fresh set
    /// of attempts and its lost leases forgotten; a job cancelled while it ran whose lease would
    /// not have ended yet is scheduled for then instead (its run may still be going). Returns
    /// how many moved.
    async fn retry_failed(&self, queue: &str, id: Option<&JobId>) -> Result<usize>;

    /// Deletes a job in any state. An active job's lease becomes stale, so its worker cannot ack
    /// it. Returns whether the job existed.
    async fn delete(&self, queue: &str, id: &JobId) -> Result<bool>;

    /// Deletes every job of `queue`, in every state.
    async fn purge(&self, queue: &str) -> Result<()>;

    /// Stops `reserve` from handing out jobs of `queue`; dispatch still stores them.
    async fn pause(&self, queue: &str) -> Result<()>;

    /// Undoes [`Admin::pause`] and wakes the queue's waiting workers.
    async fn resume(&self, queue: &str) -> Result<()>;

    /// How many jobs of each lane of `queue` are ready, scheduled and active, by job name in
    /// name order (the failed list is kept per queue: `failed` is 0 here).
    async fn lane_counts(&self, queue: &str) -> Result<Vec<(String, Counts)>>;
}

/// Records of live workers and the lanes they serve. A driver offers it by returning itself from
/// [`Driver::capabilities`]; without it, workers run but are not listed.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Records that `worker` is alive and serves its lanes, until `ttl` from now unless
    /// repeated.
    async fn heartbeat(&self, worker: &WorkerPresence, ttl: Duration) -> Result<()>;

    /// Forgets the worker with this id (it stopped).
    async fn retire(&self, worker_id: &str) -> Result<()>;

    /// The workers whose last heartbeat has not expired, by id.
    async fn workers(&self) -> Result<Vec<WorkerPresence>>;
}

/// Keeping what succeeded: completed jobs by count and age, handlers' results for a while, and
/// removing old completed or failed jobs on request. A driver offers it in
/// [`Driver::capabilities`]; a worker whose handlers keep anything ([`Keep`]) refuses to start
/// on a driver without it, and [`Queue`](crate::Queue)'s result and cleaning methods answer
/// [`Error::Unsupported`](crate::Error::Unsupported).
#[async_trait]
pub trait Retention: Send + Sync {
    /// Like [`Driver::ack`] for jobs whose handlers keep something: for each completion whose
    /// lease is current, ends the run, keeps the job as [`JobState::Completed`] when
    /// `keep.completed > 0` (then trims the queue's completed jobs to `keep.completed` and, with
    /// `keep.completed_for`, drops those completed longer ago) and keeps its result for
    /// `keep.result_for`. Returns, per completion, whether its lease was current (nothing is
    /// changed for a stale one). Trimming is bounded per call; a call that leaves excess
    /// behind trims more next time.
    async fn complete(&self, lane: &Lane, done: &[Completion], keep: &Keep) -> Result<Vec<bool>>;

    /// Whether [`complete_and_reserve`](Retention::complete_and_reserve) does both in one step.
    /// When it does, a worker completes its successes with its next reserve, as it acks plain
    /// ones; otherwise it completes them apart, alongside its reserves (two calls in a row
    /// would double the time between reserves). False unless the driver says so.
    fn completes_with_reserve(&self) -> bool {
        false
    }

    /// [`complete`](Retention::complete)s `done`, then reserves like
    /// [`Driver::ack_and_reserve`]: a busy worker's step for handlers that keep something, when
    /// [`completes_with_reserve`](Retention::completes_with_reserve). The default makes the two
    /// calls one after the other (`driver` is the driver this capability belongs to). On an
    /// error the caller cannot tell whether the completions happened; sending them again is
    /// harmless (a stale one reports `false`).
    async fn complete_and_reserve(
        &self,
        driver: &dyn Driver,
        lane: &Lane,
        done: &[Completion],
        keep: &Keep,
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        let held = if done.is_empty() {
            Vec::new()
        } else {
            self.complete(lane, done, keep).await?
        };
        let reservation = driver.reserve(lane, max, lease).await?;
        Ok((held, reservation))
    }

    /// The kept result of job `id` of `queue`, if it has one that has not expired.
    async fn result(&self, queue: &str, id: &JobId) -> Result<Option<Bytes>>;

    /// Removes up to `limit` of `queue`'s jobs in `state` ([`JobState::Completed`] or
    /// [`JobState::Failed`]) that finished more than `older_than` ago, oldest first, with their
    /// results. Returns how many it removed. Other states are refused with
    /// [`Error::InvalidQuery`](crate::Error::InvalidQuery).
    async fn clean(
        &self,
        queue: &str,
        state: JobState,
        older_than: Duration,
        limit: usize,
    ) -> Result<usize>;
}

/// A capped log of job events per queue, kept in storage so that other processes can follow
/// what workers do (`queue events`, [`Queue::follow_events`](crate::Queue::follow_events)). A
/// driver offers it by returning itself from [`Driver::capabilities`]; workers write to it only
/// when asked to ([`Queue::with_event_log`](crate::Queue::with_event_log)).
///
/// # Behavior
///
/// - **Positions.** Every appended event gets a position: an opaque string, increasing within
///   the queue's log, that [`read`](EventLog::read) takes to go on after it. Positions of one
///   queue's log are not meaningful for another queue or another driver.
/// - **Order.** Events are read back in the order they were appended.
/// - **Cap.** After an append, the queue's log holds at most about `max_len` events, the newest;
///   a driver may keep somewhat more (Redis trims whole nodes of its stream) but never lets the
///   log grow without bound. Readers that fall behind the cap miss the trimmed events.
/// - **Blocking reads.** A read with `block` that finds nothing after its position waits until
///   an event is appended to that queue or the time passes, without polling, and without
///   holding up the driver's other calls.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `events` to `queue`'s log, in order, then trims the log to about `max_len`.
    async fn append(&self, queue: &str, events: &[Event], max_len: usize) -> Result<()>;

    /// Up to `limit` events of `queue`'s log after position `after` (from the oldest kept when
    /// `None`), each with its position, oldest first. With `block`, waits up to that long for an
    /// event when there is none yet; an empty answer means none came.
    ///
    /// A position this log could not have made is an
    /// [`Error::InvalidQuery`](crate::Error::InvalidQuery) naming it.
    async fn read(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(String, Event)>>;

    /// The position of the newest event in `queue`'s log, or `None` while it is empty: where a
    /// reader starts to follow only what comes next.
    async fn last_position(&self, queue: &str) -> Result<Option<String>>;
}

/// Queue statistics kept in storage: run totals per job name and per-minute counts of the last
/// [`STATS_MINUTES`](crate::STATS_MINUTES) minutes. Workers add their counts every few seconds
/// (never per job), so a dashboard or the command line reads them without a metrics server. A
/// driver offers it by returning itself from [`Driver::capabilities`]; without it, workers keep
/// no statistics and [`Queue::stats`](crate::Queue::stats) answers
/// [`Error::Unsupported`](crate::Error::Unsupported).
///
/// Minutes are whole minutes since the Unix epoch ([`unix_minute`](crate::unix_minute)) by the
/// caller's clock.
#[async_trait]
pub trait Stats: Send + Sync {
    /// Adds `runs` to the all-time totals of `lane` and to its counts of `minute`, and forgets
    /// the queue's minutes older than the last [`STATS_MINUTES`](crate::STATS_MINUTES) up to
    /// `minute`, so storage holds at most that many minutes per job name. One atomic step.
    async fn record(&self, lane: &Lane, minute: u64, runs: RunCounts) -> Result<()>;

    /// The totals of `queue` per job name, its per-minute counts over the
    /// [`STATS_MINUTES`](crate::STATS_MINUTES) minutes ending at `minute` (oldest first, zero
    /// where nothing was recorded), and when its oldest ready job at a lane's head was created
    /// (reading each lane's heads, never scanning). A queue with no statistics has none.
    async fn history(&self, queue: &str, minute: u64) -> Result<QueueStats>;
}

/// Rate and concurrency limits of a lane, kept in storage so that they hold across every
/// worker, and a lane's pause asked for by a handler ("rate limited, retry after"). A driver
/// offers it by returning itself from [`Driver::capabilities`]; a worker whose handlers declare
/// a limit refuses to start on a driver without it. Lanes without limits never reach it: their
/// workers reserve with [`Driver::ack_and_reserve`] as before, and nothing here costs them.
///
/// # Behavior
///
/// - **Rate.** [`LimitSpec::rate`] counts the starts (jobs leased) of the lane by every worker
///   over a sliding window, by the driver's clock: no window of the rate's length holds more
///   starts than its count. Jobs held back stay ready, in their order, with no attempt spent.
/// - **Concurrency.** [`LimitSpec::concurrency`] bounds the lane's jobs leased at once (after
///   expired leases are reaped, so a killed worker's slots come back when its leases end).
/// - **Pause.** [`postpone`](Limits::postpone) pauses the lane's limited reserves for a while.
/// - **No polling.** When the limits hold jobs back, the reservation's
///   [`next_due`](crate::Reservation::next_due) says when the window frees (or the pause or
///   the earliest lease ends), so a worker sleeps until then.
#[async_trait]
pub trait Limits: Send + Sync {
    /// Like [`Driver::ack_and_reserve`], for a lane with `limits`: acks `done`, reaps and
    /// promotes, then leases at most as many ready jobs as `max`, the rate's window and the
    /// concurrency allow now (none while the lane is paused), recording their starts, in one
    /// atomic step. When that is fewer than `max` while ready jobs wait, `next_due` is at most
    /// the time until a start leaves the window, the pause ends, or the earliest lease ends.
    async fn ack_and_reserve_limited(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)>;

    /// Puts a running job back without spending its attempt, to become ready after `delay`
    /// (at most [`MAX_DELAY`](crate::MAX_DELAY)), and pauses the lane's limited reserves for
    /// `delay` (a later pause end is kept). Returns whether the lease was current (a stale one
    /// changes nothing).
    async fn postpone(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool>;

    /// Wakes one waiting worker of `lane` when ready jobs wait and fewer than
    /// `limits.concurrency` jobs are leased: a worker calls it after settling jobs of a lane
    /// whose concurrency is limited, so that a worker held back by the limit (here or in
    /// another process) takes the freed slot.
    async fn released(&self, lane: &Lane, limits: &LimitSpec) -> Result<()>;
}

/// Recurring jobs: [`Schedule`]s stored per queue (the queue their jobs go to), and the atomic
/// step that fires a tick exactly once however many workers try. A driver offers it by
/// returning itself from [`Driver::capabilities`]; without it, workers fire nothing and
/// [`Queue`](crate::Queue)'s schedule methods answer
/// [`Error::Unsupported`](crate::Error::Unsupported).
///
/// # Behavior
///
/// - **State.** Each schedule has, beside its definition, the time it was first stored, the
///   due time of the last tick fired (none yet at first), when that was, and a pause flag.
///   Replacing a definition keeps all of them.
/// - **Exactly once.** [`fire`](Schedules::fire) is one atomic step: a compare-and-set on the
///   last fired tick that also stores the ticks' jobs. Of many workers firing the same tick,
///   one stores its job and the others are told it was fired; a tick at or before the last
///   fired one never fires (so a later tick fired first wins over an earlier one).
/// - Times are ms since the Unix epoch; the creation and firing times are the driver's clock.
#[async_trait]
pub trait Schedules: Send + Sync {
    /// Stores `schedule` (checked by the caller) in its queue. Without `replace`, only when the
    /// queue has no schedule of that name; with it, in any case, an existing schedule keeping
    /// its state. Returns whether it was stored.
    async fn put_schedule(&self, schedule: &Schedule, replace: bool) -> Result<bool>;

    /// Removes the schedule `name` of `queue` with its state. Returns whether it existed.
    async fn remove_schedule(&self, queue: &str, name: &str) -> Result<bool>;

    /// Pauses or resumes the schedule `name` of `queue`. Returns whether it exists.
    async fn pause_schedule(&self, queue: &str, name: &str, paused: bool) -> Result<bool>;

    /// The schedules of `queue` with their state ([`ScheduleInfo::new`]), by name.
    async fn schedules(&self, queue: &str) -> Result<Vec<ScheduleInfo>>;

    /// Fires ticks of `schedule`: `ticks` are the ticks' due times, ascending, each with its
    /// job (id [`Schedule::job_id`], in the schedule's queue). In one atomic step: when the
    /// stored definition is not `schedule` (removed or replaced) answers [`Fired::Changed`];
    /// when the schedule is paused, [`Fired::Paused`]; otherwise stores the jobs of the ticks
    /// after the last fired tick as [`Driver::enqueue`] would (a job whose id exists is not
    /// stored twice, its tick still counts as fired), and makes the newest of them the last
    /// fired tick.
    async fn fire(&self, schedule: &Schedule, ticks: Vec<(u64, NewJob)>) -> Result<Fired>;
}
/// Unique jobs: dispatches deduplicated by a key per lane, with a lock that ends on its own.
/// A driver offers it in [`Driver::capabilities`]; [`Queue`](crate::Queue) sends every job with
/// a [`JobSpec::unique`](crate::JobSpec::unique) here and every other job to
/// [`Driver::enqueue`], so jobs that are not unique cost nothing for it.
///
/// # Behavior
///
/// - **One lock per key and lane.** A job stored with a unique key holds the lock of its lane
///   (queue and job name) and key, for at most [`Unique::ttl`](crate::Unique::ttl).
/// - **Duplicates.** A dispatch whose key's lock is held by a job in a state the dispatch's
///   [`UniqueMode`](crate::UniqueMode) covers stores nothing and reports the holder's id with
///   `created: false`; in [`UniqueMode::Debounce`](crate::UniqueMode::Debounce) it also
///   replaces the holder's payload, moves its due time to the dispatch's delay from now when
///   the dispatch has a delay, and starts the lock's time again.
/// - **A lock never outlives its job.** A lock whose time ran out, or whose holder no longer
///   exists in a covered state (it started, completed, failed for good, was cancelled, deleted
///   or purged), is free: the next dispatch with the key takes it. Drivers check this when a
///   unique job is dispatched, so reserving and settling jobs does no work for locks.
/// - **Chosen ids.** A unique job with a chosen id ([`NewJob::id`](crate::NewJob::id)) whose
///   lock is free is stored like any job with that id: when the id exists, nothing is stored
///   and the lock is not taken.
#[async_trait]
pub trait UniqueJobs: Send + Sync {
    /// Stores `jobs`, each of which has a [`JobSpec::unique`](crate::JobSpec::unique) with its
    /// key filled in, one after the other, in order, and returns what became of each (see the
    /// trait). Waiting workers are woken as [`Driver::enqueue`] does.
    async fn enqueue_unique(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>>;
}

/// What [`Cancel::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The job was waiting (ready or scheduled, a retry's wait included): it was removed.
    Removed,
    /// The job was running: its lease was revoked and it was moved to the failed list as
    /// [`JobState::Cancelled`]. Its worker finds the lease gone at its next renewal and stops
    /// the run; the run's ack or failure is refused.
    Stopped,
    /// The job had already ended (failed, completed or cancelled): nothing changed.
    Finished,
    /// No such job.
    NotFound,
}

/// Cancelling jobs. A driver offers it in [`Driver::capabilities`]; without it,
/// [`Queue::cancel`](crate::Queue::cancel) answers [`Error::Unsupported`](crate::Error::Unsupported).
///
/// A cancelled job is never retried. A waiting job is removed at once; a running job is taken
/// out of the running jobs with its lease revoked (so [`Driver::renew`], [`Driver::ack`] and
/// [`Driver::fail`] report `false` for it) and kept in its queue's failed list, where lookups
/// report it as [`JobState::Cancelled`] with the error `cancelled`; it can be retried from
/// there, deleted or cleaned like a failed job.
#[async_trait]
pub trait Cancel: Send + Sync {
    /// Cancels job `id` of `queue` (see the trait).
    async fn cancel(&self, queue: &str, id: &JobId) -> Result<CancelOutcome>;
}

/// The error a cancelled job is failed with ([`JobInfo::last_error`]).
pub const CANCELLED_ERROR: &str = "cancelled";
