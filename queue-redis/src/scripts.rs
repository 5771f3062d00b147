//! The Lua scripts, one per atomic step, loaded once per driver.

use redis::Script;

macro_rules! lane_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../lua/lib.lua"),
            "\n",
            include_str!(concat!("../lua/", $file))
        ))
    };
}

/// Every script of the driver. `invoke_async` sends EVALSHA and reloads on NOSCRIPT (after a
/// server restart, for instance).
#[derive(Debug)]
pub(crate) struct Scripts {
    pub(crate) enqueue: Script,
    pub(crate) reserve: Script,
    pub(crate) ack: Script,
    pub(crate) fail: Script,
    pub(crate) renew: Script,
    pub(crate) requeue: Script,
    pub(crate) progress: Script,
    pub(crate) reap: Script,
    pub(crate) delete: Script,
    pub(crate) retry_failed: Script,
    pub(crate) purge: Script,
    pub(crate) resume: Script,
    pub(crate) heartbeat: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            enqueue: lane_script!("enqueue.lua"),
            reserve: lane_script!("reserve.lua"),
            ack: lane_script!("ack.lua"),
            fail: lane_script!("fail.lua"),
            renew: lane_script!("renew.lua"),
            requeue: lane_script!("requeue.lua"),
            progress: lane_script!("progress.lua"),
            reap: lane_script!("reap.lua"),
            delete: lane_script!("delete.lua"),
            retry_failed: lane_script!("retry_failed.lua"),
            purge: Script::new(include_str!("../lua/purge.lua")),
            resume: Script::new(include_str!("../lua/resume.lua")),
            heartbeat: Script::new(include_str!("../lua/heartbeat.lua")),
        }
    }
}
