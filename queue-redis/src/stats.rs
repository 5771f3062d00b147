//! Queue statistics (see `lua/stats_record.lua` and `lua/stats_history.lua`): three keys per
//! queue in its hash tag, `{p:q}:stats:totals`, `{p:q}:stats:minutes` and
//! `{p:q}:stats:index`. Recording is one script call per lane and flush, never per job.

use std::sync::LazyLock;

use async_trait::async_trait;
use queue_core::{
    from_unix_ms, validate_name, Error, Lane, MinuteCounts, QueueStats, Result, RunCounts, Stats,
};
use redis::Script;

use crate::keys::QueueKeys;
use crate::record::Header;
use crate::script_call::ScriptCall;
use crate::RedisDriver;

static RECORD: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/stats_record.lua")));
static HISTORY: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/stats_history.lua")));

/// The statistics keys of a queue: totals, minutes, index.
fn stats_keys(queue: &QueueKeys) -> [String; 3] {
    ["totals", "minutes", "index"].map(|s| queue.stats(s))
}

#[async_trait]
impl Stats for RedisDriver {
    async fn record(&self, lane: &Lane, minute: u64, runs: RunCounts) -> Result<()> {
        let keys = self.inner.keys.queue(lane.queue());
        let first = *QueueStats::window(minute).start();
        let mut inv = ScriptCall::new(&RECORD);
        for key in stats_keys(&keys) {
            inv.key(key);
        }
        inv.arg(lane.job())
            .arg(minute)
            .arg(runs.completed)
            .arg(runs.failed)
            .arg(runs.retried)
            .arg(first);
        self.inner.conn.invoke(&inv).await?;
        Ok(())
    }

    async fn history(&self, queue: &str, minute: u64) -> Result<QueueStats> {
        validate_name("queue name", queue)?;
        let keys = self.inner.keys.queue(queue);
        let window = QueueStats::window(minute);
        let mut inv = ScriptCall::new(&HISTORY);
        for key in stats_keys(&keys) {
            inv.key(key);
        }
        inv.arg(*window.start()).arg(*window.end());
        let value = self.inner.conn.invoke(&inv).await?;
        let (totals, entries): (Vec<String>, Vec<u64>) =
            redis::from_redis_value(value).map_err(|e| bad_reply(format!("stats history: {e}")))?;
        let mut stats = QueueStats::default();
        stats.queue = queue.to_string();
        for pair in totals.chunks_exact(2) {
            let (job, kind) = pair[0]
                .rsplit_once(':')
                .ok_or_else(|| bad_reply(format!("stats total field `{}`", pair[0])))?;
            let count: u64 = pair[1]
                .parse()
                .map_err(|_| bad_reply(format!("stats total `{}`", pair[1])))?;
            let at = match stats.totals.iter().position(|(j, _)| j == job) {
                Some(at) => at,
                None => {
                    stats.totals.push((job.to_string(), RunCounts::default()));
                    stats.totals.len() - 1
                }
            };
            let counts = &mut stats.totals[at].1;
            match kind {
                "c" => counts.completed += count,
                "f" => counts.failed += count,
                _ => counts.retried += count,
            }
        }
        stats.totals.sort_by(|a, b| a.0.cmp(&b.0));
        let start = *window.start();
        stats.minutes = window
            .map(|m| MinuteCounts::new(m, RunCounts::default()))
            .collect();
        for entry in entries.chunks_exact(4) {
            if let Some(slot) = entry[0]
                .checked_sub(start)
                .and_then(|i| stats.minutes.get_mut(i as usize))
            {
                slot.runs.add(RunCounts::new(entry[1], entry[2], entry[3]));
            }
        }
        stats.oldest_ready = self.oldest_ready(&keys).await?;
        Ok(stats)
    }
}

impl RedisDriver {
    /// The creation time of the oldest job at the head of a lane's ready jobs (each lane's
    /// next job of priority 0 and next of another priority): two reads per lane in one
    /// pipeline, then one read of those envelopes.
    async fn oldest_ready(&self, keys: &QueueKeys) -> Result<Option<std::time::SystemTime>> {
        let mut lanes: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("SMEMBERS").arg(keys.lanes()))
            .await?;
        if lanes.is_empty() {
            return Ok(None);
        }
        lanes.sort();
        let mut pipe = redis::pipe();
        for job in &lanes {
            let lane = keys.lane(job);
            pipe.cmd("LRANGE").arg(lane.ready()).arg(0).arg(0);
            pipe.cmd("ZRANGE").arg(lane.prio()).arg(0).arg(0);
        }
        let heads: Vec<Vec<String>> = self.inner.conn.pipe(&pipe).await?;
        let ids: Vec<String> = heads.into_iter().flatten().collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let raws: Vec<Option<Vec<u8>>> = self
            .inner
            .conn
            .query(redis::cmd("HMGET").arg(keys.data()).arg(&ids))
            .await?;
        Ok(raws
            .iter()
            .filter_map(|raw| raw.as_deref().and_then(Header::parse))
            .map(|h| h.created_ms)
            .min()
            .map(from_unix_ms))
    }
}

fn bad_reply(what: String) -> Error {
    Error::Storage {
        source: format!("unexpected reply from redis: {what}").into(),
    }
}
