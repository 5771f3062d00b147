//! What a handler can ask for besides its payload: the job's context and application state.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tokio_util::sync::WaitForCancellationFuture;

use crate::error::{Error, JobError, Result};
use crate::job::JobId;
use crate::run::{why_lost, Batch, RunState};

/// The running job's identity and controls, available to a handler that takes a `JobContext`
/// argument.
#[derive(Clone)]
pub struct JobContext {
    batch: Arc<Batch>,
    index: usize,
}

impl JobContext {
    /// The context of run `index` of `batch`.
    pub(crate) fn new(batch: Arc<Batch>, index: usize) -> Self {
        Self { batch, index }
    }

    /// The driver the job came from (for the workflow calls of a step).
    pub(crate) fn driver(&self) -> &Arc<dyn crate::driver::Driver> {
        &self.batch.scope.driver
    }

    fn run(&self) -> &RunState {
        &self.batch.runs[self.index]
    }

    /// The job's id.
    pub fn id(&self) -> &JobId {
        &self.run().lease.id
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        self.batch.scope.lane.job()
    }

    /// The queue the job came from.
    pub fn queue(&self) -> &str {
        self.batch.scope.lane.queue()
    }

    /// This run's number, from 1.
    pub fn attempt(&self) -> u32 {
        self.run().attempt
    }

    /// The number of runs the job may have.
    pub fn max_attempts(&self) -> u32 {
        self.run().max_attempts
    }

    /// True when a failure of this run moves the job to the failed list.
    pub fn is_last_attempt(&self) -> bool {
        self.run().attempt >= self.run().max_attempts
    }

    /// When the storage started this run: the time its reserve leased the job, by the
    /// storage's clock (the Redis server's for Redis), in whole milliseconds; `None` when the
    /// driver does not report it (the memory and Redis drivers do). It is the time a rate limit
    /// counted the start at, so it comes before the handler is called, by however long the
    /// reservation took to reach the worker and the job waited there for its turn; the runs
    /// of one reservation share it. See [`ReservedJob::started_at`](crate::ReservedJob::started_at).
    pub fn started_at(&self) -> Option<SystemTime> {
        self.run().started_at
    }

    /// When the handler's timeout cancels this run, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.batch.deadline.map(tokio::time::Instant::into_std)
    }

    /// True once the run is being cancelled (shutdown past its grace period, timeout, or the
    /// lease was lost).
    pub fn is_cancelled(&self) -> bool {
        self.run().cancel.is_cancelled()
    }

    /// Completes when the run is cancelled; for handlers that hand work to blocking threads and
    /// want to stop them.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.run().cancel.token().cancelled()
    }

    /// Records the job's progress (any JSON value, e.g. a percentage), visible when the job is
    /// looked up. If the lease was lost meanwhile (or the job was cancelled), the run is
    /// cancelled and an error returned.
    pub async fn progress(&self, progress: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(progress).map_err(|source| Error::Serialize {
            job: self.name().to_string(),
            source,
        })?;
        let scope = &self.batch.scope;
        let run = self.run();
        if scope.observe.on() {
            scope
                .observe
                .progress(&scope.lane, &run.lease.id, run.attempt, &value);
        }
        let held = scope
            .driver
            .progress(&scope.lane, &run.lease, value)
            .await?;
        if held {
            Ok(())
        } else {
            // A cancelled job's run ends as cancelled, whichever call finds out first.
            let limit = std::time::Duration::from_secs(1);
            let reason = why_lost(scope.driver.as_ref(), &scope.lane, &run.lease.id, limit).await;
            self.run().cancel.cancel(reason);
            Err(Error::JobNotFound {
                queue: self.queue().to_string(),
                id: self.id().to_string(),
            })
        }
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("lane", &self.batch.scope.lane)
            .field("id", self.id())
            .field("attempt", &self.run().attempt)
            .field("max_attempts", &self.run().max_attempts)
            .finish_non_exhaustive()
    }
}

/// A piece of application state a handler needs, checked when a worker starts.
#[derive(Clone, Copy, Debug)]
pub struct Requirement {
    /// The state's type.
    pub type_id: TypeId,
    /// The state's type name, for the error message.
    pub type_name: &'static str,
}

/// Application state registered on a worker, shared by every handler that asks for it.
#[derive(Clone, Default)]
pub struct State {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    names: HashMap<TypeId, &'static str>,
}

impl State {
    /// Adds a value; a second value of the same type replaces the first.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
        self.names
            .insert(TypeId::of::<T>(), std::any::type_name::<T>());
    }

    /// The value of type `T`, if registered.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Data<T>> {
        let value = self.values.get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok().map(Data)
    }

    pub(crate) fn contains(&self, type_id: TypeId) -> bool {
        self.values.contains_key(&type_id)
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names.values()).finish()
    }
}

/// Shared application state of type `T`, as a handler argument: `db: Data<Pool>`.
///
/// Register the value with `queue.worker().state(pool)`; a worker whose handlers need a state
/// that was not registered refuses to start and names the type.
pub struct Data<T: ?Sized>(Arc<T>);

impl<T: ?Sized> Data<T> {
    /// The shared pointer.
    pub fn into_inner(self) -> Arc<T> {
        self.0
    }
}

impl<T: ?Sized> Clone for Data<T> {
    fn clone(&self) -> Self {
        Data(self.0.clone())
    }
}

impl<T: ?Sized> Deref for Data<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Data<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// A handler argument after the payload: built for each run from the job's context and the
/// worker's state.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a job handler argument",
    label = "not a job handler argument",
    note = "after the payload, a handler may take `JobContext` and `Data<T>` arguments"
)]
pub trait FromContext: Sized {
    /// Builds the argument.
    fn from_context(ctx: &JobContext, state: &State) -> Result<Self, JobError>;

    /// The state this argument needs, checked when the worker starts.
    fn requirement() -> Option<Requirement> {
        None
    }
}

impl FromContext for JobContext {
    fn from_context(ctx: &JobContext, _: &State) -> Result<Self, JobError> {
        Ok(ctx.clone())
    }
}

impl<T: Send + Sync + 'static> FromContext for Data<T> {
    fn from_context(ctx: &JobContext, state: &State) -> Result<Self, JobError> {
        state.get::<T>().ok_or_else(|| {
            JobError::fatal(Error::MissingState {
                job: ctx.name().to_string(),
                type_name: std::any::type_name::<T>(),
            })
        })
    }

    fn requirement() -> Option<Requirement> {
        Some(Requirement {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
        })
    }
}
