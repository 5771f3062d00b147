//! Every Redis key the driver uses, named in one place: [`Keys`] makes them all.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use queue_core::{parse_shard_queue, Lane};

/// Most lanes whose key names are kept computed; past it the cache starts over.
const MAX_CACHED_LANES: usize = 1024;

/// Redis Cluster's number of hash slots.
const SLOTS: u32 = 16384;

/// A field `lua/complete.lua` keeps in [`QueueKeys::done_times`] (as `SENTINEL` of
/// `lua/lib.lua`): longer than a field of Redis's flat hash encoding may be, it keeps the hash
/// hashed, where a write does not scan the whole hash. It also marks the kept list as oldest
/// first (`lua/done_order.lua`; passed to `list_done.lua` and `clean.lua`), so it must stay
/// even where the encoding would not need it. Its spaces make it no job id.
pub(crate) const HASHED_SENTINEL: &str =
    "sentinel: keeps this key in the hashed encoding (queue-redis lua/lib.lua)";

/// The key names of one key prefix: the set of queue names, the worker index and records,
/// each queue's keys, and each lane's key set (computed once and cached, at most
/// [`MAX_CACHED_LANES`]).
#[derive(Debug)]
pub(crate) struct Keys {
    prefix: String,
    lanes: Mutex<HashMap<Lane, Arc<LaneKeys>>>,
    /// The hash tags of shard queues, computed once (see [`Keys::queue`]).
    shard_tags: Mutex<HashMap<String, String>>,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            lanes: Mutex::new(HashMap::new()),
            shard_tags: Mutex::new(HashMap::new()),
        }
    }

    /// The set of queue names: `<prefix>:queues` (outside any queue's slot).
    pub(crate) fn queues(&self) -> String {
        format!("{}:queues", self.prefix)
    }

    /// The index of live workers: `{prefix:workers}` (a ZSET of ids by expiry).
    pub(crate) fn workers(&self) -> String {
        format!("{{{}:workers}}", self.prefix)
    }

    /// One live worker's record: `{prefix:workers}:<id>`, in the index's slot.
    pub(crate) fn worker(&self, id: &str) -> String {
        format!("{{{}:workers}}:{id}", self.prefix)
    }

    /// The set of workflows not known to have ended: `<prefix>:flows` (outside any slot).
    pub(crate) fn flows(&self) -> String {
        format!("{}:flows", self.prefix)
    }

    /// The keys of workflow `id`, in its own hash tag `{prefix#flow:<id>}` (`#` cannot appear
    /// in a queue name, so no queue's tag is ever a workflow's), in the order of
    /// `lua/flow_lib.lua`.
    pub(crate) fn flow(&self, id: &str) -> Vec<String> {
        let tag = format!("{{{}#flow:{id}}}", self.prefix);
        FLOW_KEYS
            .iter()
            .map(|suffix| format!("{tag}:{suffix}"))
            .collect()
    }

    /// The keys of queue `queue` (a name already validated): tagged `{prefix:queue}`, or,
    /// for shard `i` of `n` of a sharded lane (`<queue>@shard-<i>-of-<n>`), `{prefix:queue#k}`
    /// with the smallest `k` that puts the tag in the `i`-th of `n` equal ranges of hash slots.
    /// A cluster whose masters hold equal ranges (as `redis-cli --cluster create` makes them)
    /// so holds the shards of a lane split over as many shards as it has masters one per
    /// master. (`#` is not allowed in queue names, so such a tag is no other queue's.)
    pub(crate) fn queue(&self, queue: &str) -> QueueKeys {
        let Some((_, index, count)) = parse_shard_queue(queue) else {
            return QueueKeys {
                tag: format!("{{{}:{queue}}}", self.prefix),
            };
        };
        let mut tags = self.shard_tags.lock();
        if let Some(tag) = tags.get(queue) {
            return QueueKeys { tag: tag.clone() };
        }
        let tag = balanced_tag(&format!("{}:{queue}", self.prefix), index, count);
        if tags.len() >= MAX_CACHED_LANES {
            tags.clear();
        }
        tags.insert(queue.to_string(), tag.clone());
        QueueKeys { tag }
    }

    /// The key set of `lane`, from the cache.
    pub(crate) fn lane(&self, lane: &Lane) -> Arc<LaneKeys> {
        let mut lanes = self.lanes.lock();
        if let Some(keys) = lanes.get(lane) {
            return keys.clone();
        }
        let keys = Arc::new(self.queue(lane.queue()).lane(lane.job()));
        if lanes.len() >= MAX_CACHED_LANES {
            lanes.clear();
        }
        lanes.insert(lane.clone(), keys.clone());
        keys
    }
}

/// A workflow's keys, after its tag, in the order of `lua/flow_lib.lua`'s KEYS.
const FLOW_KEYS: [&str; 17] = [
    "meta", "steps", "st", "pend", "spec", "pay", "res", "err", "joins", "jn", "ready", "roots",
    "handing", "cascade", "bad", "skip", "floor",
];

/// The hash slot of a hash tag's content, as Redis Cluster computes it.
pub(crate) fn slot(tag: &str) -> u16 {
    (crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes()) as u32 % SLOTS) as u16
}

/// `{<base>#<k>}` for the smallest `k` whose slot is in the `index`-th of `count` equal ranges
/// of slots. About `count` tries on average; a range holds at least 64 slots, so one is found.
fn balanced_tag(base: &str, index: u16, count: u16) -> String {
    let (index, count) = (u32::from(index), u32::from(count.max(1)));
    let range = (SLOTS * index / count)..(SLOTS * (index + 1) / count);
    (0u64..)
        .map(|k| format!("{base}#{k}"))
        .find(|tag| range.contains(&u32::from(slot(tag))))
        .map(|tag| format!("{{{tag}}}"))
        .expect("every range of slots is hit by some tag")
}

/// Where one queue's keys live: `{prefix:queue}:...`, one hash tag so every script touches a
/// single Cluster slot.
#[derive(Debug, Clone)]
pub(crate) struct QueueKeys {
    /// `{p:q}`
    tag: String,
}

impl QueueKeys {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.tag)
    }

    /// id -> envelope: header fields and payload (see `lua/lib.lua`), of ready, running and
    /// failed jobs.
    pub(crate) fn data(&self) -> String {
        self.key("data")
    }
    /// A mark a durable dispatch writes right before its `WAIT`, in the same request (see
    /// [`durable`](crate::durable)).
    pub(crate) fn replicated(&self) -> String {
        self.key("replicated")
    }
    /// id -> envelope of scheduled jobs (delayed or backing off).
    pub(crate) fn later(&self) -> String {
        self.key("later")
    }
    /// id -> last error.
    pub(crate) fn err(&self) -> String {
        self.key("err")
    }
    /// id -> error history: the last `queue_core::MAX_ERRORS_KEPT` errors, oldest first (the
    /// format is in `lua/lib.lua`, read by `record::parse_errors`). Written only by failures
    /// and the reaper, with `err`: a job with a history always has a last error.
    pub(crate) fn errs(&self) -> String {
        self.key("errs")
    }
    /// id -> payload of a job whose payload was too big to pass through the scripts
    /// ([`RedisOptions::large_payload`](crate::RedisOptions::large_payload)): one byte saying
    /// how it is stored, then the bytes (`src/bodies.rs`). Its envelope's payload is empty.
    /// Written by the client beside the enqueue script, deleted with the job's other records.
    pub(crate) fn body(&self) -> String {
        self.key("body")
    }
    /// id -> progress JSON.
    pub(crate) fn prog(&self) -> String {
        self.key("prog")
    }
    /// Failed ids, newest first.
    pub(crate) fn failed(&self) -> String {
        self.key("failed")
    }
    /// Present while the queue is paused.
    pub(crate) fn paused(&self) -> String {
        self.key("paused")
    }
    /// Job id and sequence counter.
    pub(crate) fn seq(&self) -> String {
        self.key("seq")
    }
    /// Fencing token counter.
    pub(crate) fn tok(&self) -> String {
        self.key("tok")
    }
    /// Job names that have lanes in this queue.
    pub(crate) fn lanes(&self) -> String {
        self.key("lanes")
    }
    /// id -> how many times the job lost its lease (written only by the reaper).
    pub(crate) fn lost(&self) -> String {
        self.key("lost")
    }
    /// id -> dispatch sequence, for jobs with chosen ids (a numbered id is its own sequence).
    pub(crate) fn order(&self) -> String {
        self.key("order")
    }

    /// Completed jobs kept (`queue_core::Keep`), newest at the tail (a LIST of ids; '' where a
    /// deleted job was, so that positions stay). Their envelopes stay in `data`.
    pub(crate) fn done(&self) -> String {
        self.key("donelist")
    }
    /// Kept results: id -> JSON.
    pub(crate) fn results(&self) -> String {
        self.key("results")
    }
    /// When kept results expire: id -> ms (a ZSET); reads ignore expired ones.
    pub(crate) fn result_expiry(&self) -> String {
        self.key("resexp")
    }
    /// The kept completed jobs' times: id -> "finished ms:started ms" (a hash; the start of the
    /// run that completed, empty when not recorded). A job is completed while it is here. It
    /// also holds [`HASHED_SENTINEL`], which is not a job.
    pub(crate) fn done_times(&self) -> String {
        self.key("donetime")
    }
    /// How many ids were ever pushed onto `done` (a counter): a kept job's position, counted
    /// from the oldest, stays the same while newer ones are pushed and older ones trimmed.
    pub(crate) fn done_pushed(&self) -> String {
        self.key("donepushed")
    }
    /// The keys of what is kept after success: done, results, result expiry, done times, done
    /// pushes.
    pub(crate) fn kept(&self) -> [String; 5] {
        [
            self.done(),
            self.results(),
            self.result_expiry(),
            self.done_times(),
            self.done_pushed(),
        ]
    }
    /// Jobs cancelled while they ran: id -> their failure time in ms (a ZSET); a job is
    /// cancelled while it is failed at that time.
    pub(crate) fn cancelled(&self) -> String {
        self.key("cancelled")
    }
    /// Ids of jobs deleted, purged or cancelled and purged while their run could still go on:
    /// id -> when that run's lease would have ended, in ms (a ZSET, written by `delete.lua` and
    /// `purge.lua`); a dispatch of such an id waits until then (`enqueue.lua`). Also `#<id>` for
    /// a unique job held back by such a run, with the same time: a job after it with its
    /// unique key waits as long (`enqueue_unique.lua`).
    pub(crate) fn revoked(&self) -> String {
        self.key("revoked")
    }
    /// The lock of unique key `key` in the lane of job `job` (a string holding the id of the
    /// job that took it, with a TTL): `{p:q}:unique:<length of job>:<job>:<key>`, the job
    /// name's length keeping names and keys that hold `:` apart.
    pub(crate) fn unique(&self, job: &str, key: &str) -> String {
        self.key(&format!("unique:{}:{job}:{key}", job.len()))
    }
    /// The queue's event log (a stream, capped at about its `max_len`), outside the keys the
    /// scripts take.
    pub(crate) fn events(&self) -> String {
        self.key("events")
    }
    /// A key of the queue's statistics: `{p:q}:stats:<part>` (`totals`, `minutes`, `index`).
    pub(crate) fn stats(&self, part: &str) -> String {
        self.key(&format!("stats:{part}"))
    }

    /// The queue's schedules (recurring jobs): name -> definition JSON (a hash).
    pub(crate) fn schedules(&self) -> String {
        self.key("schedules")
    }
    /// The state of each of the queue's schedules: name -> `created|last tick|fired at|paused`
    /// (ms since the epoch, 0 while unknown; paused 1 or 0), a hash (see
    /// `lua/schedule_put.lua`).
    pub(crate) fn schedule_states(&self) -> String {
        self.key("schedules:state")
    }
    /// Every key of the queue itself (not its lanes), in the order `lua/lib.lua` reads them:
    /// the first 11 start a lane script's KEYS, the last two (`errs`, `body`) end them.
    pub(crate) fn own(&self) -> [String; 13] {
        [
            self.data(),
            self.err(),
            self.prog(),
            self.failed(),
            self.paused(),
            self.seq(),
            self.tok(),
            self.lanes(),
            self.later(),
            self.lost(),
            self.order(),
            self.errs(),
            self.body(),
        ]
    }

    /// The key set of the lane of job `job`: the queue's keys, then the lane's own
    /// `{p:q}:lane:<job>:<suffix>`. Job names cannot contain the suffixes' separator in a way
    /// that collides: the suffix is always the last component.
    pub(crate) fn lane(&self, job: &str) -> LaneKeys {
        let [data, err, prog, failed, paused, seq, tok, lanes, later, lost, order, errs, body] =
            self.own();
        let [ready, prio, sched, active, leases, wake] =
            ["ready", "prio", "sched", "active", "leases", "wake"]
                .map(|s| format!("{}:lane:{job}:{s}", self.tag));
        LaneKeys {
            all: [
                data, err, prog, failed, paused, seq, tok, lanes, later, lost, order, ready, prio,
                sched, active, leases, wake, errs, body,
            ],
            revoked: self.revoked(),
        }
    }
}

impl QueueKeys {
    /// The keys of lane `job`'s limits, used only by lanes whose handlers declare limits:
    /// `{p:q}:lane:<job>:starts` (the rate's window: a ZSET of start times) and
    /// `{p:q}:lane:<job>:pause` (when a pause asked by a handler ends). Both expire on their
    /// own.
    pub(crate) fn limit(&self, job: &str) -> [String; 2] {
        ["starts", "pause"].map(|s| format!("{}:lane:{job}:{s}", self.tag))
    }

    /// The keys of keyed lane `job` (`lua/keyed.lua`), used only by lanes whose handlers take
    /// a rate key: its keyed jobs' lines, its ring of keys, its keys set aside by a window or
    /// pause and by their concurrency, its per-key state and its jobs' keys.
    pub(crate) fn keyed(&self, job: &str) -> [String; 6] {
        ["kjobs", "kring", "kpark", "kfull", "kstate", "kof"]
            .map(|s| format!("{}:lane:{job}:{s}", self.tag))
    }
}

/// The 19 keys every lane script takes, in the order `lua/lib.lua` reads them:
/// `data err prog failed paused seq tok lanes later lost order` (the queue's, see
/// [`QueueKeys::own`]), then `ready prio sched active leases wake` (the lane's own), then
/// `errs` and `body` (the queue's error histories and big payloads, added after the others so
/// the first 17 keep their places).
#[derive(Debug)]
pub(crate) struct LaneKeys {
    all: [String; 19],
    /// The queue's revoked set ([`QueueKeys::revoked`]), the last key of the enqueue scripts.
    revoked: String,
}

impl LaneKeys {
    /// Where the lane's own keys start in [`LaneKeys::all`].
    const OWN: usize = 11;
    /// Where they end.
    const OWN_END: usize = 17;

    /// Every key, in the order of `lua/lib.lua` (a lane script's KEYS).
    pub(crate) fn all(&self) -> &[String] {
        &self.all
    }

    /// The queue's revoked set ([`QueueKeys::revoked`]), which the enqueue scripts take last.
    pub(crate) fn revoked(&self) -> &str {
        &self.revoked
    }

    /// The lane's own keys (not its queue's): ready, prio, sched, active, leases, wake.
    pub(crate) fn own(&self) -> &[String] {
        &self.all[Self::OWN..Self::OWN_END]
    }

    /// Ready ids of priority 0, FIFO (a list).
    pub(crate) fn ready(&self) -> &str {
        &self.all[Self::OWN]
    }
    /// Ready ids of other priorities (a ZSET).
    pub(crate) fn prio(&self) -> &str {
        &self.all[Self::OWN + 1]
    }
    /// Delayed and backing-off ids by due time in ms (a ZSET).
    pub(crate) fn sched(&self) -> &str {
        &self.all[Self::OWN + 2]
    }
    /// Running ids, scored by their lease's fencing token (a ZSET, with a sentinel at 0).
    pub(crate) fn active(&self) -> &str {
        &self.all[Self::OWN + 3]
    }
    /// At most one pending wake-up for blocked workers (a list).
    pub(crate) fn wake(&self) -> &str {
        &self.all[Self::OWN + 5]
    }
    /// Lease deadlines of the lane's running reserve batches (a ZSET, token -> ms).
    pub(crate) fn leases(&self) -> &str {
        &self.all[Self::OWN + 4]
    }
    /// The queue's job id and sequence counter (see [`QueueKeys::seq`]).
    pub(crate) fn seq(&self) -> &str {
        &self.all[5]
    }
    /// The queue's payloads stored beside their envelopes (see [`QueueKeys::body`]).
    pub(crate) fn body(&self) -> &str {
        &self.all[18]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashed_sentinel_is_the_scripts_and_too_long_for_a_flat_hash() {
        let lib = include_str!("../lua/lib.lua");
        assert!(lib.contains(&format!("local SENTINEL = '{HASHED_SENTINEL}'")));
        // Redis's default hash-max-listpack-value and zset-max-listpack-value.
        assert!(HASHED_SENTINEL.len() > 64);
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::new("app");
        let lane = keys.lane(&Lane::new("mail", "send_welcome").unwrap());
        assert_eq!(lane.all().len(), 19);
        assert!(lane.all().iter().all(|k| k.starts_with("{app:mail}:")));
        assert_eq!(lane.all()[9], "{app:mail}:lost");
        assert_eq!(lane.all()[11], "{app:mail}:lane:send_welcome:ready");
        assert_eq!(lane.all()[16], "{app:mail}:lane:send_welcome:wake");
        assert_eq!(lane.all()[17], "{app:mail}:errs");
        assert_eq!(lane.ready(), "{app:mail}:lane:send_welcome:ready");
        assert_eq!(lane.prio(), "{app:mail}:lane:send_welcome:prio");
        assert_eq!(lane.sched(), "{app:mail}:lane:send_welcome:sched");
        assert_eq!(lane.active(), "{app:mail}:lane:send_welcome:active");
        assert_eq!(lane.leases(), "{app:mail}:lane:send_welcome:leases");
        assert_eq!(lane.wake(), "{app:mail}:lane:send_welcome:wake");
        assert_eq!(lane.own().len(), 6);
        assert_eq!(keys.queue("mail").own()[..11], lane.all()[..11]);
        assert_eq!(keys.queue("mail").own()[11..], lane.all()[17..]);
        assert_eq!(lane.body(), "{app:mail}:body");
        assert_eq!(lane.seq(), "{app:mail}:seq");
        assert_eq!(keys.queue("mail").events(), "{app:mail}:events");
        assert_eq!(
            keys.queue("mail").unique("send:x", "k:1"),
            "{app:mail}:unique:6:send:x:k:1"
        );
        assert_eq!(keys.queue("mail").cancelled(), "{app:mail}:cancelled");
    }

    #[test]
    fn shards_of_a_lane_spread_over_the_slot_ranges() {
        let keys = Keys::new("app");
        for count in [2u16, 3, 4, 7] {
            for index in 0..count {
                let name = queue_core::shard_queue("mail", index, count);
                let queue = keys.queue(&name);
                let tag = queue.tag.trim_start_matches('{').trim_end_matches('}');
                assert!(tag.starts_with(&format!("app:{name}#")), "{tag}");
                let slot = u32::from(slot(tag));
                let (i, n) = (u32::from(index), u32::from(count));
                assert!(
                    (SLOTS * i / n..SLOTS * (i + 1) / n).contains(&slot),
                    "shard {index} of {count} in slot {slot}"
                );
                assert_eq!(keys.queue(&name).data(), queue.data(), "cached");
            }
        }
        // Redis's own example (CLUSTER KEYSLOT): the slot of `123456789` is 12739.
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(keys.queue("mail").data(), "{app:mail}:data");
    }

    #[test]
    fn keys_outside_queues() {
        let keys = Keys::new("app");
        assert_eq!(keys.queues(), "app:queues");
        assert_eq!(keys.workers(), "{app:workers}");
        assert_eq!(keys.worker("w1"), "{app:workers}:w1");
    }
}
