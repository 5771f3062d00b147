//! The data that moves between dispatchers, drivers and workers.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A job's identifier, unique within its queue.
///
/// Drivers number jobs themselves unless the dispatcher chooses an id with
/// [`NewJob::id`]; a chosen id must contain at least one character that is not a digit, so
/// it can never collide with a generated one.
///
/// Ids of up to 22 bytes (every generated id, and most chosen ones) are stored inline, so
/// creating, cloning and dropping them allocates nothing and touches no shared counter.
#[derive(Clone)]
pub struct JobId(Repr);

/// Longest id stored inline; with the length and the enum's tag, a `JobId` is 24 bytes.
const INLINE_ID: usize = 22;

#[derive(Clone)]
enum Repr {
    /// The text in `bytes[..len]`; the rest is zero.
    Inline {
        len: u8,
        bytes: [u8; INLINE_ID],
    },
    Shared(Arc<str>),
}

impl JobId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("an inline id is copied from a str"),
            Repr::Shared(text) => text,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(text) => text.as_bytes(),
        }
    }

    fn inline(text: &[u8]) -> Self {
        let mut bytes = [0; INLINE_ID];
        bytes[..text.len()].copy_from_slice(text);
        JobId(Repr::Inline {
            len: text.len() as u8,
            bytes,
        })
    }
}

// Equality, hashing and order are those of the text, whichever way it is stored.
impl PartialEq for JobId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for JobId {}

impl std::hash::Hash for JobId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // What `str` feeds a hasher, without checking the bytes are UTF-8 again.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl PartialOrd for JobId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for JobId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        String::deserialize(deserializer).map(JobId::from)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE_ID {
            JobId::inline(s.as_bytes())
        } else {
            JobId(Repr::Shared(s.into()))
        }
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId::from(s.as_str())
    }
}

impl From<u64> for JobId {
    fn from(n: u64) -> Self {
        // Each decimal digit written straight to its place; u64::MAX has 20.
        let len = n.checked_ilog10().map_or(1, |log| log as usize + 1);
        let mut bytes = [0; INLINE_ID];
        let mut rest = n;
        for digit in bytes[..len].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        JobId(Repr::Inline {
            len: len as u8,
            bytes,
        })
    }
}

/// Where ready jobs of one kind wait: a queue and a job name.
///
/// Each handler's pool takes jobs from its own lane, so a slow handler never holds up another
/// handler's jobs on the same queue. Scheduled, active and failed jobs are kept per lane too;
/// a queue groups lanes for pausing, counting and the failed list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    queue: Arc<str>,
    job: Arc<str>,
}

impl Lane {
    /// The lane for job `job` on queue `queue`; both names are validated.
    pub fn new(queue: &str, job: &str) -> Result<Self> {
        validate_name("queue name", queue)?;
        validate_name("job name", job)?;
        Ok(Lane {
            queue: queue.into(),
            job: job.into(),
        })
    }

    /// The queue name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.queue, self.job)
    }
}

/// Longest queue name, job name or job id accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a queue name, job name or job id: 1 to 200 bytes of ASCII letters, digits and `_-.:/@`.
///
/// Names end up inside storage keys, so braces, spaces and control characters are refused.
pub fn validate_name(what: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > MAX_NAME_LEN {
        Some("longer than 200 bytes")
    } else if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:/@".contains(&b))
    {
        Some("only ASCII letters, digits and `_-.:/@` are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            value: value.chars().take(MAX_NAME_LEN).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

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
    /// Whether the dispatcher named the queue (needed for jobs without a handler here).
    pub(crate) queue_chosen: bool,
    /// Built by typed dispatch: the payload's type is the handler's, so it needs no decode check.
    pub(crate) typed: bool,
    /// Set when building failed; reported when the job is dispatched.
    pub(crate) error: Option<Box<Error>>,
}

impl NewJob {
    /// A job for the handler named `name` with a payload already encoded as JSON.
    ///
    /// When the handler is linked into this program, its queue, attempts and priority are the
    /// defaults; otherwise the job goes to the `default` queue with 3 attempts unless
    /// [`NewJob::queue`] says where. Prefer the typed `my_job::job(payload)` where the handler is
    /// known at compile time.
    pub fn named(name: &str, payload: impl Into<Bytes>) -> Self {
        let payload = payload.into();
        match crate::registry::find(name) {
            Some(def) => Self::for_definition(def, payload),
            None => NewJob {
                name: name.into(),
                queue: "default".into(),
                payload,
                delay: Duration::ZERO,
                priority: 0,
                max_attempts: 3,
                id: None,
                queue_chosen: false,
                typed: false,
                error: None,
            },
        }
    }

    pub(crate) fn for_definition(def: &crate::JobDefinition, payload: Bytes) -> Self {
        NewJob {
            name: Name::Static(def.name),
            queue: Name::Static(def.queue),
            payload,
            delay: Duration::ZERO,
            priority: def.priority,
            max_attempts: def.attempts,
            id: None,
            queue_chosen: false,
            typed: false,
            error: None,
        }
    }

    pub(crate) fn failed(name: &str, error: Error) -> Self {
        let mut job = Self::named(name, Bytes::new());
        job.error = Some(Box::new(error));
        job
    }

    /// Runs the job no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Runs the job no earlier than `at` (now if `at` has passed).
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.delay = at.duration_since(SystemTime::now()).unwrap_or_default();
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

    /// Sends the job to another queue than its handler's default. It runs where a worker
    /// serves that queue for its handler ([`WorkerBuilder::queues`](crate::WorkerBuilder::queues)).
    pub fn queue(mut self, queue: &str) -> Self {
        self.queue = queue.into();
        self.queue_chosen = true;
        self
    }

    /// The job name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue the job goes to.
    pub fn queue_name(&self) -> &str {
        &self.queue
    }

    /// The JSON payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// How long after dispatch the job becomes ready.
    pub fn delay_duration(&self) -> Duration {
        self.delay
    }

    /// The job's priority.
    pub fn priority_value(&self) -> i8 {
        self.priority
    }

    /// How many attempts the job gets.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The id chosen by the dispatcher, if any.
    pub fn chosen_id(&self) -> Option<&JobId> {
        self.id.as_ref()
    }

    /// The job's lane.
    pub fn lane(&self) -> Result<Lane> {
        Lane::new(&self.queue, &self.name)
    }

    /// Checks the job before it is stored: a build error, names, id and payload size.
    pub(crate) fn check(&mut self, max_payload: usize) -> Result<()> {
        if let Some(error) = self.error.take() {
            return Err(*error);
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

/// What a dispatch stored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dispatched {
    /// The job's id.
    pub id: JobId,
    /// False when a job with the chosen id already existed, so nothing new was stored.
    pub created: bool,
}

impl Dispatched {
    /// A record of a stored job.
    pub fn new(id: JobId, created: bool) -> Self {
        Self { id, created }
    }
}

/// A reservation's proof of ownership: the job id and the fencing token the driver issued.
///
/// Drivers refuse to ack, fail, renew or requeue with a token that is no longer current, so a
/// worker that lost its lease can never settle a job a second time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job's id.
    pub id: JobId,
    /// The token of this reservation.
    pub token: u64,
}

/// A job handed to a worker by [`Driver::reserve`](crate::Driver::reserve).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReservedJob {
    /// The job's id.
    pub id: JobId,
    /// The fencing token of this reservation.
    pub token: u64,
    /// The JSON payload as dispatched.
    pub payload: Bytes,
    /// This run's number, from 1; the reservation already counted it.
    pub attempt: u32,
    /// The number of runs the job may have.
    pub max_attempts: u32,
}

impl ReservedJob {
    /// A reserved job as a driver hands it out.
    pub fn new(id: JobId, token: u64, payload: Bytes, attempt: u32, max_attempts: u32) -> Self {
        Self {
            id,
            token,
            payload,
            attempt,
            max_attempts,
        }
    }

    /// This reservation's lease.
    pub fn lease(&self) -> Lease {
        Lease {
            id: self.id.clone(),
            token: self.token,
        }
    }
}

/// The answer of [`Driver::reserve`](crate::Driver::reserve).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Reservation {
    /// The jobs now leased to the caller, in the order they should start.
    pub jobs: Vec<ReservedJob>,
    /// When fewer jobs than asked were available: how long until a scheduled job of the lane
    /// comes due or an active lease expires, if any. Workers sleep at most this long.
    pub next_due: Option<Duration>,
}

/// How a failed run ends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The error message to record with the job.
    pub error: String,
    /// `Some(delay)`: run again after `delay`. `None`: move the job to the failed list.
    pub retry_in: Option<Duration>,
}

impl Failure {
    /// Schedules the job to run again after `delay`.
    pub fn retry(error: impl Into<String>, delay: Duration) -> Self {
        Self {
            error: error.into(),
            retry_in: Some(delay),
        }
    }

    /// Moves the job to the failed list.
    pub fn fail(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            retry_in: None,
        }
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobState {
    /// Waiting for its due time (delayed, or backing off before a retry).
    Scheduled,
    /// Waiting for a worker.
    Ready,
    /// Leased to a worker.
    Active,
    /// Out of attempts, or failed fatally; kept until retried, deleted or trimmed.
    Failed,
}

/// Everything stored about one job, for inspection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// The queue holding it.
    pub queue: String,
    /// The job name.
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// The JSON payload.
    pub payload: Bytes,
    /// Runs started so far.
    pub attempts: u32,
    /// Runs allowed.
    pub max_attempts: u32,
    /// Its priority.
    pub priority: i8,
    /// When it was dispatched.
    pub created_at: SystemTime,
    /// When it failed for good, for failed jobs.
    pub failed_at: Option<SystemTime>,
    /// The last error a run reported.
    pub last_error: Option<String>,
    /// The last progress its handler reported.
    pub progress: Option<serde_json::Value>,
}

impl JobInfo {
    /// A job record as a driver reports it; the optional fields start empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: JobId,
        queue: String,
        name: String,
        state: JobState,
        payload: Bytes,
        attempts: u32,
        max_attempts: u32,
        priority: i8,
        created_at: SystemTime,
    ) -> Self {
        Self {
            id,
            queue,
            name,
            state,
            payload,
            attempts,
            max_attempts,
            priority,
            created_at,
            failed_at: None,
            last_error: None,
            progress: None,
        }
    }

    /// The payload parsed as JSON (`Null` if it is not JSON).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

/// How many jobs of a queue are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// Waiting for their due time.
    pub scheduled: u64,
    /// Waiting for a worker.
    pub ready: u64,
    /// Leased to workers.
    pub active: u64,
    /// In the failed list.
    pub failed: u64,
    /// Whether the queue is paused.
    pub paused: bool,
}

impl Counts {
    /// Jobs not yet finished: scheduled, ready and active.
    pub fn pending(&self) -> u64 {
        self.scheduled + self.ready + self.active
    }
}

/// Milliseconds since the Unix epoch, the time unit drivers store.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The `SystemTime` of a Unix-epoch millisecond timestamp.
pub fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_text_however_stored() {
        use std::collections::hash_map::RandomState;
        use std::hash::BuildHasher;
        assert_eq!(std::mem::size_of::<JobId>(), 24);
        for n in [0, 7, 10, 12345, u64::MAX] {
            assert_eq!(JobId::from(n).as_str(), n.to_string());
            assert_eq!(JobId::from(n), JobId::from(n.to_string()));
        }
        let long = "order-".repeat(10);
        let ids = [
            JobId::from("a"),
            JobId::from(long.as_str()),
            JobId::from("b"),
        ];
        assert_eq!(ids[1].as_str(), long);
        assert_eq!(ids[1], JobId::from(long.clone()));
        let mut sorted = ids.to_vec();
        sorted.sort();
        assert_eq!(sorted, [ids[0].clone(), ids[2].clone(), ids[1].clone()]);
        // Hashes like the text, so maps keyed by ids and by strings agree.
        let state = RandomState::new();
        assert_eq!(state.hash_one(&ids[1]), state.hash_one(long.as_str()));
        assert_eq!(state.hash_one(JobId::from(42)), state.hash_one("42"));
        assert_eq!(serde_json::to_string(&ids[0]).unwrap(), r#""a""#);
        let back: JobId = serde_json::from_str(r#""12""#).unwrap();
        assert_eq!(back, JobId::from(12));
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("queue name", "mail").is_ok());
        assert!(validate_name("queue name", "a.b-c_d:e/f@g").is_ok());
        let err = validate_name("queue name", "ma{il}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid queue name `ma{il}`: only ASCII letters, digits and `_-.:/@` are allowed"
        );
        assert!(validate_name("job name", "").is_err());
        assert!(validate_name("job name", &"x".repeat(201)).is_err());
    }

    #[test]
    fn chosen_ids_must_not_look_generated() {
        let mut job = NewJob::named("not_registered_anywhere", "{}").id("123");
        let err = job.check(1024).unwrap_err();
        assert!(err
            .to_string()
            .contains("must contain a character that is not a digit"));
        assert!(NewJob::named("x", "{}").id("order-123").check(1024).is_ok());
    }

    #[test]
    fn payload_limit() {
        let err = NewJob::named("big", vec![b'1'; 10]).check(5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "payload of job `big` is 10 bytes, over the limit of 5 bytes"
        );
    }
}
