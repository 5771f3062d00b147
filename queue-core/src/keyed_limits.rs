//! The storage capability behind keyed handlers (`#[job(rate_key = ..)]`): per-key limits and
//! round-robin service of a lane's keys.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::job::{Dispatched, Lane, Lease, LimitSpec, NewJob, Reservation};

/// Limits held per rate key, and fairness between keys, kept in storage so that they hold
/// across every worker. A driver offers it in [`Driver::capabilities`](crate::Driver::capabilities);
/// [`Queue`](crate::Queue) sends every job with a [`JobSpec::key`](crate::JobSpec::key) here
/// and every other job to [`Driver::enqueue`](crate::Driver::enqueue), and only the pools of
/// keyed handlers reserve through it, so other jobs pay nothing for it.
///
/// # Behavior
///
/// - **Keys.** Each keyed job carries its key, stored with it at dispatch; reserving never
///   reads payloads. Every key of a lane has its own sliding window of starts
///   ([`LimitSpec::rate`]), its own count of leased jobs ([`LimitSpec::concurrency`], held by
///   leases: an expired lease frees its slot once reaped) and its own pause
///   ([`postpone_key`](KeyedLimits::postpone_key)).
/// - **Round robin.** A lane's keys with waiting jobs are served by rounds, one start per key
///   per round: a key is served next in round `max(one after the round it was last served in,
///   the lane's current round)`, lowest round first and, within a round, in the order the keys
///   joined it. So a key's backlog never delays another key's next job by more than one round,
///   and each key's jobs start in their order. A key held back by its limits is set aside
///   (until its window frees, its pause ends, or a slot frees) without holding up the other
///   keys, and then rejoins at its next round (not before the current one).
/// - **Priorities** do not reorder keyed jobs: the rounds decide (a job's priority is kept and
///   shown). **Delays** keep their meaning: a delayed, retried or postponed job joins the back
///   of its key's line when it becomes due, as a new dispatch would. Jobs returned to the lane
///   (requeued on shutdown, reaped after a lost lease, retried from the failed list) go to the
///   front of their key's line.
/// - **Inspection.** Waiting keyed jobs count and list as ready jobs (after the lane's other
///   ready jobs), and can be deleted or cancelled like them.
/// - **No polling.** When keys are held back, [`Reservation::next_due`] says when the first
///   of them may start again (its window frees, its pause ends, or its earliest lease ends),
///   so a worker sleeps until then.
#[async_trait]
pub trait KeyedLimits: Send + Sync {
    /// Stores `jobs`, each of which has a key, like [`Driver::enqueue`](crate::Driver::enqueue)
    /// (ids, delays, wake-ups, duplicates reported with `created: false`), placing the ready
    /// ones in their keys' rounds.
    async fn enqueue_keyed(&self, jobs: Vec<NewJob>) -> Result<Vec<Dispatched>>;

    /// Like [`Limits::ack_and_reserve_limited`](crate::Limits::ack_and_reserve_limited) for a
    /// keyed lane: acks `done`, reaps and promotes, then leases up to `max` jobs in round
    /// order, each within its key's limits (`limits` apply per key), in one atomic step.
    async fn ack_and_reserve_keyed(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
        limits: &LimitSpec,
    ) -> Result<(Vec<bool>, Reservation)>;

    /// Puts a running keyed job back without spending its attempt, to become ready after
    /// `delay` (at most [`MAX_DELAY`](crate::MAX_DELAY)), and pauses its key (not the lane)
    /// for `delay` (a later pause end is kept). Returns whether the lease was current.
    async fn postpone_key(&self, lane: &Lane, lease: &Lease, delay: Duration) -> Result<bool>;

    /// After jobs of a keyed lane with a concurrency limit were settled: lets the keys held
    /// back by that limit that have a free slot again start, and wakes a waiting worker when
    /// one of them has jobs waiting.
    async fn released_keyed(&self, lane: &Lane, limits: &LimitSpec) -> Result<()>;
}
