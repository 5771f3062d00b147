//! Shards of a lane: where the jobs of a handler split over many storage queues go.
//!
//! A handler declared with `shards = n` (n ≥ 2) keeps its jobs of queue `q` in `n` storage
//! queues, `q@shard-0-of-n` to `q@shard-<n-1>-of-n`, each an ordinary queue to the drivers (on
//! Redis, each has its own hash tag, so the shards spread over a cluster's masters). Nothing
//! here touches storage: these are the names, the rule that reads them back, and the ids given
//! to sharded jobs, which say their shard.

use std::fmt::Write as _;

/// Most shards a lane may be split into.
pub const MAX_SHARDS: u16 = 256;

/// What separates a queue's name from its shard's number in a shard's storage queue.
const MARK: &str = "@shard-";

/// The storage queue of shard `index` of `count` of queue `queue`: `queue` itself when `count`
/// is 1 (an unsharded lane), else `<queue>@shard-<index>-of-<count>`.
pub fn shard_queue(queue: &str, index: u16, count: u16) -> String {
    if count <= 1 {
        return queue.to_string();
    }
    format!("{queue}{MARK}{index}-of-{count}")
}

/// Reads a shard's storage queue name back: its queue, its index and the number of shards,
/// or `None` for a name that is not a shard's.
pub fn parse_shard_queue(name: &str) -> Option<(&str, u16, u16)> {
    let at = name.rfind(MARK)?;
    let (queue, rest) = (&name[..at], &name[at + MARK.len()..]);
    let (index, count) = rest.split_once("-of-")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if queue.is_empty() || !digits(index) || !digits(count) {
        return None;
    }
    let (index, count): (u16, u16) = (index.parse().ok()?, count.parse().ok()?);
    // Only the names `shard_queue` makes: no leading zeros, index below count.
    (index < count && (2..=MAX_SHARDS).contains(&count) && shard_queue(queue, index, count) == name)
        .then_some((queue, index, count))
}

/// The id of a sharded job that was given none: `s<index>.<16 hex digits>`, unique across
/// processes by `seed` (random per process) and `serial` (counted per process). Generated ids
/// of unsharded jobs are numbers, so these never collide with them, and they fit inline in a
/// [`JobId`](super::JobId).
pub(crate) fn shard_job_id(index: u16, seed: u64, serial: u64) -> String {
    let mut id = String::with_capacity(22);
    let _ = write!(id, "s{index}.{:016x}", seed.wrapping_add(serial));
    id
}

/// The shard a job id made by [`shard_job_id`] names, if it is one.
pub(crate) fn shard_of_id(id: &str) -> Option<u16> {
    let (index, rest) = id.strip_prefix('s')?.split_once('.')?;
    if rest.len() != 16 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    index.parse().ok()
}

/// The shard of `count` that a key with fingerprint `key` ([`crate::hash::fingerprint`])
/// picks: the same key picks the same shard in every process.
pub(crate) fn shard_for_key(key: u128, count: u16) -> u16 {
    (key % u128::from(count.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::validate_name;

    #[test]
    fn shard_names_read_back() {
        assert_eq!(shard_queue("mail", 0, 1), "mail");
        let name = shard_queue("mail", 2, 3);
        assert_eq!(name, "mail@shard-2-of-3");
        assert!(validate_name("queue name", &name).is_ok());
        assert_eq!(parse_shard_queue(&name), Some(("mail", 2, 3)));
        assert_eq!(
            parse_shard_queue("a@shard-1-of-2@shard-0-of-4"),
            Some(("a@shard-1-of-2", 0, 4))
        );
        for not in [
            "mail",
            "mail@shard-3-of-3",
            "mail@shard-01-of-3",
            "mail@shard-0-of-1",
            "@shard-0-of-2",
            "mail@shard-x-of-2",
            "mail@shard-0-of-999",
        ] {
            assert_eq!(parse_shard_queue(not), None, "{not}");
        }
    }

    #[test]
    fn generated_ids_name_their_shard() {
        let id = shard_job_id(7, u64::MAX, 2);
        assert_eq!(id, "s7.0000000000000001");
        assert!(id.len() <= 22);
        assert_eq!(shard_of_id(&id), Some(7));
        assert_eq!(shard_of_id("17"), None);
        assert_eq!(shard_of_id("s1.abc"), None);
        assert_eq!(shard_for_key(10, 4), 2);
        assert_eq!(shard_for_key(10, 1), 0);
    }
}
