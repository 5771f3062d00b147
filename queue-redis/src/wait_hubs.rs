//! Spreads the idle lanes of a process over a few shared blocking connections
//! ([`WaitHub`]s): a `BLPOP` naming many keys costs the server time for each key when it
//! blocks and again when it is woken (about 190 µs for 200 keys against 15 µs for one, on the
//! bench machine), and every wake-up re-blocks the connection it came through. A lane is
//! given, at its first wait and for good, the first hub that names fewer than
//! [`KEYS_PER_HUB`] lanes, else the one naming fewest; at most [`MAX_HUBS`] hubs open. So a
//! process with a handful of handlers holds one blocking connection, one with 200 holds
//! eight, each naming 25 keys, and its blocking connections stay bounded however many
//! handlers it runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::wait_hub::{DueCheck, WaitHub};
use crate::Inner;

/// Lanes a hub takes before the next one opens.
const KEYS_PER_HUB: usize = 16;
/// The most hubs (blocking connections) a process opens for its idle lanes.
const MAX_HUBS: usize = 8;

/// The hubs and which lane waits through which.
pub(crate) struct WaitHubs {
    hubs: [WaitHub; MAX_HUBS],
    assigned: Mutex<Assigned>,
}

/// Lanes by wake key and how many each hub was given.
#[derive(Default)]
struct Assigned {
    hub_of: HashMap<String, usize>,
    lanes: [usize; MAX_HUBS],
}

impl Assigned {
    /// The hub of the lane waking on `wake_key`, given one if it has none yet.
    fn hub(&mut self, wake_key: &str) -> usize {
        if let Some(&hub) = self.hub_of.get(wake_key) {
            return hub;
        }
        let hub = (0..MAX_HUBS)
            .find(|&h| self.lanes[h] < KEYS_PER_HUB)
            .unwrap_or_else(|| (0..MAX_HUBS).min_by_key(|&h| self.lanes[h]).unwrap_or(0));
        self.lanes[hub] += 1;
        self.hub_of.insert(wake_key.to_string(), hub);
        hub
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
        let hub = self.assigned.lock().hub(wake_key);
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
            assert_eq!(assigned.hub(&key(i)), 0);
        }
        assert_eq!(assigned.hub(&key(KEYS_PER_HUB)), 1, "the first is full");
        assert_eq!(assigned.hub(&key(3)), 0, "a lane keeps its hub");
        assert_eq!(assigned.lanes[..2], [KEYS_PER_HUB, 1]);
    }

    #[test]
    fn past_every_hub_full_lanes_go_to_the_one_naming_fewest() {
        let mut assigned = Assigned::default();
        for i in 0..KEYS_PER_HUB * MAX_HUBS {
            assigned.hub(&format!("lane{i}"));
        }
        assert_eq!(assigned.lanes, [KEYS_PER_HUB; MAX_HUBS]);
        let more: Vec<usize> = (0..MAX_HUBS + 1)
            .map(|i| assigned.hub(&format!("more{i}")))
            .collect();
        assert_eq!(more, [0, 1, 2, 3, 4, 5, 6, 7, 0]);
        assert!(assigned.lanes.iter().all(|&n| n <= KEYS_PER_HUB + 2));
    }
}
