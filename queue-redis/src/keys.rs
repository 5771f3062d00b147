//! Every Redis key the driver uses, named in one place.

use queue_core::Lane;

/// Where one queue's keys live: `{prefix:queue}:...`, one hash tag so every script touches a
/// single Cluster slot.
#[derive(Debug, Clone)]
pub(crate) struct QueueKeys {
    /// `{p:q}`
    tag: String,
}

impl QueueKeys {
    pub(crate) fn new(prefix: &str, queue: &str) -> Self {
        Self {
            tag: format!("{{{prefix}:{queue}}}"),
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.tag)
    }

    /// id -> envelope: header fields and payload (see `lua/lib.lua`), of ready, running and
    /// failed jobs.
    pub(crate) fn data(&self) -> String {
        self.key("data")
    }
    /// id -> envelope of scheduled jobs (delayed or backing off).
    pub(crate) fn later(&self) -> String {
        self.key("later")
    }
    /// id -> last error.
    pub(crate) fn err(&self) -> String {
        self.key("err")
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

    /// The keys of the lane of job `job`: `{p:q}:lane:<job>:<suffix>`. Job names cannot contain
    /// the suffixes' separator in a way that collides: the suffix is always the last component.
    pub(crate) fn lane(&self, job: &str) -> [String; 6] {
        ["ready", "prio", "sched", "active", "leases", "wake"]
            .map(|s| format!("{}:lane:{job}:{s}", self.tag))
    }

    /// Every key of the queue itself (not its lanes).
    pub(crate) fn queue_keys(&self) -> [String; 11] {
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
        ]
    }

    /// The 17 keys every lane script takes, in the order `lua/lib.lua` reads them.
    pub(crate) fn lane_set(&self, job: &str) -> Vec<String> {
        let mut keys = self.queue_keys().to_vec();
        keys.extend(self.lane(job));
        keys
    }
}

/// The set of queue names: `<prefix>:queues` (outside any queue's slot).
pub(crate) fn queues_key(prefix: &str) -> String {
    format!("{prefix}:queues")
}

/// The index of live workers: `{prefix:workers}` (a ZSET of ids by expiry).
pub(crate) fn workers_key(prefix: &str) -> String {
    format!("{{{prefix}:workers}}")
}

/// One live worker's record: `{prefix:workers}:<id>`, in the index's slot.
pub(crate) fn worker_key(prefix: &str, id: &str) -> String {
    format!("{{{prefix}:workers}}:{id}")
}

/// The key set of a lane, computed once and cached by the driver.
#[derive(Debug)]
pub(crate) struct LaneKeys {
    pub(crate) all: Vec<String>,
}

impl LaneKeys {
    pub(crate) fn new(prefix: &str, lane: &Lane) -> Self {
        Self {
            all: QueueKeys::new(prefix, lane.queue()).lane_set(lane.job()),
        }
    }

    pub(crate) fn wake(&self) -> &str {
        &self.all[16]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = QueueKeys::new("app", "mail").lane_set("send_welcome");
        assert_eq!(keys.len(), 17);
        assert!(keys.iter().all(|k| k.starts_with("{app:mail}:")));
        assert_eq!(keys[9], "{app:mail}:lost");
        assert_eq!(keys[11], "{app:mail}:lane:send_welcome:ready");
        assert_eq!(keys[16], "{app:mail}:lane:send_welcome:wake");
    }
}
