//! Wrappers of the scripts of keyed lanes (`lua/keyed.lua` and the scripts it is prepended
//! to): the keyed enqueue, the keyed reserve, postponing a job with its key's pause, and
//! letting keys held by their concurrency start again.

use std::time::Duration;

use queue_core::{Dispatched, Lease, LimitSpec, Result};
use redis::Script;

use super::jobs::{Enqueue, Reserve, ReserveReply};
use super::{delay_ms, integer, lane_call, ms, ScriptCall, Scripts};
use crate::connection::Commands;
use crate::keys::LaneKeys;

/// A keyed lane's script (`lib.lua`, `keyed.lua`, then the script's own file).
macro_rules! keyed_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../../lua/lib.lua"),
            "\n",
            include_str!("../../lua/keyed.lua"),
            "\n",
            include_str!(concat!("../../lua/", $file))
        ))
    };
}

/// The keyed lane scripts, built once per driver.
#[derive(Debug)]
pub(crate) struct KeyedScripts {
    enqueue: Script,
    reserve: Script,
    postpone: Script,
    released: Script,
}

impl KeyedScripts {
    pub(super) fn new() -> Self {
        Self {
            // enqueue.lua's body as a function, so a keyed job is stored as any other.
            enqueue: Script::new(concat!(
                include_str!("../../lua/lib.lua"),
                "\n",
                include_str!("../../lua/keyed.lua"),
                "\nlocal function plain_enqueue()\n",
                include_str!("../../lua/enqueue.lua"),
                "\nend\n",
                include_str!("../../lua/keyed_enqueue.lua")
            )),
            reserve: keyed_script!("keyed_reserve.lua"),
            postpone: keyed_script!("keyed_postpone.lua"),
            released: keyed_script!("keyed_released.lua"),
        }
    }
}

/// A call of a keyed lane script: the lane's key set, then its keyed keys.
fn keyed_call<'s>(script: &'s Script, keys: &LaneKeys, keyed: &[String; 6]) -> ScriptCall<'s> {
    let mut inv = lane_call(script, keys);
    for key in keyed {
        inv.key(key);
    }
    inv
}

/// `keyed_enqueue.lua`: an [`Enqueue`] of jobs that each have a rate key.
pub(crate) struct EnqueueKeyed<'a> {
    pub(crate) enqueue: Enqueue<'a>,
    pub(crate) keyed: &'a [String; 6],
}

impl EnqueueKeyed<'_> {
    pub(crate) async fn call(
        self,
        scripts: &Scripts,
        conn: &Commands,
        out: &mut Vec<Dispatched>,
    ) -> Result<()> {
        let mut inv = keyed_call(&scripts.keyed.enqueue, self.enqueue.keys, self.keyed);
        inv.key(self.enqueue.keys.revoked());
        self.enqueue.args(&mut inv, false, None);
        for job in self.enqueue.jobs {
            inv.arg(job.spec().key.unwrap_or(""));
        }
        let reply = conn.invoke(&inv).await?;
        self.enqueue.read(reply, out)
    }
}

/// `keyed_reserve.lua`: a [`Reserve`] of a keyed lane within `limits`, held per key.
pub(crate) struct ReserveKeyed<'a> {
    pub(crate) reserve: Reserve<'a>,
    pub(crate) keyed: &'a [String; 6],
    pub(crate) limits: &'a LimitSpec,
}

impl ReserveKeyed<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<ReserveReply> {
        let mut inv = keyed_call(&scripts.keyed.reserve, self.reserve.keys, self.keyed);
        self.reserve.args(&mut inv);
        let (count, per) = self
            .limits
            .rate
            .map_or((0, 0), |rate| (rate.count(), ms(rate.per()).max(1)));
        inv.arg(count)
            .arg(per)
            .arg(self.limits.concurrency.unwrap_or(0));
        let reply = conn.invoke(&inv).await?;
        self.reserve.read(reply)
    }
}

/// `keyed_postpone.lua`: puts a running keyed job back for later without spending its
/// attempt, and pauses its key as long.
pub(crate) struct PostponeKey<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) keyed: &'a [String; 6],
    pub(crate) lease: &'a Lease,
    pub(crate) delay: Duration,
}

impl PostponeKey<'_> {
    /// Whether the lease was current (else nothing changed).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<bool> {
        let mut inv = keyed_call(&scripts.keyed.postpone, self.keys, self.keyed);
        inv.arg(self.lease.id.as_str())
            .arg(self.lease.token)
            .arg(delay_ms(self.delay));
        Ok(integer(conn, &inv).await? == Some(1))
    }
}

/// `keyed_released.lua`: lets keys held by their concurrency that have a free slot start
/// again, waking a blocked worker.
pub(crate) struct ReleasedKeyed<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) keyed: &'a [String; 6],
    pub(crate) limits: &'a LimitSpec,
}

impl ReleasedKeyed<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<()> {
        let mut inv = keyed_call(&scripts.keyed.released, self.keys, self.keyed);
        inv.arg(self.limits.concurrency.unwrap_or(u32::MAX));
        integer(conn, &inv).await?;
        Ok(())
    }
}
