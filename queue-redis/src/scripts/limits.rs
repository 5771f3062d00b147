//! Wrappers of the scripts of lanes with limits: the limited reserve (built from
//! `lua/reserve.lua` with the checks of `lua/limits.lua` put in place of its `-- @limits:`
//! comments, so the plain reserve stays as it is), `lua/postpone.lua` and
//! `lua/released.lua`.

use std::time::Duration;

use queue_core::{Lease, LimitSpec, Result};
use redis::Script;

use super::jobs::{Reserve, ReserveReply};
use super::{delay_ms, integer, lane_call, ms, Scripts};
use crate::connection::Commands;
use crate::keys::LaneKeys;

/// Each `-- @limits:<step>` comment line of `lua/reserve.lua` and the code that replaces it in
/// the limited reserve (the functions are in `lua/limits.lua`).
const HOOKS: [(&str, &str); 3] = [
    (
        "-- @limits:take",
        "n = lim_allow(n, now) if n == 0 then return lim_held({ next_due(), 0, acked, poisoned }, now) end",
    ),
    // Setting `n` back to what was asked makes a reserve held back by the limits answer with
    // its next due time, and wake no other worker.
    (
        "-- @limits:taken",
        "lim_taken(out, now, tok_text) n = lim_asked",
    ),
    ("-- @limits:reply", "lim_held(out, now)"),
];

/// The source of the limited reserve: `lib.lua`, `limits.lua`, then `reserve.lua` with each
/// hook comment line replaced.
pub(super) fn limited_reserve_source() -> String {
    let reserve = include_str!("../../lua/reserve.lua");
    let mut body = String::with_capacity(reserve.len() + 512);
    let mut found = [0; HOOKS.len()];
    for line in reserve.lines() {
        // A hook line is its mark, alone or followed by a space and a comment.
        let mark = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
        match HOOKS.iter().position(|(hook, _)| *hook == mark) {
            Some(i) => {
                found[i] += 1;
                body.push_str(HOOKS[i].1);
            }
            None => body.push_str(line),
        }
        body.push('\n');
    }
    assert_eq!(
        found,
        [1; HOOKS.len()],
        "lua/reserve.lua holds each `-- @limits:` hook once"
    );
    format!(
        "{}\n{}\n{}",
        include_str!("../../lua/lib.lua"),
        include_str!("../../lua/limits.lua"),
        body
    )
}

/// The limited reserve: a [`Reserve`] within `limits`, with the lane's limit keys.
pub(crate) struct ReserveLimited<'a> {
    pub(crate) reserve: Reserve<'a>,
    /// The lane's starts and pause keys (`LaneLimitKeys`).
    pub(crate) limit_keys: &'a [String; 2],
    pub(crate) limits: &'a LimitSpec,
}

impl ReserveLimited<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<ReserveReply> {
        let mut inv = lane_call(&scripts.reserve_limited, self.reserve.keys);
        inv.key(&self.limit_keys[0]).key(&self.limit_keys[1]);
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

/// `postpone.lua`: puts a running job back for later without spending its attempt, and
/// pauses the lane's limited reserves as long.
pub(crate) struct Postpone<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) limit_keys: &'a [String; 2],
    pub(crate) lease: &'a Lease,
    pub(crate) delay: Duration,
}

impl Postpone<'_> {
    /// Whether the lease was current (else nothing changed).
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<bool> {
        let mut inv = lane_call(&scripts.postpone, self.keys);
        inv.key(&self.limit_keys[1]);
        inv.arg(self.lease.id.as_str())
            .arg(self.lease.token)
            .arg(delay_ms(self.delay));
        Ok(integer(conn, &inv).await? == Some(1))
    }
}

/// `released.lua`: wakes a blocked worker of a lane with a concurrency limit when a slot is
/// free and jobs wait.
pub(crate) struct Released<'a> {
    pub(crate) keys: &'a LaneKeys,
    pub(crate) limits: &'a LimitSpec,
}

impl Released<'_> {
    pub(crate) async fn call(self, scripts: &Scripts, conn: &Commands) -> Result<()> {
        let mut inv = lane_call(&scripts.released, self.keys);
        inv.arg(self.limits.concurrency.unwrap_or(0));
        integer(conn, &inv).await?;
        Ok(())
    }
}

/// Builds the limited reserve's script once per driver.
pub(super) fn reserve_limited_script() -> Script {
    Script::new(&limited_reserve_source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limited_reserve_replaces_every_hook() {
        let source = limited_reserve_source();
        assert!(!source.contains("-- @limits:"));
        assert!(source.contains("n = lim_allow(n, now)"));
        // The plain reserve carries the hooks as comments only.
        let plain = include_str!("../../lua/reserve.lua");
        assert!(!plain.contains("lim_"));
    }
}
