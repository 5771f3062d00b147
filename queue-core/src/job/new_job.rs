//! A job being dispatched: its names, payload and per-dispatch options.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::id::JobId;
use super::unique::{key_problem, Unique, UniqueMode, DEFAULT_UNIQUE_FOR};

/// The longest delay a job can wait: 100 years of 365 days. Longer dispatch delays and retry
/// delays ([`NewJob::delay`], [`NewJob::run_at`], [`Failure::retry`](crate::Failure::retry), `JobError::retry_after`, a
/// custom backoff) are taken as this one, by every driver, so none overflows its clock: in
/// milliseconds added to today's Unix time it stays far below 2^53, where Redis's scores (double
/// floats) stop being exact.
pub const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// A job or queue name held by a [`NewJob`]: a handler's names are `'static` and cost nothing
/// to hold, other names are shared text.
#[derive(Clone, Debug)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Name::Static(name) => name,
            Name::Shared(name) => name,
        }
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name::Shared(name.into())
    }
}

/// A job ready to be dispatched: built by `my_job::job(payload)` or [`NewJob::named`], adjusted
/// with the builder methods and handed to `Queue::dispatch` or `Queue::dispatch_bulk`.
#[derive(Debug)]
pub struct NewJob {
    pub(crate) name: Name,
    pub(crate) queue: Name,
    pub(crate) payload: Bytes,
    pub(crate) delay: Duration,
    pub(crate) priority: i8,
    pub(crate) max_attempts: u32,
    pub(crate) id: Option<JobId>,
    /// Its uniqueness, if it is unique (an empty key until dispatch fills in the default).
    pub(crate) unique: Option<Box<Unique>>,
    /// Its rate key, for a keyed handler (computed at dispatch, see [`RateKey`](crate::RateKey)).
    pub(crate) key: Option<Box<str>>,
    /// Whether the dispatcher named the queue (needed for jobs without a handler here).
    pub(crate) queue_chosen: bool,
    /// Built by typed dispatch: the payload's type is the handler's, so it needs no decode check.
    pub(crate) typed: bool,
    /// How many shards its lane is split into (1: not sharded), from its handler's
    /// definition; dispatch picks one ([`crate::job::shard_queue`]).
    pub(crate) shards: u16,
    /// The fingerprint of the key that picks its shard ([`NewJob::shard_key`]), if given.
    pub(crate) shard_key: Option<u128>,
    /// Set when building failed; reported when the job is dispatched.
    pub(crate) error: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl NewJob {
    /// Runs the job no earlier than `delay` from now; a delay over [`MAX_DELAY`] is taken as
    /// [`MAX_DELAY`].
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay.min(MAX_DELAY);
        self
    }

    /// Runs the job no earlier than `at` (now if `at` has passed, [`MAX_DELAY`] from now if `at`
    /// is further away).
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.delay = at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .min(MAX_DELAY);
        self
    }

    /// Sets the priority: higher runs first, 0 is the default, negative runs after default jobs.
    pub fn priority(mut self, priority: i8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets how many times the job may run before it is moved to the failed list (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Chooses the job's id. A second job dispatched with an id that still exists in the queue is
    /// not stored again: the dispatch reports it as a duplicate.
    pub fn id(mut self, id: impl Into<JobId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Makes the job unique under `key` in its lane (queue and job name): while a job holding
    /// the key is waiting (or, with [`UniqueMode::UntilFinished`], until it finishes), a
    /// dispatch with the same key stores nothing and reports the waiting job's id with
    /// `created: false`. The lock lasts the handler's `unique_for`, or
    /// [`DEFAULT_UNIQUE_FOR`]; see [`UniqueMode`] for what it covers.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if let Some(reason) = key_problem(&key) {
            self.error = Some(Box::new(crate::Error::InvalidName {
                what: "unique key",
                value: key.chars().take(80).collect(),
                reason,
            }));
            return self;
        }
        self.unique_mut().key = key;
        self
    }

    /// Makes the job unique for at most `ttl` (its lock ends then, whatever the job's state),
    /// under the key given to [`NewJob::unique`] or, without one, its job name and a hash of
    /// its payload.
    pub fn unique_for(mut self, ttl: Duration) -> Self {
        self.unique_mut().ttl = ttl;
        self
    }

    /// Sets what the job's uniqueness covers ([`UniqueMode`]); makes it unique under its
    /// default key if nothing else did.
    pub fn unique_mode(mut self, mode: UniqueMode) -> Self {
        self.unique_mut().mode = mode;
        self
    }

    /// Sets the job's rate key, in place of the one its handler's `rate_key` computes: a keyed
    /// handler's limits hold per key, and its lane serves keys round robin. A key is 1 to
    /// [`MAX_RATE_KEY_LEN`](crate::MAX_RATE_KEY_LEN) bytes without NUL; another is refused at
    /// dispatch with [`Error::InvalidRateKey`](crate::Error::InvalidRateKey).
    pub fn rate_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if let Err(reason) = super::check_key(&key) {
            self.error = Some(Box::new(crate::Error::InvalidRateKey {
                job: self.name.to_string(),
                reason,
            }));
            return self;
        }
        self.key = Some(key.into_boxed_str());
        self
    }

    fn unique_mut(&mut self) -> &mut Unique {
        self.unique.get_or_insert_with(|| {
            Box::new(Unique::new(
                String::new(),
                DEFAULT_UNIQUE_FOR,
                UniqueMode::default(),
            ))
        })
    }

    /// Sends the job to another queue than its handler's default. It runs where a worker
    /// serves that queue for its handler ([`WorkerBuilder::queues`](crate::WorkerBuilder::queues)).
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.into();
        self.queue_chosen = true;
        self
    }

    /// Picks the job's shard by `key` when its handler's lane is split into shards
    /// (`#[job(shards = n)]`, [`Queue::shard`](crate::Queue::shard)): jobs with the same key
    /// go to the same shard, so they keep their dispatch order among themselves. Without a
    /// key, a sharded job goes to the shard its unique key or chosen id picks, else to the
    /// next shard in turn. Ignored for unsharded lanes.
    pub fn shard_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.shard_key = Some(crate::hash::fingerprint(key.as_ref()));
        self
    }

    /// What the job says about itself, for storage to record: each field is named after the
    /// builder method that sets it.
    pub fn spec(&self) -> JobSpec<'_> {
        JobSpec {
            name: &self.name,
            queue: &self.queue,
            payload: &self.payload,
            delay: self.delay,
            priority: self.priority,
            attempts: self.max_attempts,
            id: self.id.as_ref(),
            unique: self.unique.as_deref(),
            key: self.key.as_deref(),
        }
    }
}

/// A [`NewJob`] as read by a driver ([`NewJob::spec`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct JobSpec<'a> {
    /// The job name (its handler's).
    pub name: &'a str,
    /// The queue the job goes to ([`NewJob::queue`]).
    pub queue: &'a str,
    /// The serialized payload.
    pub payload: &'a Bytes,
    /// How long after dispatch the job becomes ready ([`NewJob::delay`], [`NewJob::run_at`]).
    pub delay: Duration,
    /// The priority ([`NewJob::priority`]).
    pub priority: i8,
    /// How many runs the job gets ([`NewJob::attempts`]).
    pub attempts: u32,
    /// The id the dispatcher chose ([`NewJob::id`]), if any.
    pub id: Option<&'a JobId>,
    /// Its uniqueness ([`NewJob::unique`]), if any, with its key filled in. Jobs with one are
    /// dispatched through [`UniqueJobs`](crate::UniqueJobs), never through
    /// [`Driver::enqueue`](crate::Driver::enqueue).
    pub unique: Option<&'a Unique>,
    /// Its rate key ([`NewJob::rate_key`]), for a keyed handler. Jobs with one are dispatched
    /// through [`KeyedLimits`](crate::KeyedLimits), never through
    /// [`Driver::enqueue`](crate::Driver::enqueue).
    pub key: Option<&'a str>,
}
