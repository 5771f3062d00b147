//! Live workers' records: `{prefix:workers}` indexes worker ids by expiry (server time) and
//! `{prefix:workers}:<id>` holds each record as JSON with a time to live, all under one hash
//! tag so each call touches one Cluster slot.

use std::time::Duration;

use queue_core::{from_unix_ms, unix_ms, Lane, LaneLoad, Result, WorkerPresence};
use serde_json::{json, Value};

use crate::scripts::Heartbeat;
use crate::RedisDriver;

impl RedisDriver {
    pub(crate) async fn record_worker(&self, worker: &WorkerPresence, ttl: Duration) -> Result<()> {
        let keys = &self.inner.keys;
        let lanes: Vec<[&str; 2]> = worker
            .lanes
            .iter()
            .map(|lane| [lane.queue(), lane.job()])
            .collect();
        let record = json!({
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "started_ms": unix_ms(worker.started_at),
            "lanes": lanes,
            // Per lane, in the order of `lanes`: [concurrency, running now].
            "load": worker
                .load
                .iter()
                .map(|load| [load.concurrency, load.running])
                .collect::<Vec<_>>(),
            // Per lane: the fencing tokens of the leases it runs jobs under.
            "tokens": worker.tokens,
        });
        Heartbeat {
            index: &keys.workers(),
            record_key: &keys.worker(&worker.id),
            id: &worker.id,
            record: &record.to_string(),
            ttl,
        }
        .call(&self.inner.scripts, &self.inner.conn)
        .await
    }

    pub(crate) async fn forget_worker(&self, id: &str) -> Result<()> {
        let keys = &self.inner.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(keys.worker(id)).ignore();
        pipe.cmd("ZREM").arg(keys.workers()).arg(id).ignore();
        self.inner.conn.pipe::<()>(&pipe).await
    }

    pub(crate) async fn live_workers(&self) -> Result<Vec<WorkerPresence>> {
        let keys = &self.inner.keys;
        let ids: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("ZRANGE").arg(keys.workers()).arg(0).arg(-1))
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<String> = ids.iter().map(|id| keys.worker(id)).collect();
        let records: Vec<Option<String>> = self
            .inner
            .conn
            .query(redis::cmd("MGET").arg(&records))
            .await?;
        let mut live = Vec::new();
        for (id, record) in ids.iter().zip(records) {
            // A record that expired has no worker behind it; heartbeats prune the index.
            let Some(record) = record else { continue };
            // One unreadable record (written by another program) hides only itself.
            match parse(&record) {
                Ok(worker) => live.push(worker),
                Err(why) => tracing::warn!(worker = %id, %why, "unreadable worker record"),
            }
        }
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(live)
    }
}

fn parse(record: &str) -> std::result::Result<WorkerPresence, String> {
    let value: Value = serde_json::from_str(record).map_err(|e| e.to_string())?;
    let text = |field: &str| {
        value[field]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no `{field}`"))
    };
    let number = |field: &str| value[field].as_u64().ok_or_else(|| format!("no `{field}`"));
    let mut lanes = Vec::new();
    for lane in value["lanes"].as_array().ok_or("no `lanes`")? {
        let (Some(queue), Some(job)) = (lane[0].as_str(), lane[1].as_str()) else {
            return Err(format!("bad lane {lane}"));
        };
        lanes.push(Lane::new(queue, job).map_err(|e| e.to_string())?);
    }
    // Records of workers that did not report their load have none.
    let mut load = Vec::new();
    if let Some(entries) = value.get("load").and_then(Value::as_array) {
        for entry in entries {
            let (Some(concurrency), Some(running)) = (entry[0].as_u64(), entry[1].as_u64()) else {
                return Err(format!("bad lane load {entry}"));
            };
            load.push(LaneLoad::new(concurrency as usize, running as usize));
        }
    }
    // Records of workers that did not report their tokens have none.
    let mut tokens = Vec::new();
    if let Some(entries) = value.get("tokens").and_then(Value::as_array) {
        for entry in entries {
            let lane: Option<Vec<u64>> = entry
                .as_array()
                .and_then(|ts| ts.iter().map(Value::as_u64).collect());
            tokens.push(lane.ok_or_else(|| format!("bad lease tokens {entry}"))?);
        }
    }
    let mut presence = WorkerPresence::new(
        text("id")?,
        text("host")?,
        u32::try_from(number("pid")?).map_err(|e| e.to_string())?,
        from_unix_ms(number("started_ms")?),
        lanes,
    )
    .with_load(load);
    presence.tokens = tokens;
    Ok(presence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_load_still_read() {
        let record = r#"{"id":"h:1:a-0","host":"h","pid":1,"started_ms":1700000000000,"lanes":[["mail","send"]]}"#;
        let worker = parse(record).unwrap();
        assert_eq!(worker.lanes, [Lane::new("mail", "send").unwrap()]);
        assert!(worker.load.is_empty());
        let record = r#"{"id":"h:1:a-0","host":"h","pid":1,"started_ms":1700000000000,"lanes":[["mail","send"]],"load":[[8,3]]}"#;
        assert_eq!(parse(record).unwrap().load, [LaneLoad::new(8, 3)]);
        let record = r#"{"id":"h:1:a-0","host":"h","pid":1,"started_ms":1700000000000,"lanes":[],"load":[["x"]]}"#;
        assert!(parse(record).unwrap_err().contains("bad lane load"));
    }
}
