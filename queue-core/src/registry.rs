//! Handlers registered by `#[job]`, collected at link time with `inventory`.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::backoff::Backoff;
use crate::context::{JobContext, Requirement, State};
use crate::error::{Error, JobError};
use crate::hash::IdHashMap;
use crate::job::{Keep, LimitSpec, Name, NewJob, Rate, RateKey, Unique, UniqueDefault, UniqueMode};
use crate::schedule::{CronSpec, Missed};

/// The queue used when a handler names none.
pub const DEFAULT_QUEUE: &str = "default";

/// Completed jobs kept in a queue by a handler that keeps them for an age
/// (`keep_completed_for`) without naming a count: a bound on the storage they take.
pub const DEFAULT_KEPT_COMPLETED: usize = 100_000;
/// Handler concurrency when a handler names none.
pub const DEFAULT_CONCURRENCY: usize = 10;
/// Attempts when a handler names none.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// A job handler's name and options, as written in `#[job(...)]`.
///
/// Built in constant context by the macro: `JobDefinition::new(name, path).queue("mail")...`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct JobDefinition {
    /// The job name jobs are dispatched under.
    pub name: &'static str,
    /// Where the handler is defined: `module::path::function`.
    pub handler: &'static str,
    /// The queue its jobs go to by default.
    pub queue: &'static str,
    /// How many of its jobs one worker runs at once.
    pub concurrency: usize,
    /// Runs allowed per job, retries included.
    pub attempts: u32,
    /// Delay policy between attempts.
    pub backoff: Backoff,
    /// Longest a run may take before it is cancelled and counted as failed.
    pub timeout: Option<Duration>,
    /// Default priority of its jobs.
    pub priority: i8,
    /// What storage keeps of its jobs that succeed (nothing by default).
    pub keep: Keep,
    /// Its start rate and jobs running at once across every worker (none by default).
    pub limits: LimitSpec,
    /// Its schedule, when it runs on one (`#[job(cron = "...")]`).
    pub cron: Option<CronSpec>,
    /// Whether its jobs are unique by default (`unique_for`, `unique_mode`), under the job
    /// name and a hash of the payload unless a dispatch gives a key.
    pub unique: Option<UniqueDefault>,
    /// How its jobs get their rate key (`#[job(rate_key = ..)]`): its limits then hold per
    /// key, and its lane serves keys round robin.
    pub rate_key: Option<RateKey>,
    /// How many shards its lane is split into, each a storage queue of its own (1: not
    /// sharded; see [`shard_queue`](crate::shard_queue)).
    pub shards: u16,
}

impl JobDefinition {
    /// A definition with every option at its default.
    pub const fn new(name: &'static str, handler: &'static str) -> Self {
        Self {
            name,
            handler,
            queue: DEFAULT_QUEUE,
            concurrency: DEFAULT_CONCURRENCY,
            attempts: DEFAULT_ATTEMPTS,
            backoff: Backoff::DEFAULT,
            timeout: None,
            priority: 0,
            keep: Keep {
                completed: 0,
                completed_for: None,
                result_for: None,
            },
            limits: LimitSpec::NONE,
            cron: None,
            unique: None,
            rate_key: None,
            shards: 1,
        }
    }

    /// Splits the handler's lane into `count` shards (`#[job(shards = ..)]`), from 1 (not
    /// sharded) to [`MAX_SHARDS`](crate::MAX_SHARDS); checked by `#[job]`.
    pub const fn shards(mut self, count: u16) -> Self {
        self.shards = count;
        self
    }

    /// Runs the handler on a schedule: `expr` read in the time zone `tz`, missed ticks handled
    /// by `missed`. Checked by `#[job]`; a worker serving the handler stores it as the schedule
    /// named after the job in each queue it serves for it.
    pub const fn cron(mut self, expr: &'static str, tz: &'static str, missed: Missed) -> Self {
        self.cron = Some(CronSpec::new(expr, tz, missed));
        self
    }

    /// Sets the default queue.
    pub const fn queue(mut self, queue: &'static str) -> Self {
        self.queue = queue;
        self
    }

    /// Sets the per-worker concurrency.
    pub const fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets the number of attempts.
    pub const fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts;
        self
    }

    /// Sets the backoff policy.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the run timeout.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the default priority.
    pub const fn priority(mut self, priority: i8) -> Self {
        self.priority = priority;
        self
    }

    /// Keeps up to `count` completed jobs in the queue.
    pub const fn keep_completed(mut self, count: usize) -> Self {
        self.keep.completed = count;
        self
    }

    /// Keeps completed jobs for `age` (with a count from [`keep_completed`](Self::keep_completed),
    /// or up to [`DEFAULT_KEPT_COMPLETED`] when none was given).
    pub const fn keep_completed_for(mut self, age: Duration) -> Self {
        if self.keep.completed == 0 {
            self.keep.completed = DEFAULT_KEPT_COMPLETED;
        }
        self.keep.completed_for = Some(age);
        self
    }

    /// Makes its jobs unique for `ttl` by default ([`NewJob::unique_for`]).
    pub const fn unique_for(mut self, ttl: Duration) -> Self {
        let mode = match self.unique {
            Some(unique) => unique.mode,
            None => UniqueMode::UntilStarted,
        };
        self.unique = Some(UniqueDefault { ttl, mode });
        self
    }

    /// Sets what its jobs' uniqueness covers ([`NewJob::unique_mode`]); with no `unique_for`,
    /// the lock lasts [`DEFAULT_UNIQUE_FOR`](crate::DEFAULT_UNIQUE_FOR).
    pub const fn unique_mode(mut self, mode: UniqueMode) -> Self {
        let ttl = match self.unique {
            Some(unique) => unique.ttl,
            None => crate::job::DEFAULT_UNIQUE_FOR,
        };
        self.unique = Some(UniqueDefault { ttl, mode });
        self
    }

    /// Keeps the handler's `Ok` value for `ttl`, readable with `Queue::result`.
    pub const fn keep_result(mut self, ttl: Duration) -> Self {
        self.keep.result_for = Some(ttl);
        self
    }

    /// Starts at most `count` jobs in any window of `per`, across every worker. A zero count
    /// or window is refused when a worker starts (`Error::InvalidLimit`).
    pub const fn rate(mut self, count: u32, per: Duration) -> Self {
        self.limits.rate = Some(Rate::unchecked(count, per));
        self
    }

    /// Takes each job's rate key from `key`: the rate and the concurrency then hold per key,
    /// and the lane serves its keys round robin.
    pub const fn rate_key(mut self, key: RateKey) -> Self {
        self.rate_key = Some(key);
        self.limits.keyed = true;
        self
    }

    /// Runs at most `max` jobs at once across every worker. Zero is refused when a worker
    /// starts.
    pub const fn global_concurrency(mut self, max: u32) -> Self {
        self.limits.concurrency = Some(max);
        self
    }
}

/// The type-erased entry point of a handler: decode the payload, gather arguments, run.
/// Its output is the handler's `Ok` value as JSON when the handler keeps results
/// ([`Keep::result_for`]), else `None`.
pub type HandlerFn =
    fn(&[u8], JobContext, &State) -> BoxFuture<'static, Result<Option<Bytes>, JobError>>;

/// One `#[job]` handler, submitted to `inventory` by the macro expansion.
#[derive(Debug)]
pub struct Registration {
    /// Name and options.
    pub definition: &'static JobDefinition,
    /// The handler.
    pub handler: HandlerFn,
    /// The state types its arguments need.
    pub requirements: fn() -> Vec<Requirement>,
    /// Checks that a JSON payload decodes as the handler's payload type.
    pub check_payload: fn(&[u8]) -> Result<(), serde_json::Error>,
}

inventory::collect!(Registration);

/// Every handler linked into the program, by name. Duplicate names are kept aside so
/// [`registry`]'s users can report them.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) by_name: IdHashMap<&'static str, &'static Registration>,
    pub(crate) duplicates: Vec<(&'static Registration, &'static Registration)>,
}

impl Registry {
    fn collect() -> Self {
        let mut by_name: IdHashMap<&'static str, &'static Registration> = IdHashMap::default();
        let mut duplicates = Vec::new();
        let mut all: Vec<&'static Registration> =
            inventory::iter::<Registration>.into_iter().collect();
        // inventory's order depends on link order; sort so reports are stable.
        all.sort_by_key(|r| (r.definition.name, r.definition.handler));
        for reg in all {
            match by_name.get(reg.definition.name) {
                Some(first) => duplicates.push((*first, reg)),
                None => {
                    by_name.insert(reg.definition.name, reg);
                }
            }
        }
        Self {
            by_name,
            duplicates,
        }
    }

    /// The error for the first duplicated name, if any.
    pub(crate) fn check_duplicates(&self) -> Result<(), Error> {
        match self.duplicates.first() {
            Some((first, second)) => Err(Error::DuplicateJob {
                name: first.definition.name.to_string(),
                first: first.definition.handler.to_string(),
                second: second.definition.handler.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// The program's registry, collected once.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::collect)
}

/// The definition of the handler named `name`, if one is linked in.
pub(crate) fn find(name: &str) -> Option<&'static JobDefinition> {
    registry().by_name.get(name).map(|r| r.definition)
}

/// Definitions of every handler linked into the program, sorted by name.
pub fn definitions() -> Vec<&'static JobDefinition> {
    let mut defs: Vec<_> = registry().by_name.values().map(|r| r.definition).collect();
    defs.sort_by_key(|d| d.name);
    defs
}

/// Jobs built from the registry: a job named after a handler takes that handler's defaults.
impl NewJob {
    /// A job for the handler named `name` with a payload already encoded as JSON.
    ///
    /// When the handler is linked into this program, its queue, attempts and priority are the
    /// defaults; otherwise the job goes to the `default` queue with 3 attempts unless
    /// [`NewJob::queue`] says where. Prefer the typed `my_job::job(payload)` where the handler is
    /// known at compile time.
    pub fn named(name: &str, payload: impl Into<Bytes>) -> Self {
        let payload = payload.into();
        match find(name) {
            Some(def) => Self::for_definition(def, payload),
            None => NewJob {
                name: name.into(),
                queue: "default".into(),
                payload,
                delay: Duration::ZERO,
                priority: 0,
                max_attempts: 3,
                id: None,
                unique: None,
                key: None,
                queue_chosen: false,
                typed: false,
                shards: 1,
                shard_key: None,
                error: None,
            },
        }
    }

    pub(crate) fn for_definition(def: &JobDefinition, payload: Bytes) -> Self {
        let mut key = None;
        let mut error = None;
        if let Some(rate_key) = &def.rate_key {
            match rate_key.key_of(&payload) {
                Ok(k) => key = Some(k.into_boxed_str()),
                Err(reason) => {
                    error = Some(Box::new(Error::InvalidRateKey {
                        job: def.name.to_string(),
                        reason,
                    })
                        as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        }
        NewJob {
            name: Name::Static(def.name),
            queue: Name::Static(def.queue),
            payload,
            delay: Duration::ZERO,
            priority: def.priority,
            max_attempts: def.attempts,
            id: None,
            unique: def
                .unique
                .map(|u| Box::new(Unique::new(String::new(), u.ttl, u.mode))),
            key,
            queue_chosen: false,
            typed: false,
            shards: def.shards,
            shard_key: None,
            error,
        }
    }

    pub(crate) fn failed(name: &str, error: Error) -> Self {
        let mut job = Self::named(name, Bytes::new());
        job.error = Some(Box::new(error));
        job
    }
}
