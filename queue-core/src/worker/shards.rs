//! Handlers whose lanes are split into shards: one pool per shard, the shards of a lane
//! sharing the handler's concurrency.
//!
//! Each shard's pool reserves from its shard and, once the shard is drained, blocks on it, so
//! every shard has a waiting fetch loop and a job dispatched to any of them is taken at once.
//! The pools of one lane take their slots from one fair semaphore: when every slot is busy, a
//! freed slot goes to the pools in the order they asked, so a busy shard cannot starve the
//! others, and the handler runs at most its concurrency of jobs at once over all its shards.
//! One reserve takes at most a shard's share of the slots, so the shards of a busy lane
//! reserve batches of like size (and their storage does like work per job).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::job::{shard_queue, Lane};
use crate::registry::Registration;
use crate::sharding::Sharding;

/// A lane a pool serves, and the slots it shares with the other shards of its lane with their
/// number (`None` for an unsharded lane: the pool makes its own).
pub(super) type ServedLane = (&'static Registration, Lane, Option<(Arc<Semaphore>, usize)>);

/// Replaces each sharded handler's lane with its shards' lanes, those of one lane sharing a
/// semaphore of `concurrency_of` the handler's slots. Refuses handlers that combine shards
/// with a schedule or with limits kept across workers, which are kept per lane.
pub(super) fn expand(
    lanes: Vec<(&'static Registration, Lane)>,
    sharding: &Sharding,
    concurrency_of: impl Fn(&'static Registration) -> usize,
    limited: impl Fn(&'static Registration) -> bool,
) -> Result<Vec<ServedLane>> {
    let mut out = Vec::with_capacity(lanes.len());
    for (registration, lane) in lanes {
        let def = registration.definition;
        let count = sharding.count(def.name, def.shards);
        if count <= 1 {
            out.push((registration, lane, None));
            continue;
        }
        let refuse = |what: &str| Error::InvalidConfig {
            reason: format!(
                "handler `{}` splits its lane into {count} shards and has {what}, which is kept \
                 per lane: use one or the other",
                def.handler
            ),
        };
        if def.cron.is_some() {
            return Err(refuse("a schedule (cron)"));
        }
        if limited(registration) {
            return Err(refuse("limits across workers (rate or global_concurrency)"));
        }
        let slots = Arc::new(Semaphore::new(concurrency_of(registration).max(1)));
        for index in 0..count {
            let queue = shard_queue(lane.queue(), index, count);
            let shard = Lane::new(&queue, lane.job())?;
            out.push((
                registration,
                shard,
                Some((slots.clone(), usize::from(count))),
            ));
        }
    }
    // Pools stay sorted by lane, a queue's next to each other.
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}
