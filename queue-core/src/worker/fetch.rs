//! A pool's fetch loop: it reserves as many jobs as there are free slots (acking the last
//! successes in the same call), starts them, and waits for work when the lane is drained.
//!
//! Across a network, a reserve's round trip is time in which nothing runs. When a pool's
//! handlers end quickly (every slot is free again once a batch has been started) and its
//! reserves take longer than it takes to run what they bring, the loop sends reserves ahead:
//! before starting a reservation's jobs it sends as many further reserves as it needs to have
//! the next reply back by the time it is done (the smallest recent reply time over the time a
//! batch takes, at most [`MAX_AHEAD`], and no more than the replies in a row that came back
//! full: a lane that producers and workers keep near empty is not asked for jobs it lacks).
//! Each reserve sent ahead asks for a full pool's worth and carries the acks finished so far
//! (up to a settling batch; older ones are acked apart); its jobs take slots when its reply is
//! used, in the order the reserves were sent. Each is polled once before the next is made, and
//! a driver sends a call on its first poll, so that is the order the storage ran them in.
//! Their leases count from when the reserve was sent, as every lease does, and the lease task
//! renews them once they run. A lane found drained stops the sending
//! ahead; a pool whose handlers keep slots past their first poll never sends ahead (prefetched
//! jobs would wait for slots while their leases run), and should a job of the last batch still
//! hold its slot when a reply comes, that reply's jobs wait at most a quarter of their lease for
//! slots (the settling task acks meanwhile) and otherwise go back unrun. At shutdown the
//! replies still coming are awaited (each for at most a lease) and their jobs handed back, first
//! in line and without spending an attempt: they never ran.
//!
//! Pools with rate or concurrency limits reserve one call at a time: a limited reserve admits
//! jobs against the limit when it runs, so a reserve sent ahead would take starts from the
//! window before its jobs can start. So do the pools of a sharded lane's shards, which share
//! their slots: jobs reserved ahead by one would wait, leased, for slots the others hold.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tokio::time::Instant as LeaseClock;
use tokio_util::sync::CancellationToken;

use crate::job::{Reservation, ReservedJob};
use crate::worker::execute::Verdict;
use crate::worker::outbox::{self, Taken};
use crate::worker::pool::Pool;
use crate::worker::retry::retry_pause;

/// The share of a lease that a finished run's ack may wait for the pool's next reserve while
/// the pool waits for a slot (see [`Pool::slot_freed`]).
const ACK_WAIT: f64 = 0.125;

/// Most reserves a pool has in flight beyond the one whose jobs it is starting.
pub(crate) const MAX_AHEAD: usize = 16;

/// Reserves are sent ahead only when replies take at least this long: below it the reply is
/// back before a batch of quick jobs has run, and a reserve sent ahead costs more (a task and
/// a hand-off) than the wait it saves.
const AHEAD_FROM: Duration = Duration::from_micros(250);

/// Reply times this many replies old no longer count toward the smallest recent one.
const REPLY_WINDOW: u32 = 64;

/// What a reserve returns: the acks' outcomes and the reservation.
type Reserved = crate::Result<(Vec<bool>, Reservation)>;

/// A reserve sent ahead: when it was sent, and its task (returning the acks it carried and
/// when its reply arrived).
struct Sent {
    at: LeaseClock,
    wanted: usize,
    /// How many successes it acks: counted as dropped should its reply never be read.
    carried: usize,
    reply: JoinHandle<Arrived>,
}

/// What a reserve's task returns: the acks it carried, its outcome, when the reply arrived.
type Arrived = (Taken, Reserved, LeaseClock);

/// A reserve's reply, with the slots its jobs take if it was made with them.
struct Reply {
    sent_at: LeaseClock,
    replied_at: LeaseClock,
    wanted: usize,
    done: Taken,
    reserved: Reserved,
    permits: Option<OwnedSemaphorePermit>,
}

/// How deep to send reserves ahead, from what replies and batches have lately taken.
#[derive(Debug, Default)]
struct Pace {
    /// The smallest reply time in the current window.
    reply_floor: Option<Duration>,
    /// Replies counted in the current window.
    replies: u32,
    /// Time to start a reservation's jobs, on average (weight 1/8), in ns.
    busy_ns: u64,
}

impl Pace {
    fn replied(&mut self, took: Duration) {
        self.replies += 1;
        if self.replies > REPLY_WINDOW {
            self.replies = 1;
            self.reply_floor = None;
        }
        self.reply_floor = Some(self.reply_floor.map_or(took, |floor| floor.min(took)));
    }

    fn ran(&mut self, took: Duration) {
        let sample = took.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.busy_ns = self.busy_ns - self.busy_ns / 8 + sample / 8;
    }

    /// Reserves to have in flight while a reservation's jobs start.
    fn ahead(&self) -> usize {
        match self.reply_floor {
            Some(floor) if floor >= AHEAD_FROM => {
                let busy = self.busy_ns.max(1);
                let needed = (floor.as_nanos() as u64).div_ceil(busy);
                (needed as usize).clamp(1, MAX_AHEAD)
            }
            _ => 0,
        }
    }
}

impl Pool {
    /// Fetches and runs jobs until `stop` is cancelled; then hands back what reserves sent
    /// ahead bring.
    pub(crate) async fn fetch(self: &Arc<Self>, stop: &CancellationToken) {
        let mut failures = 0u32;
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let mut ahead: VecDeque<Sent> = VecDeque::new();
        let mut pace = Pace::default();
        // Whether the last reservation's jobs all ended as they were started.
        let mut quick = false;
        // Replies in a row that brought all they asked for: the lane has a backlog. Reserves
        // are sent ahead at most this many deep, so a lane that is often drained (producers
        // and workers keeping pace) is not asked again and again for jobs it does not have.
        let mut full_streak = 0usize;
        let pipelined = self.limits.is_none() && !self.shared_slots;

        'fetch: loop {
            let reply = match ahead.pop_front() {
                Some(mut sent) => {
                    let joined = tokio::select! {
                        biased;
                        _ = stop.cancelled() => {
                            ahead.push_front(sent);
                            break 'fetch;
                        }
                        joined = &mut sent.reply => joined,
                    };
                    let Some((done, reserved, replied_at)) = self.arrived(joined, sent.carried)
                    else {
                        continue 'fetch;
                    };
                    Reply {
                        sent_at: sent.at,
                        replied_at,
                        wanted: sent.wanted,
                        done,
                        reserved,
                        permits: None,
                    }
                }
                None => {
                    // Wait for at least one free slot, then take every free slot (a shard's
                    // pool at most its share of them per reserve).
                    let mut permits = if self.shared_slots {
                        match self.slot_freed(stop).await {
                            Some(permit) => permit,
                            None => break 'fetch,
                        }
                    } else {
                        // The pool's own slots: a run frees its slot once its verdict is
                        // left, and this loop, their only waiter, takes it and acks at once.
                        tokio::select! {
                            biased;
                            _ = stop.cancelled() => break 'fetch,
                            permit = self.slots.clone().acquire_owned() => permit.expect("pool semaphore closed"),
                        }
                    };
                    let extra = self.slots.available_permits().min(self.batch_cap - 1) as u32;
                    if extra > 0 {
                        if let Ok(more) = self.slots.clone().try_acquire_many_owned(extra) {
                            permits.merge(more);
                        }
                    }
                    let wanted = permits.num_permits();
                    // Read before reserving, so the local idea of when leases end is never
                    // later than the storage's.
                    let sent_at = LeaseClock::now();
                    let done = self.outbox.finished.take_for_reserve();
                    let reserved = self.reserve(&done, wanted).await;
                    Reply {
                        sent_at,
                        replied_at: LeaseClock::now(),
                        wanted,
                        done,
                        reserved,
                        permits: Some(permits),
                    }
                }
            };
            pace.replied(reply.replied_at.saturating_duration_since(reply.sent_at));

            let Reply {
                sent_at,
                wanted,
                done,
                reserved,
                permits,
                ..
            } = reply;
            let reservation = match reserved {
                Ok((acked, mut reservation)) => {
                    failures = 0;
                    outbox::note_refused(&self.outbox, "ack", &done.leases, &acked);
                    if !reservation.poisoned.is_empty() {
                        self.report_poisoned(std::mem::take(&mut reservation.poisoned));
                    }
                    reservation
                }
                Err(error) => {
                    // Acked by the settling task while reserves fail (a reserve can fail where
                    // an ack would not: a limit's error, a damaged lane), or with the next
                    // reserve that goes through.
                    self.outbox.finished.put_back(done);
                    self.outbox.finished.go_idle();
                    drop(permits);
                    failures += 1;
                    let pause = retry_pause(failures);
                    tracing::warn!(lane = %self.lane(), %error, retry_in = ?pause, "could not reserve jobs");
                    tokio::select! {
                        _ = stop.cancelled() => break 'fetch,
                        _ = tokio::time::sleep(pause) => continue 'fetch,
                    }
                }
            };

            let got = reservation.jobs.len();
            let drained = got < wanted;
            let permits = match permits {
                Some(permits) => permits,
                None => match self.slots.clone().try_acquire_many_owned(got as u32) {
                    // A reply to a reserve sent ahead: its jobs take slots now.
                    Ok(permits) => permits,
                    Err(_) => {
                        // A job of the last batch is still running. The settling task acks
                        // meanwhile; the jobs wait at most a quarter of their lease for slots,
                        // else they go back unrun and sending ahead stops until batches end
                        // as they start again.
                        self.outbox.finished.go_idle();
                        quick = false;
                        let wait = self.slots.clone().acquire_many_owned(got as u32);
                        tokio::select! {
                            biased;
                            _ = stop.cancelled() => {
                                // Back at once: their leases run meanwhile, and the replies
                                // still in flight may take up to a lease.
                                self.hand_back(reservation.jobs);
                                break 'fetch;
                            }
                            waited = tokio::time::timeout(self.lease / 4, wait) => match waited {
                                Ok(permits) => permits.expect("pool semaphore closed"),
                                Err(_) => {
                                    self.hand_back(reservation.jobs);
                                    continue 'fetch;
                                }
                            },
                        }
                    }
                },
            };
            full_streak = if drained { 0 } else { full_streak + 1 };
            if pipelined && quick && !drained {
                let depth = pace.ahead().min(full_streak);
                while ahead.len() < depth {
                    ahead.push_back(self.send_ahead());
                }
            }
            let began = LeaseClock::now();
            self.start_batches(reservation.jobs, permits, sent_at, workers, stop)
                .await;
            if got > 0 {
                pace.ran(began.elapsed());
            }
            quick = self.slots.available_permits() == self.concurrency;

            if drained && ahead.is_empty() {
                // The lane is drained: sleep until a wake-up or the next due time.
                self.outbox.finished.go_idle();
                tokio::select! {
                    _ = stop.cancelled() => break 'fetch,
                    waited = self.scope.driver.wait(self.lane(), reservation.next_due) => {
                        if let Err(error) = waited {
                            failures += 1;
                            let pause = retry_pause(failures);
                            tracing::warn!(lane = %self.lane(), %error, "could not wait for jobs");
                            tokio::select! {
                                _ = stop.cancelled() => break 'fetch,
                                _ = tokio::time::sleep(pause) => {}
                            }
                        }
                    }
                }
            }
        }

        // Replies still coming: their acks count, their jobs go back unrun. Replies that do
        // not come within a lease of now (one deadline for all: they are in flight together)
        // are given up: their jobs' leases end and the storage hands them out again.
        let deadline = tokio::time::Instant::now() + self.lease;
        // Their jobs go back together, in dispatch order (each hand-back goes ahead of what is
        // waiting).
        let mut unrun: Vec<ReservedJob> = Vec::new();
        for sent in ahead {
            let abort = sent.reply.abort_handle();
            let Ok(joined) = tokio::time::timeout_at(deadline, sent.reply).await else {
                abort.abort();
                self.outbox.stats.add_dropped(sent.carried);
                tracing::warn!(lane = %self.lane(), acks = sent.carried, "a reserve sent ahead did not answer before shutdown; its jobs go back when their leases end, and the jobs it acked may run again");
                continue;
            };
            let Some((done, reserved, _)) = self.arrived(joined, sent.carried) else {
                continue;
            };
            match reserved {
                Ok((acked, mut reservation)) => {
                    outbox::note_refused(&self.outbox, "ack", &done.leases, &acked);
                    if !reservation.poisoned.is_empty() {
                        self.report_poisoned(std::mem::take(&mut reservation.poisoned));
                    }
                    unrun.extend(reservation.jobs);
                }
                Err(_) => self.outbox.finished.put_back(done),
            }
        }
        self.hand_back(unrun);
    }

    /// A reserve sent ahead, once its task ended: `None` when the task was cancelled (the
    /// runtime is shutting down; the jobs it reserved go back when their leases end, and the
    /// `carried` successes it acked are counted as dropped: unknown whether the ack landed). A
    /// panic in it is a bug of this crate and goes on unwinding here.
    fn arrived(
        &self,
        joined: Result<Arrived, tokio::task::JoinError>,
        carried: usize,
    ) -> Option<Arrived> {
        match joined {
            Ok(arrived) => Some(arrived),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => {
                self.outbox.stats.add_dropped(carried);
                tracing::warn!(lane = %self.lane(), acks = carried, "a reserve sent ahead was cancelled; its jobs go back when their leases end, and the jobs it acked may run again");
                None
            }
        }
    }

    /// Waits for a slot of a pool that shares its slots (a shard's); `None` when the pool
    /// stops first. Successes wait for the next reserve to ack them, and a finished run's lease
    /// is no longer renewed, while the slot a run frees may go to another shard's pool: a
    /// success could wait as long as those shards' runs last, past its lease. So after
    /// [`ACK_WAIT`] of the lease the pool goes idle and the settling task acks them instead.
    /// A free slot is taken at once, with no timer.
    async fn slot_freed(&self, stop: &CancellationToken) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        let acquire = self.slots.clone().acquire_owned();
        tokio::pin!(acquire);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            permit = &mut acquire => return Some(permit.expect("pool semaphore closed")),
            _ = tokio::time::sleep(self.lease.mul_f64(ACK_WAIT)) => {}
        }
        self.outbox.finished.go_idle();
        tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            permit = acquire => Some(permit.expect("pool semaphore closed")),
        }
    }

    /// Sends a reserve for a full pool's worth of jobs, with the acks finished so far, to be
    /// used once the replies sent before it have been.
    fn send_ahead(self: &Arc<Self>) -> Sent {
        let pool = self.clone();
        let wanted = self.concurrency;
        let at = LeaseClock::now();
        let (done, excess) = self.outbox.finished.take_for_reserve_ahead();
        let carried = done.leases.len();
        self.outbox.stats.reserve_sent_ahead();
        // Unconstrained: a driver's first poll must not stop short because this task used
        // up its share of the runtime's budget.
        let mut call = Box::pin(tokio::task::unconstrained(async move {
            let reserved = pool.reserve(&done, wanted).await;
            (done, reserved, LeaseClock::now())
        }));
        // Polled once here, before the task takes it: the reserve is then on its way to the
        // storage (a driver sends a call on its first poll) before the next one is made, so
        // the storage runs them in the order they were sent, which is the order their jobs
        // start in. Spawned tasks first run in no set order, and a reserve sent later would
        // take the earlier jobs.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let reply = match call.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(arrived) => tokio::spawn(std::future::ready(arrived)),
            std::task::Poll::Pending => tokio::spawn(call),
        };
        if !excess.leases.is_empty() {
            // Successes beyond what a reserve carries are acked on their own, after it left.
            self.outbox.finished.ack_apart(&self.outbox, excess);
        }
        Sent {
            at,
            wanted,
            carried,
            reply,
        }
    }

    /// Hands reserved jobs back unrun, first in line and without spending an attempt.
    pub(crate) fn hand_back(&self, jobs: Vec<ReservedJob>) {
        if jobs.is_empty() {
            return;
        }
        self.outbox.stats.add_handed_back(jobs.len());
        self.requeue_unrun(&jobs);
    }

    /// Leaves `jobs` to the settler to put back unrun (first in line, no attempt spent), and
    /// wakes it.
    pub(crate) fn requeue_unrun(&self, jobs: &[ReservedJob]) {
        let back = jobs
            .iter()
            .map(|job| (job.lease(), Verdict::Requeue))
            .collect();
        self.outbox.settlements.leave(back);
        self.outbox.settlements.wake_settler();
    }

    /// One reserve acking `done`, through the pool's path: keyed, limited, completing kept
    /// jobs, or plain.
    async fn reserve(&self, done: &Taken, wanted: usize) -> Reserved {
        let driver = &self.scope.driver;
        if let Some(spec) = &self.limits {
            if spec.keyed {
                // Limits per rate key: the keyed reserve, which the worker checked at start.
                let Some(keyed) = driver.keyed_limits() else {
                    return Err(crate::Error::Unsupported {
                        capability: "limits per rate key",
                        driver: format!("{driver:?}"),
                    });
                };
                return keyed
                    .ack_and_reserve_keyed(self.lane(), &done.leases, wanted, self.lease, spec)
                    .await;
            }
            let Some(limits) = driver.limits() else {
                return Err(crate::Error::Unsupported {
                    capability: "rate and concurrency limits",
                    driver: format!("{driver:?}"),
                });
            };
            return limits
                .ack_and_reserve_limited(self.lane(), &done.leases, wanted, self.lease, spec)
                .await;
        }
        match driver
            .retention()
            .filter(|_| self.outbox.completes_with_reserve)
        {
            Some(retention) => {
                let completions = done.completions();
                retention
                    .complete_and_reserve(
                        driver.as_ref(),
                        self.lane(),
                        &completions,
                        &self.outbox.keep,
                        wanted,
                        self.lease,
                    )
                    .await
            }
            None => {
                driver
                    .ack_and_reserve(self.lane(), &done.leases, wanted, self.lease)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(reply: Duration, busy: Duration) -> Pace {
        let mut pace = Pace::default();
        pace.replied(reply);
        for _ in 0..64 {
            pace.ran(busy);
        }
        pace
    }

    #[test]
    fn quick_replies_are_waited_for() {
        let busy = Duration::from_micros(20);
        assert_eq!(pace(Duration::from_micros(100), busy).ahead(), 0);
        assert_eq!(pace(AHEAD_FROM - Duration::from_nanos(1), busy).ahead(), 0);
        assert_eq!(Pace::default().ahead(), 0, "nothing measured yet");
    }

    #[test]
    fn enough_reserves_are_in_flight_to_cover_the_round_trip() {
        let busy = Duration::from_micros(400);
        assert_eq!(pace(Duration::from_micros(300), busy).ahead(), 1);
        assert_eq!(pace(Duration::from_micros(1_000), busy).ahead(), 3);
        assert_eq!(pace(Duration::from_millis(50), busy).ahead(), MAX_AHEAD);
    }

    #[test]
    fn the_smallest_recent_reply_counts() {
        let mut pace = pace(Duration::from_millis(1), Duration::from_micros(300));
        pace.replied(Duration::from_millis(3));
        assert_eq!(
            pace.ahead(),
            4,
            "a reply slowed by queueing does not deepen it"
        );
        for _ in 0..REPLY_WINDOW {
            pace.replied(Duration::from_millis(2));
        }
        assert_eq!(pace.ahead(), 7, "the window forgets the old floor");
    }
}
