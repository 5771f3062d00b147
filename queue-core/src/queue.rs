//! The handle applications use: connect, dispatch and inspect. Workers are started from it
//! too (`Queue::worker`, defined with the worker, which sits above this module).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use serde::Serialize;
use tracing::Instrument;

use crate::driver::{Admin, Driver, Presence};
use crate::error::{Error, Result};
use crate::job::{validate_name, Dispatched, JobId, Lane, Name, NewJob};
use crate::observe::events::{Events, DEFAULT_EVENT_BUFFER};
use crate::observe::Observer;
use crate::presence::{Unserved, WorkerPresence};
use crate::sharding::Sharding;

/// The environment variable [`Queue::from_env`] reads.
pub const URL_ENV: &str = "QUEUE_URL";

/// Default limit on a payload's size: 512 KiB.
pub const DEFAULT_MAX_PAYLOAD: usize = 512 * 1024;

/// A connection to job storage: dispatch jobs, inspect queues, start workers.
///
/// Cheap to clone; clones share the driver.
#[derive(Clone, Debug)]
pub struct Queue {
    driver: Arc<dyn Driver>,
    max_payload: usize,
    /// Where this queue's dispatches and its workers' runs are reported.
    pub(crate) observer: Observer,
    /// Shard counts given to this handle, and round-robin dispatch over shards.
    pub(crate) sharding: Arc<Sharding>,
}

impl Queue {
    /// A queue over an existing driver.
    pub fn new(driver: Arc<dyn Driver>) -> Self {
        Self {
            driver,
            max_payload: DEFAULT_MAX_PAYLOAD,
            observer: Observer::new(DEFAULT_EVENT_BUFFER),
            sharding: Arc::default(),
        }
    }

    /// Splits job `job`'s lanes into `count` shards (1 to [`MAX_SHARDS`](crate::MAX_SHARDS)),
    /// overriding its handler's `#[job(shards = ..)]`, for this handle's dispatches and the
    /// workers built from it: the same as declaring it on the handler, for jobs handled by
    /// other programs or sharded by configuration. Every dispatcher and worker of the job must
    /// use the same count (see the README's "Sharded lanes").
    pub fn shard(mut self, job: &str, count: u16) -> Result<Self> {
        self.sharding = Arc::new(self.sharding.with(job, count)?);
        Ok(self)
    }

    /// Connects to the storage named by `url`: `memory://`, `redis://host:6379/0`,
    /// `rediss://user:password@host`, `rediss+cluster://user:password@host1:7000,host2:7000/`,
    /// `rediss+sentinel://user:password@s1:26379,s2:26379/mymaster/0?tls_ca_file=/path/ca.pem`,
    /// ... (see each driver's documentation for its URL forms).
    ///
    /// The driver for the URL's scheme must be linked into the program: depend on its crate
    /// (`queue-memory`, `queue-redis`) and name it once, e.g. `use queue_redis as _;`.
    pub async fn connect(url: &str) -> Result<Self> {
        let scheme = match url.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() => scheme,
            _ => {
                return Err(Error::InvalidUrl {
                    url: redact_url(url),
                    reason: "expected `scheme://...`, e.g. `memory://` or `redis://127.0.0.1:6379`"
                        .into(),
                })
            }
        };
        let factory = inventory::iter::<DriverFactory>
            .into_iter()
            .find(|f| f.schemes.contains(&scheme))
            .ok_or_else(|| Error::InvalidUrl {
                url: redact_url(url),
                reason: format!(
                    "no driver for `{scheme}://` URLs is linked into this program; depend on \
                     the driver's crate and name it once, e.g. `use queue_redis as _;`"
                ),
            })?;
        let driver = (factory.connect)(url.to_string()).await?;
        Ok(Self::new(driver))
    }

    /// Connects to the URL in `QUEUE_URL`, or to `memory://` when it is unset.
    pub async fn from_env() -> Result<Self> {
        let url = std::env::var(URL_ENV).unwrap_or_else(|_| "memory://".to_string());
        Self::connect(&url).await
    }

    /// Sets the largest payload, in bytes, that dispatch accepts (default 512 KiB).
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Records metrics through the `metrics` facade for this queue's dispatches and for the
    /// workers started from it afterwards (see [`observe::metrics`](crate::observe::metrics) for
    /// the names): install a recorder (e.g. `metrics-exporter-prometheus`) first. Off by default,
    /// so a program without metrics pays nothing for them.
    pub fn with_metrics(mut self) -> Self {
        self.observer.metrics = true;
        self
    }

    /// Sets how many sends a subscriber of [`Queue::events`] may fall behind before it loses
    /// the oldest (default [`DEFAULT_EVENT_BUFFER`]); a send carries the events of one dispatch,
    /// or of the runs of one reservation that ended together, and losses are counted in events. Subscriptions made before keep the old
    /// buffer and stop receiving this queue's events.
    pub fn with_event_buffer(mut self, events: usize) -> Self {
        let metrics = self.observer.metrics;
        let event_log = self.observer.event_log.as_ref().map(|log| log.max_len());
        self.observer = Observer::new(events);
        self.observer.metrics = metrics;
        if let Some(max_len) = event_log {
            self.observer.publish_to(&self.driver, max_len);
        }
        self
    }

    /// Subscribes to what happens to jobs in this process: dispatches through this queue (and
    /// its clones), and runs of the workers started from it. See [`EventKind`](crate::EventKind).
    /// While nobody subscribes, no event is made.
    pub fn events(&self) -> Events {
        self.observer.bus.subscribe()
    }

    /// The driver underneath.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.driver
    }

    /// The driver's inspection and administration, or an error saying it has none.
    pub(crate) fn admin(&self) -> Result<&dyn Admin> {
        self.driver.admin().ok_or_else(|| Error::Unsupported {
            capability: "inspection and administration",
            driver: format!("{:?}", self.driver),
        })
    }

    /// The driver's records of live workers, or an error saying it keeps none.
    fn presence(&self) -> Result<&dyn Presence> {
        self.driver.presence().ok_or_else(|| Error::Unsupported {
            capability: "worker presence",
            driver: format!("{:?}", self.driver),
        })
    }

    /// Dispatches a job built with `my_job::job(payload)` or [`NewJob::named`]. Await the
    /// result; adjust it first with the builder methods (`.delay(..)`, `.priority(..)`...).
    pub fn dispatch(&self, job: NewJob) -> Dispatch<'_> {
        Dispatch { queue: self, job }
    }

    /// Dispatches a job by name with a JSON-serializable payload, for code that does not know
    /// the handler's types.
    ///
    /// When a handler of that name is linked into this program, its options are the defaults and
    /// the payload must decode as its payload type, or the dispatch fails naming the serde error.
    /// Otherwise the dispatch fails with [`Error::UnknownJob`] unless `.queue(..)` names where
    /// the job goes (for jobs handled by other programs).
    pub fn dispatch_named(&self, name: &str, payload: impl Serialize) -> Dispatch<'_> {
        let job = match crate::__private::encode(&payload) {
            Ok(bytes) => NewJob::named(name, bytes),
            Err(source) => NewJob::failed(
                name,
                Error::Serialize {
                    job: name.to_string(),
                    source,
                },
            ),
        };
        self.dispatch(job)
    }

    /// Dispatches many jobs in as few storage round trips as the driver can.
    /// Fails as a whole, storing nothing, if any job is invalid.
    ///
    /// A driver may store a large dispatch in several steps. If storage fails after some of
    /// them, the error is [`Error::PartlyStored`]: it lists the jobs stored and hands back the
    /// others, so a retry sends only those. Jobs given an id with [`NewJob::id`] are never
    /// stored twice, which makes retrying a dispatch whose outcome is unknown (a timeout) safe.
    pub async fn dispatch_bulk(
        &self,
        jobs: impl IntoIterator<Item = NewJob>,
    ) -> Result<Vec<Dispatched>> {
        let jobs: Vec<NewJob> = jobs.into_iter().collect();
        let span = tracing::debug_span!("dispatch_bulk", jobs = jobs.len());
        self.store_bulk(jobs).instrument(span).await
    }

    async fn store_bulk(&self, mut jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        for job in &mut jobs {
            self.check(job)?;
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        #[cfg(feature = "otel")]
        crate::observe::otel::carry_context(&mut jobs);
        if !self.observer.watches_dispatch() {
            return self.enqueue(jobs).await;
        }
        let lanes: Vec<(Name, Name)> = jobs
            .iter()
            .map(|job| (job.queue.clone(), job.name.clone()))
            .collect();
        let stored = self.enqueue(jobs).await?;
        self.observer.dispatched(&lanes, &stored);
        Ok(stored)
    }

    /// Stores checked jobs: unique ones through the driver's [`UniqueJobs`], keyed ones
    /// through its [`KeyedLimits`](crate::KeyedLimits), the others through
    /// [`Driver::enqueue`], in dispatch order.
    async fn enqueue(&self, mut jobs: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        if jobs
            .iter()
            .all(|job| job.unique.is_none() && job.key.is_none())
        {
            return self.driver.enqueue(jobs).await;
        }
        // Runs of unique, keyed and other jobs, each stored in one call, in order. A run that
        // fails after others were stored ends the dispatch with what was stored and the jobs of
        // the runs not sent (those of the failed run are handed back only when its driver did).
        let mut stored = Vec::with_capacity(jobs.len());
        while !jobs.is_empty() {
            let kind = Route::of(&jobs[0]);
            let run = jobs
                .iter()
                .position(|job| Route::of(job) != kind)
                .unwrap_or(jobs.len());
            let rest = jobs.split_off(run);
            let batch = std::mem::replace(&mut jobs, rest);
            let done = match kind {
                Route::Unique => match self.driver.unique() {
                    Some(unique) => unique.enqueue_unique(batch).await,
                    None => Err(Error::Unsupported {
                        capability: "unique jobs",
                        driver: format!("{:?}", self.driver),
                    }),
                },
                Route::Keyed => match self.driver.keyed_limits() {
                    Some(keyed) => keyed.enqueue_keyed(batch).await,
                    None => Err(Error::Unsupported {
                        capability: "limits per rate key",
                        driver: format!("{:?}", self.driver),
                    }),
                },
                Route::Plain => self.driver.enqueue(batch).await,
            };
            let offset = stored.len();
            let error = match done {
                Ok(done) => {
                    stored.extend(done);
                    continue;
                }
                Err(error) if offset == 0 && jobs.is_empty() => return Err(error),
                Err(error) => error,
            };
            let mut done: Vec<(usize, Dispatched)> = stored.into_iter().enumerate().collect();
            let (mut not_stored, source) = match error {
                Error::PartlyStored {
                    stored: more,
                    not_stored,
                    source,
                } => {
                    done.extend(more.into_iter().map(|(i, d)| (offset + i, d)));
                    let back = not_stored.into_iter().map(|(i, j)| (offset + i, j));
                    (back.collect::<Vec<_>>(), source)
                }
                other => (Vec::new(), Box::new(other)),
            };
            let next = offset + run;
            not_stored.extend(jobs.into_iter().enumerate().map(|(i, j)| (next + i, j)));
            return Err(Error::PartlyStored {
                stored: done,
                not_stored,
                source,
            });
        }
        Ok(stored)
    }

    /// Checks a job as dispatch does (for workflow steps).
    pub(crate) fn check_job(&self, job: &mut NewJob) -> Result<()> {
        self.check(job)
    }

    fn check(&self, job: &mut NewJob) -> Result<()> {
        job.check(self.max_payload)?;
        if job.unique.is_some() && job.key.is_some() {
            return Err(Error::InvalidRateKey {
                job: job.name.to_string(),
                reason: "a job with a rate key cannot be unique too (not supported yet)".into(),
            });
        }
        if let Some(unique) = &mut job.unique {
            if unique.key.is_empty() {
                unique.key = crate::job::default_key(&job.name, &job.payload);
            }
        }
        self.sharding.count_job(job);
        if job.shards > 1 {
            self.sharding.route(job)?;
        }
        if job.typed {
            // Typed dispatch: the handler is linked in and the compiler checked the payload's
            // type, so the registry has nothing to add.
            return Ok(());
        }
        match crate::registry::registry().by_name.get(&*job.name) {
            Some(registration) => {
                (registration.check_payload)(&job.payload).map_err(|source| Error::InvalidPayload {
                    job: job.name.to_string(),
                    handler: registration.definition.handler,
                    source,
                })
            }
            None if job.queue_chosen => Ok(()),
            None => Err(Error::UnknownJob {
                name: job.name.to_string(),
            }),
        }
    }

    /// The workers alive now (their last heartbeat has not expired), with the lanes they serve.
    pub async fn workers(&self) -> Result<Vec<WorkerPresence>> {
        self.presence()?.workers().await
    }

    /// Lanes holding ready or scheduled jobs that no live worker serves: jobs dispatched under a
    /// name no running worker has a handler for, or to a queue no worker serves for it. They
    /// wait until such a worker starts.
    pub async fn unserved(&self) -> Result<Vec<Unserved>> {
        let served: std::collections::HashSet<Lane> = self
            .presence()?
            .workers()
            .await?
            .into_iter()
            .flat_map(|worker| worker.lanes)
            .collect();
        let mut unserved = Vec::new();
        for queue in self.admin()?.queues().await? {
            for (job, counts) in self.admin()?.lane_counts(&queue).await? {
                if counts.ready + counts.scheduled == 0 {
                    continue;
                }
                // A name stored by another program may not be a valid lane here; it is
                // unserved all the same, but has no lane to report.
                let Ok(lane) = Lane::new(&queue, &job) else {
                    continue;
                };
                if !served.contains(&lane) {
                    unserved.push(Unserved { lane, counts });
                }
            }
        }
        Ok(unserved)
    }
}

/// A dispatch in the making: set options, then `.await` it.
#[must_use = "a dispatch does nothing until it is awaited"]
#[derive(Debug)]
pub struct Dispatch<'q> {
    queue: &'q Queue,
    job: NewJob,
}

impl Dispatch<'_> {
    /// Runs the job no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.job = self.job.delay(delay);
        self
    }

    /// Runs the job no earlier than `at`.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.job = self.job.run_at(at);
        self
    }

    /// Sets the priority: higher runs first.
    pub fn priority(mut self, priority: i8) -> Self {
        self.job = self.job.priority(priority);
        self
    }

    /// Sets how many times the job may run.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.job = self.job.attempts(attempts);
        self
    }

    /// Chooses the job's id; a job with this id that still exists is not stored twice, so
    /// dispatching it again after an error (a timeout, say) cannot store it twice.
    pub fn id(mut self, id: impl Into<JobId>) -> Self {
        self.job = self.job.id(id);
        self
    }

    /// Picks the job's shard by `key`, for a lane split into shards ([`NewJob::shard_key`]).
    pub fn shard_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.job = self.job.shard_key(key);
        self
    }

    /// Sends the job to another queue. It runs where a worker serves that queue for its
    /// handler ([`WorkerBuilder::queues`](crate::WorkerBuilder::queues)).
    pub fn queue(mut self, queue: &str) -> Self {
        self.job = self.job.queue(queue);
        self
    }

    /// Makes the job unique under `key` in its lane ([`NewJob::unique`]): a duplicate reports
    /// the waiting job's id with `created: false`.
    pub fn unique(mut self, key: impl Into<String>) -> Self {
        self.job = self.job.unique(key);
        self
    }

    /// Makes the job unique for at most `ttl` ([`NewJob::unique_for`]).
    pub fn unique_for(mut self, ttl: Duration) -> Self {
        self.job = self.job.unique_for(ttl);
        self
    }

    /// Sets what the job's uniqueness covers ([`NewJob::unique_mode`]).
    pub fn unique_mode(mut self, mode: crate::job::UniqueMode) -> Self {
        self.job = self.job.unique_mode(mode);
        self
    }
}

impl<'q> IntoFuture for Dispatch<'q> {
    type Output = Result<Dispatched>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Dispatched>> + Send + 'q>>;

    fn into_future(self) -> Self::IntoFuture {
        let Dispatch { queue, mut job } = self;
        let span = tracing::debug_span!("dispatch", name = &*job.name, queue = &*job.queue);
        let dispatch = async move {
            queue.check(&mut job)?;
            #[cfg(feature = "otel")]
            crate::observe::otel::carry_context(std::slice::from_mut(&mut job));
            let lane = queue
                .observer
                .watches_dispatch()
                .then(|| [(job.queue.clone(), job.name.clone())]);
            let mut stored = if job.unique.is_some() || job.key.is_some() {
                queue.enqueue(vec![job]).await?
            } else {
                queue.driver.enqueue(vec![job]).await?
            };
            if let Some(lane) = lane {
                queue.observer.dispatched(&lane, &stored);
            }
            stored
                .pop()
                .ok_or_else(|| Error::storage("driver returned no result for an enqueued job"))
        };
        Box::pin(dispatch.instrument(span))
    }
}

/// How a driver connects to a URL, for [`DriverFactory`].
pub type ConnectFn = fn(String) -> BoxFuture<'static, Result<Arc<dyn Driver>>>;

/// A driver's entry for [`Queue::connect`]: the URL schemes it serves and how to connect.
///
/// Driver crates submit one with [`register_driver!`](crate::register_driver).
#[derive(Debug)]
pub struct DriverFactory {
    /// URL schemes, without `://`.
    pub schemes: &'static [&'static str],
    /// Connects to a URL of one of those schemes.
    pub connect: ConnectFn,
}

inventory::collect!(DriverFactory);

/// Registers a driver for URL schemes, so [`Queue::connect`] finds it:
/// `queue_core::register_driver!(["redis", "rediss"], connect)` where
/// `fn connect(url: String) -> BoxFuture<'static, Result<Arc<dyn Driver>>>`.
#[macro_export]
macro_rules! register_driver {
    ([$($scheme:literal),+ $(,)?], $connect:path) => {
        $crate::__private::inventory::submit! {
            $crate::DriverFactory { schemes: &[$($scheme),+], connect: $connect }
        }
    };
}

/// The URL with its password, if any, replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The credentials end at the last `@`: a password typed unencoded may hold `/`, `?`, `#`
    // or `@`, and masking too much is harmless where masking too little is not.
    let Some((userinfo, host_and_tail)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    let tail_start = host_and_tail
        .find(['/', '?', '#'])
        .unwrap_or(host_and_tail.len());
    let (host, tail) = host_and_tail.split_at(tail_start);
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    if userinfo.contains(':') {
        format!("{scheme}://{user}:***@{host}{tail}")
    } else if user.is_empty() {
        format!("{scheme}://{host}{tail}")
    } else {
        // `redis://password@host` form: the only part is the password.
        format!("{scheme}://***@{host}{tail}")
    }
}

/// Which storage call a job is dispatched through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Plain,
    Unique,
    Keyed,
}

impl Route {
    fn of(job: &NewJob) -> Self {
        if job.unique.is_some() {
            Route::Unique
        } else if job.key.is_some() {
            Route::Keyed
        } else {
            Route::Plain
        }
    }
}

/// The checks a job passes before it is stored, and its lane; here rather than with the job
/// model because they answer with this crate's errors.
impl NewJob {
    /// The job's lane.
    pub fn lane(&self) -> Result<Lane> {
        Lane::new(&self.queue, &self.name)
    }

    /// Checks the job before it is stored: a build error, names, id and payload size.
    pub(crate) fn check(&mut self, max_payload: usize) -> Result<()> {
        if let Some(error) = self.error.take() {
            // Only this crate sets it, always to one of its own errors.
            return Err(match error.downcast::<Error>() {
                Ok(error) => *error,
                Err(other) => Error::storage(other),
            });
        }
        // A handler's own names were checked by `#[job]` at compile time.
        if !(self.typed && matches!(self.queue, Name::Static(_))) {
            validate_name("queue name", &self.queue)?;
        }
        if !(self.typed && matches!(self.name, Name::Static(_))) {
            validate_name("job name", &self.name)?;
        }
        if let Some(id) = &self.id {
            validate_name("job id", id.as_str())?;
            if crate::flow::is_step_id(id) {
                return Err(Error::InvalidName {
                    what: "job id",
                    value: id.to_string(),
                    reason: "ids opening with `@wf:` are kept for workflow steps",
                });
            }
            if id.as_str().bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::InvalidName {
                    what: "job id",
                    value: id.to_string(),
                    reason: "a chosen id must contain a character that is not a digit",
                });
            }
        }
        if self.payload.len() > max_payload {
            return Err(Error::PayloadTooLarge {
                job: self.name.to_string(),
                size: self.payload.len(),
                limit: max_payload,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
