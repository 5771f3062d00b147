//! One handler's pool: its fetch loop ([`super::fetch`]) reserves jobs and hands them to
//! [`super::batch`] to run; at shutdown the pool gives running jobs the grace period. Verdicts
//! go to the [`super::outbox`].

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::context::State;
use crate::job::{JobId, Keep, Lane, LimitSpec};
use crate::registry::Registration;
use crate::run::{CancelReason, Scope};
use crate::worker::lease::{self, Running};
use crate::worker::outbox::{self, Outbox};
use crate::worker::stats::WorkerStats;
use crate::worker::tally::RunTally;

/// Everything a pool needs; shared by its batch tasks.
#[derive(Debug)]
pub(crate) struct Pool {
    pub(crate) registration: &'static Registration,
    /// The lane and the driver, shared with every run's context.
    pub(crate) scope: Arc<Scope>,
    pub(crate) concurrency: usize,
    pub(crate) lease: Duration,
    pub(crate) grace: Duration,
    pub(crate) state: Arc<State>,
    pub(crate) running: Arc<Running>,
    /// Nanoseconds a handler's first poll has lately taken, on average.
    pub(crate) start_cost: AtomicU64,
    /// Where verdicts go to be reported; shares the lane and driver.
    pub(crate) outbox: Arc<Outbox>,
    /// Run endings for storage statistics, when the driver keeps them.
    pub(crate) tally: Option<Arc<RunTally>>,
    /// One permit per job the pool may run at once; a taken permit is a job running (or
    /// being reserved). Shared with the other shards' pools of a sharded lane.
    pub(crate) slots: Arc<Semaphore>,
    /// Whether `slots` is shared with other pools (the shards of one lane).
    pub(crate) shared_slots: bool,
    /// Most slots one reserve takes: the concurrency, or a shard's share of it, so that the
    /// shards of a busy lane reserve batches of like size.
    pub(crate) batch_cap: usize,
    /// The handler's limits kept in storage, when it declares any: its pool then reserves
    /// through [`Limits`](crate::Limits). Decided once, when the worker is built.
    pub(crate) limits: Option<LimitSpec>,
}

impl Pool {
    /// A pool running `registration`'s handler on `scope`'s lane, `concurrency` jobs at a time
    /// (at least 1), with the worker's lease, grace period, state and counters.
    pub(crate) fn new(
        registration: &'static Registration,
        scope: Arc<Scope>,
        concurrency: usize,
        lease: Duration,
        grace: Duration,
        state: Arc<State>,
        stats: Arc<WorkerStats>,
    ) -> Self {
        Self {
            registration,
            running: Arc::new(Running::new(scope.lane.clone(), lease)),
            outbox: Arc::new(Outbox::new(
                scope.clone(),
                lease,
                stats,
                registration.definition.keep,
            )),
            scope,
            concurrency: concurrency.max(1),
            lease,
            grace,
            state,
            start_cost: AtomicU64::new(0),
            tally: None,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            shared_slots: false,
            batch_cap: concurrency.max(1),
            limits: None,
        }
    }

    /// Reserves through the driver's [`Limits`](crate::Limits) with `limits` (checked, not
    /// empty, on a driver that has them). Successes are then acked with the limited reserve and
    /// never completed with it.
    pub(crate) fn with_limits(mut self, limits: LimitSpec) -> Self {
        Arc::get_mut(&mut self.outbox)
            .expect("the outbox is not shared before the pool runs")
            .set_limits(limits);
        self.limits = Some(limits);
        self
    }

    /// Sets what storage keeps of the handler's successes (its definition's unless overridden).
    pub(crate) fn with_keep(mut self, keep: Keep) -> Self {
        Arc::get_mut(&mut self.outbox)
            .expect("the outbox is not shared before the pool runs")
            .set_keep(keep);
        self
    }

    /// Takes its slots from `slots` (holding the pool's concurrency of permits), shared with
    /// the pools of the lane's other `shards - 1` shards, at most its share of them per
    /// reserve (a busy shard still reaches the whole concurrency over several reserves).
    pub(crate) fn sharing_slots(mut self, slots: Arc<Semaphore>, shards: usize) -> Self {
        self.slots = slots;
        self.shared_slots = true;
        self.batch_cap = self.concurrency.div_ceil(shards.max(1)).max(1);
        self
    }

    /// Counts run endings in `tally` (for storage statistics).
    pub(crate) fn with_tally(mut self, tally: Arc<RunTally>) -> Self {
        self.tally = Some(tally);
        self
    }

    pub(crate) fn lane(&self) -> &Lane {
        &self.scope.lane
    }

    /// Reports the jobs a reserve failed as poison: logged, counted, sent as events.
    pub(crate) fn report_poisoned(&self, poisoned: Vec<(JobId, u32)>) {
        for (id, attempt) in &poisoned {
            tracing::warn!(lane = %self.lane(), %id, attempt, "job failed as poison: it lost its lease too many times");
        }
        if let Some(tally) = &self.tally {
            tally.count_poisoned(poisoned.len());
        }
        self.scope.observe.poisoned(self.lane(), &poisoned);
    }

    /// Jobs running now (counting slots taken for a reserve in flight); a read of the slots'
    /// counter, for heartbeats.
    pub(crate) fn running_now(&self) -> usize {
        if self.shared_slots {
            // The slots count the other shards' jobs too.
            return self.running.tokens().len();
        }
        self.concurrency
            .saturating_sub(self.slots.available_permits())
    }

    /// Fetches and runs jobs until `stop` is cancelled, then drains: running jobs get `grace` to
    /// finish, the rest are cancelled and requeued.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let slots = self.slots.clone();
        let settler_stop = CancellationToken::new();
        let settler = tokio::spawn(outbox::settler(self.outbox.clone(), settler_stop.clone()));
        let leases_stop = CancellationToken::new();
        // Should this task end by a panic (a bug in this crate), the runs it started stop
        // before their leases can no longer be renewed, and its helpers stop with it.
        let _helpers = (
            CancelRunsOnUnwind(self.running.clone()),
            settler_stop.clone().drop_guard(),
            leases_stop.clone().drop_guard(),
        );
        let leases = tokio::spawn(lease::keep_leases(
            self.scope.driver.clone(),
            self.running.clone(),
            self.lease,
            self.outbox.stats.clone(),
            leases_stop.clone(),
        ));
        self.fetch(&stop).await;

        // Drain: give running jobs the grace period, then cancel them for requeueing.
        self.outbox.finished.go_idle();
        let all = self.concurrency as u32;
        let finished = tokio::time::timeout(self.grace, slots.acquire_many(all)).await;
        if finished.is_err() {
            tracing::info!(lane = %self.lane(), "grace period over; cancelling running jobs for requeue");
            // Reported together below: the runs of every batch go back in one requeue.
            self.outbox.settlements.hold();
            self.running.cancel_all(CancelReason::Shutdown);
            let _ = slots.acquire_many(all).await;
        }
        debug_assert!(
            self.running.is_empty(),
            "every batch leaves the running set when its last run ends"
        );
        // Every verdict is waiting or reported by now; report the rest before returning.
        settler_stop.cancel();
        let _ = settler.await;
        self.outbox.settlements.report_all(&self.outbox).await;
        self.outbox.finished.ack_all(&self.outbox).await;
        self.outbox.finished.wait_apart().await;
        leases_stop.cancel();
        let _ = leases.await;
    }
}

/// Cancels a pool's running jobs when dropped during a panic: its batch tasks may go on, but
/// nobody renews their leases any more.
struct CancelRunsOnUnwind(Arc<Running>);

impl Drop for CancelRunsOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.cancel_all(CancelReason::LeaseLost);
        }
    }
}
