//! Job records by key, laid out for a queue's access pattern.
//!
//! Generated ids are consecutive numbers and jobs mostly leave in dispatch order, so records of
//! generated ids sit in a ring indexed by `id - base`: dispatch appends, reserve and ack touch
//! neighbouring memory, and no key is hashed. (A hash map of hundreds of thousands of records
//! costs a cache miss per lookup, which dominated the profile of a deep queue.) A record that
//! outlives many later ones (scheduled far ahead, running long, failed) moves out of the ring to
//! a map once the ring is mostly holes, so the ring stays within twice the records it holds.
//! Records of chosen ids live in that map too, under keys of their own.

use std::collections::VecDeque;

use queue_core::hash::IdHashMap;
use queue_core::JobId;

/// A record's key: the id's number for generated ids, `CHOSEN` and up for chosen ids.
pub(crate) type Key = u64;

/// First key of records with chosen ids; generated ids stay below it.
const CHOSEN: Key = 1 << 63;

/// Holes the ring may hold beyond as many as it has records, before its oldest records move out.
const SPARE_HOLES: usize = 1024;

/// Records of type `R` by key.
#[derive(Debug)]
pub(crate) struct Store<R> {
    /// The key of `ring[0]`; `base + ring.len()` is the next generated id.
    base: Key,
    /// Records of generated ids from `base` on; `None` where a record was removed.
    ring: VecDeque<Option<R>>,
    /// How many of `ring` are `Some`.
    in_ring: usize,
    /// Records moved out of the ring, and records of chosen ids.
    others: IdHashMap<Key, R>,
    /// Keys of chosen ids, and back.
    chosen: IdHashMap<JobId, Key>,
    chosen_ids: IdHashMap<Key, JobId>,
    next_chosen: Key,
}

impl<R> Store<R> {
    pub(crate) fn new() -> Self {
        Self {
            base: 1,
            ring: VecDeque::new(),
            in_ring: 0,
            others: IdHashMap::default(),
            chosen: IdHashMap::default(),
            chosen_ids: IdHashMap::default(),
            next_chosen: CHOSEN,
        }
    }

    /// Stores a record under the next generated id and returns its key.
    pub(crate) fn push(&mut self, record: R) -> Key {
        let key = self.base + self.ring.len() as Key;
        assert!(key < CHOSEN, "generated ids exhausted");
        self.ring.push_back(Some(record));
        self.in_ring += 1;
        key
    }

    /// Stores a record under a chosen id, unless the id is taken: then returns `None`.
    pub(crate) fn insert_chosen(&mut self, id: &JobId, record: R) -> Option<Key> {
        if self.chosen.contains_key(id) {
            return None;
        }
        let key = self.next_chosen;
        self.next_chosen += 1;
        self.chosen.insert(id.clone(), key);
        self.chosen_ids.insert(key, id.clone());
        self.others.insert(key, record);
        Some(key)
    }

    pub(crate) fn contains_chosen(&self, id: &JobId) -> bool {
        self.chosen.contains_key(id)
    }

    /// The key an id would be stored under, if it can be stored at all.
    pub(crate) fn key_of(&self, id: &JobId) -> Option<Key> {
        match generated_number(id.as_str()) {
            Some(n) if n < CHOSEN => Some(n),
            Some(_) => None,
            None => self.chosen.get(id).copied(),
        }
    }

    /// The id of a key.
    pub(crate) fn id_of(&self, key: Key) -> JobId {
        if key < CHOSEN {
            JobId::from(key)
        } else {
            self.chosen_ids
                .get(&key)
                .cloned()
                .expect("a chosen key has its id")
        }
    }

    fn ring_index(&self, key: Key) -> Option<usize> {
        let index = usize::try_from(key.checked_sub(self.base)?).ok()?;
        (index < self.ring.len()).then_some(index)
    }

    pub(crate) fn get(&self, key: Key) -> Option<&R> {
        match self.ring_index(key) {
            Some(index) => self.ring[index].as_ref(),
            None => self.others.get(&key),
        }
    }

    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut R> {
        match self.ring_index(key) {
            Some(index) => self.ring[index].as_mut(),
            None => self.others.get_mut(&key),
        }
    }

    pub(crate) fn remove(&mut self, key: Key) -> Option<R> {
        let Some(index) = self.ring_index(key) else {
            let record = self.others.remove(&key)?;
            if let Some(id) = self.chosen_ids.remove(&key) {
                self.chosen.remove(&id);
            }
            return Some(record);
        };
        let record = self.ring[index].take()?;
        self.in_ring -= 1;
        self.trim();
        Some(record)
    }

    /// Drops holes from the front of the ring, and moves the oldest records out while the ring
    /// is mostly holes.
    fn trim(&mut self) {
        loop {
            let sparse = self.ring.len() > 2 * self.in_ring + SPARE_HOLES;
            match self.ring.front_mut() {
                Some(None) => {}
                Some(front) if sparse => {
                    let record = front.take().expect("front record");
                    self.others.insert(self.base, record);
                    self.in_ring -= 1;
                }
                _ => return,
            }
            self.ring.pop_front();
            self.base += 1;
        }
    }

    /// Removes every record; ids are not reused afterwards.
    pub(crate) fn clear(&mut self) {
        self.base += self.ring.len() as Key;
        self.ring.clear();
        self.in_ring = 0;
        self.others.clear();
        self.chosen.clear();
        self.chosen_ids.clear();
    }
}

/// The number of an id made only of digits (as generated ids are; chosen ones never are).
fn generated_number(id: &str) -> Option<u64> {
    let canonical = !id.is_empty() && (id == "0" || !id.starts_with('0'));
    if !canonical || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_and_chosen_ids_round_trip() {
        let mut store = Store::new();
        let a = store.push("a");
        let b = store.push("b");
        assert_eq!((a, b), (1, 2));
        assert_eq!(store.id_of(b), JobId::from(2));
        assert_eq!(store.key_of(&JobId::from(2)), Some(2));
        let c = store.insert_chosen(&JobId::from("order-1"), "c").unwrap();
        assert!(store
            .insert_chosen(&JobId::from("order-1"), "again")
            .is_none());
        assert_eq!(store.key_of(&JobId::from("order-1")), Some(c));
        assert_eq!(store.id_of(c), JobId::from("order-1"));
        assert_eq!(store.get(c), Some(&"c"));
        assert_eq!(store.remove(c), Some("c"));
        assert!(!store.contains_chosen(&JobId::from("order-1")));
        assert_eq!(store.key_of(&JobId::from("nope")), None);
        assert_eq!(
            store.key_of(&JobId::from("02")),
            None,
            "not how ids are written"
        );
        assert_eq!(store.get(99), None);
    }

    #[test]
    fn removal_in_any_order_keeps_the_rest() {
        let mut store = Store::new();
        let keys: Vec<Key> = (0..100).map(|n| store.push(n)).collect();
        for key in keys.iter().rev().step_by(2) {
            assert_eq!(store.remove(*key), Some((*key - 1) as i32));
        }
        for key in &keys {
            let expected = (key % 2 == 1).then_some((*key - 1) as i32);
            assert_eq!(store.get(*key).copied(), expected);
        }
        assert_eq!(store.remove(keys[1]), None, "removed already");
    }

    #[test]
    fn a_long_lived_record_moves_out_so_the_ring_stays_small() {
        let mut store = Store::new();
        let old = store.push(0u64);
        for n in 1..10_000u64 {
            let key = store.push(n);
            store.remove(key);
        }
        assert!(
            store.ring.len() <= SPARE_HOLES + 2,
            "ring of {}",
            store.ring.len()
        );
        assert_eq!(store.get(old), Some(&0));
        assert_eq!(store.remove(old), Some(0));
        let next = store.push(1);
        assert_eq!(next, 10_001, "ids keep counting");
    }

    #[test]
    fn ids_are_not_reused_after_clear() {
        let mut store = Store::new();
        store.push(());
        store.push(());
        store.clear();
        assert_eq!(store.get(1), None);
        assert_eq!(store.push(()), 3);
    }
}
