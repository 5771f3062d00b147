//! Unique jobs: at most one waiting (or running) job per unique key in a lane.

use std::time::Duration;

/// How long a unique job's lock lasts when neither `#[job(unique_for = ..)]` nor
/// [`NewJob::unique_for`](crate::NewJob::unique_for) says: one hour.
pub const DEFAULT_UNIQUE_FOR: Duration = Duration::from_secs(60 * 60);

/// Longest unique key accepted, in bytes.
pub const MAX_UNIQUE_KEY_LEN: usize = 512;

/// What a unique job's lock covers: while which states of the job holding it a dispatch with
/// the same key is a duplicate. Whatever the mode, the lock ends when its time
/// ([`Unique::ttl`]) runs out, and as soon as the job holding it no longer exists in a covered
/// state (it started, completed, failed for good, was cancelled or deleted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UniqueMode {
    /// Until the job first starts: while it is ready or scheduled and has not run yet. A run
    /// whose lease was lost does not count as a start.
    #[default]
    UntilStarted,
    /// Until the job finishes for good: while it is ready, scheduled, running or waiting to
    /// be retried. A holder deleted, purged or cancelled while it runs holds the key no
    /// longer, but its run may go on until its worker's next renewal: a job dispatched with
    /// the key is stored due when that run's lease would have ended, so the two never overlap.
    UntilFinished,
    /// Like [`UntilStarted`](UniqueMode::UntilStarted), but a duplicate replaces the waiting
    /// job's payload, and when the duplicate has a delay, the waiting job's due time becomes
    /// that delay from now (a debounce: the job runs once the dispatches pause). The lock's
    /// time starts again with each duplicate.
    Debounce,
}

impl UniqueMode {
    /// The mode's name in `#[job(unique_mode = "...")]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            UniqueMode::UntilStarted => "until_started",
            UniqueMode::UntilFinished => "until_finished",
            UniqueMode::Debounce => "debounce",
        }
    }
}

/// A job's uniqueness, as a driver reads it from [`JobSpec::unique`](crate::JobSpec::unique):
/// at most one job of the lane (queue and job name) holds `key` at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unique {
    /// The unique key: the one given to [`NewJob::unique`](crate::NewJob::unique), or the
    /// job name and a hash of the payload.
    pub key: String,
    /// How long the lock lasts at most.
    pub ttl: Duration,
    /// What the lock covers.
    pub mode: UniqueMode,
}

impl Unique {
    /// A uniqueness with `key` for `ttl` in `mode`.
    pub fn new(key: impl Into<String>, ttl: Duration, mode: UniqueMode) -> Self {
        Self {
            key: key.into(),
            ttl,
            mode,
        }
    }
}

/// A handler's uniqueness as written in `#[job(unique_for = "10m", unique_mode = "...")]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UniqueDefault {
    /// How long the lock lasts at most.
    pub ttl: Duration,
    /// What the lock covers.
    pub mode: UniqueMode,
}

/// The key of a job dispatched unique without a key: its name and a hash of its payload.
pub(crate) fn default_key(name: &str, payload: &[u8]) -> String {
    format!("{name}:{:032x}", crate::hash::fingerprint(payload))
}

/// The reason a unique key is refused, if it is.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("a unique key must not be empty")
    } else if key.len() > MAX_UNIQUE_KEY_LEN {
        Some("a unique key must be at most 512 bytes")
    } else {
        None
    }
}
