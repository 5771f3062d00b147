//! One lane's indexes of job keys by state: ready (FIFO and by priority), scheduled and active.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tokio::sync::Notify;

use super::Record;
use crate::store::Key;

/// Where the ranks of prioritized jobs start (see `LaneState::back`).
const RANK_MIDDLE: u64 = 1 << 62;

/// A lane's indexes of job keys by state.
#[derive(Debug)]
pub(crate) struct LaneState {
    /// The job name.
    pub(super) name: Arc<str>,
    /// Priority 0, FIFO.
    pub(super) ready: VecDeque<Key>,
    /// Other priorities, keyed by (-priority, rank): the first entry runs first.
    pub(super) prioritized: BTreeMap<(i16, u64), Key>,
    /// Ranks handed out at the back (counting up) and the front (counting down) of the
    /// priorities, the same rule as the Redis driver's priority scores. Both start in the
    /// middle of the range.
    pub(super) back: u64,
    pub(super) front: u64,
    /// Keyed by (due time, seq).
    pub(super) scheduled: BTreeMap<(u64, u64), Key>,
    /// Keyed by (lease deadline, token).
    pub(super) active: BTreeMap<(u64, u64), Key>,
    /// Wakes one waiting worker; holds one wake-up when nobody waits.
    pub(crate) notify: Arc<Notify>,
}

impl LaneState {
    pub(super) fn new(name: Arc<str>) -> Self {
        Self {
            name,
            ready: VecDeque::new(),
            prioritized: BTreeMap::new(),
            back: RANK_MIDDLE,
            front: RANK_MIDDLE,
            scheduled: BTreeMap::new(),
            active: BTreeMap::new(),
            notify: Arc::default(),
        }
    }

    pub(super) fn ready_len(&self) -> usize {
        self.ready.len() + self.prioritized.len()
    }

    /// Takes the next ready job: positive priorities, then priority 0, then negative ones.
    pub(super) fn pop_ready(&mut self) -> Option<Key> {
        if let Some(entry) = self.prioritized.first_entry() {
            if entry.key().0 < 0 {
                return Some(entry.remove());
            }
        }
        if let Some(id) = self.ready.pop_front() {
            return Some(id);
        }
        self.prioritized.pop_first().map(|(_, id)| id)
    }

    /// Makes a job ready: at the back of its priority (new, promoted and retried jobs) or the
    /// front (returned jobs; the latest returned runs first).
    pub(super) fn push_ready(&mut self, key: Key, priority: i8, front: bool) {
        if priority == 0 {
            if front {
                self.ready.push_front(key);
            } else {
                self.ready.push_back(key);
            }
            return;
        }
        let rank = if front {
            self.front -= 1;
            self.front
        } else {
            self.back += 1;
            self.back
        };
        self.prioritized.insert((-(priority as i16), rank), key);
    }

    /// Makes jobs returned together ready at the front of their priorities, in the order given:
    /// the first ends up first.
    pub(super) fn push_front_all(&mut self, returned: &[(Key, i8)]) {
        for &(key, priority) in returned.iter().rev() {
            self.push_ready(key, priority, true);
        }
    }

    /// Takes a ready job out of its index (deleting is rare: a scan is fine).
    pub(super) fn remove_ready(&mut self, id: Key, record: &Record) {
        // A keyed job of priority 0 waits in the priority index (its keyed band).
        if record.priority == 0 {
            if let Some(pos) = self.ready.iter().position(|x| *x == id) {
                self.ready.remove(pos);
                return;
            }
        }
        self.prioritized.retain(|_, key| *key != id);
    }

    /// Schedules a job for `due` (dispatch sequence `seq`). Returns whether it is now the lane's
    /// earliest event: a worker sleeping until the earlier one must look again.
    pub(super) fn push_scheduled(&mut self, key: Key, due: u64, seq: u64) -> bool {
        let earliest = self.next_event().is_none_or(|next| due < next);
        self.scheduled.insert((due, seq), key);
        earliest
    }

    /// The earliest due time or lease deadline.
    pub(super) fn next_event(&self) -> Option<u64> {
        let due = self.scheduled.first_key_value().map(|((at, _), _)| *at);
        let deadline = self.active.first_key_value().map(|((at, _), _)| *at);
        match (due, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
