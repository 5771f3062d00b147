//! Spreads the idle lanes of a process over a few shared blocking connections
//! ([`WaitHub`]s): a `BLPOP` naming many keys costs the server time for each key when it
//! blocks and again when it is woken (about 190 µs for 200 keys against 15 µs for one, on the
//! bench machine), and every wake-up re-blocks the connection it came through. A lane is
//! given, at its first wait, the first hub that names fewer than [`KEYS_PER_HUB`] lanes, else
//! the one naming fewest; at most [`MAX_HUBS`] hubs open. So a process with a handful of
//! handlers holds one blocking connection, one with 200 holds eight, each naming 25 keys, and
//! its blocking connections stay bounded however many handlers it runs. A lane keeps its hub
//! while it waits and for [`FORGET_AFTER`] after its last wait ended; past that (a busy lane, a
//! stopped worker's lane) it no longer counts toward its hub when a new lane is placed, and it
//! is placed again should it wait again, so lanes that come and go neither fill the hubs nor
//! grow the table of lanes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::wait_hub::{DueCheck, WaitHub};
use crate::Inner;

/// Lanes a hub takes before the next one opens.
const KEYS_PER_HUB: usize = 16;
/// The most hubs (blocking connections) a process opens for its idle lanes.
const MAX_HUBS: usize = 8;
/// How long after its last wait ended a lane stops counting toward its hub.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// The hubs and which lane waits through which.
pub(crate) struct WaitHubs {
    hubs: [WaitHub; MAX_HUBS],
    assigned: Mutex<Assigned>,
}

/// Lanes by wake key and how many each hub was given.
#[derive(Default)]
struct Assigned {
    hub_of: HashMap<String, Placed>,
    lanes: [usize; MAX_HUBS],
}

/// A lane's hub, its waits in progress, and when the last one ended.
struct Placed {
    hub: usize,
    waits: usize,
    ended: Instant,
}

impl Assigned {
    /// The hub of the lane waking on `wake_key` for a wait starting now, given one if it has
    /// none yet; [`Assigned::ended`] must follow when the wait ends.
    fn start(&mut self, wake_key: &str) -> usize {
        if let Some(placed) = self.hub_of.get_mut(wake_key) {
            placed.waits += 1;
            return placed.hub;
        }
        self.forget_idle();
        let hub = (0..MAX_HUBS)
            .find(|&h| self.lanes[h] < KEYS_PER_HUB)
            .unwrap_or_else(|| (0..MAX_HUBS).min_by_key(|&h| self.lanes[h]).unwrap_or(0));
        self.lanes[hub] += 1;
        let placed = Placed {
            hub,
            waits: 1,
            ended: Instant::now(),
        };
        self.hub_of.insert(wake_key.to_string(), placed);
        hub
    }

    /// Notes that a wait of the lane waking on `wake_key` ended.
    fn ended(&mut self, wake_key: &str) {
        if let Some(placed) = self.hub_of.get_mut(wake_key) {
            placed.waits = placed.waits.saturating_sub(1);
            placed.ended = Instant::now();
        }
    }

    /// Drops the lanes that have not waited for [`FORGET_AFTER`]: they leave room on their hubs.
    fn forget_idle(&mut self) {
        let lanes = &mut self.lanes;
        self.hub_of.retain(|_, placed| {
            let keep = placed.waits > 0 || placed.ended.elapsed() < FORGET_AFTER;
            if !keep {
                lanes[placed.hub] -= 1;
            }
            keep
        });
    }
}

/// Tells the lane's placement that its wait ended, however the wait ended (a wait is dropped
/// when its pool stops).
struct WaitEnds<'a> {
    assigned: &'a Mutex<Assigned>,
    wake_key: &'a str,
}

impl Drop for WaitEnds<'_> {
    fn drop(&mut self) {
        self.assigned.lock().ended(self.wake_key);
    }
}

impl WaitHubs {
    pub(crate) fn new() -> Self {
        Self {
            hubs: std::array::from_fn(|_| WaitHub::new()),
            assigned: Mutex::default(),
        }
    }

    /// Waits on the lane's hub (see [`WaitHub::wait`]).
    pub(crate) async fn wait(
        &self,
        wake_key: &str,
        due_check: DueCheck,
        timeout: Option<Duration>,
        inner: &Arc<Inner>,
    ) {
        let hub = self.assigned.lock().start(wake_key);
        let _ends = WaitEnds {
            assigned: &self.assigned,
            wake_key,
        };
        self.hubs[hub]
            .wait(wake_key, due_check, timeout, inner)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_fill_a_hub_before_the_next_opens_and_keep_theirs() {
        let mut assigned = Assigned::default();
        let key = |i: usize| format!("lane{i}:wake");
        for i in 0..KEYS_PER_HUB {
            assert_eq!(assigned.start(&key(i)), 0);
        }
        assert_eq!(assigned.start(&key(KEYS_PER_HUB)), 1, "the first is full");
        assert_eq!(assigned.start(&key(3)), 0, "a lane keeps its hub");
        assert_eq!(assigned.lanes[..2], [KEYS_PER_HUB, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_that_stopped_waiting_leave_room_on_their_hubs() {
        let mut assigned = Assigned::default();
        let key = |i: usize| format!("lane{i}:wake");
        for i in 0..KEYS_PER_HUB {
            assert_eq!(assigned.start(&key(i)), 0);
        }
        // All but lane 0 end their waits; lane 0 goes on waiting.
        for i in 1..KEYS_PER_HUB {
            assigned.ended(&key(i));
        }
        tokio::time::advance(FORGET_AFTER / 2).await;
        assert_eq!(assigned.start(&key(100)), 1, "hub 0 still full");
        tokio::time::advance(FORGET_AFTER).await;
        // Lanes 1.. have not waited for FORGET_AFTER: a new lane finds room on hub 0.
        assert_eq!(assigned.start(&key(101)), 0);
        assert_eq!(assigned.lanes[..2], [2, 1]);
        assert_eq!(assigned.hub_of.len(), 3, "lanes 0, 100 and 101 are left");
        // Lane 0, waiting all along, kept its hub; a forgotten lane that waits again is placed
        // anew, in the room there is.
        assert_eq!(assigned.start(&key(0)), 0);
        assert_eq!(assigned.start(&key(5)), 0);
        assert_eq!(assigned.lanes[..2], [3, 1]);
    }

    #[test]
    fn past_every_hub_full_lanes_go_to_the_one_naming_fewest() {
        let mut assigned = Assigned::default();
        for i in 0..KEYS_PER_HUB * MAX_HUBS {
            assigned.start(&format!("lane{i}"));
        }
        assert_eq!(assigned.lanes, [KEYS_PER_HUB; MAX_HUBS]);
        let more: Vec<usize> = (0..MAX_HUBS + 1)
            .map(|i| assigned.start(&format!("more{i}")))
            .collect();
        assert_eq!(more, [0, 1, 2, 3, 4, 5, 6, 7, 0]);
        assert!(assigned.lanes.iter().all(|&n| n <= KEYS_PER_HUB + 2));
    }
}
