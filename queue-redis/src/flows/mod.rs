//! Workflows and batches on Redis ([`Workflows`]): each workflow's keys in its own hash tag
//! `{prefix#flow:<id>}` (see `lua/flow_lib.lua` for the layout), every change one script of
//! `lua/flow_*.lua` touching that one slot. Steps' jobs live in their lanes (other slots); the
//! hand-over between the two is made of repeatable calls (see [`Workflows`]).
//!
//! `<prefix>:flows` (a set outside any slot) lists workflows not known to have ended, for the
//! recovery of half-done hand-overs; it is written by separate commands, never by a script.

mod scripts;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use queue_core::flow::{
    Ended, FlowId, FlowInfo, FlowKind, FlowState, StepEnd, StepInfo, StepOutcome, StepSpec,
    StepState,
};
use queue_core::{Error, JobId, NewJob, Result, Workflows};
use redis::Value;

use crate::record::{as_i64, as_string, into_bytes};
use crate::RedisDriver;
use scripts::{Arg, ADD, CREATE, END, HANDED, PROPAGATE, RECLAIM, REMOVE, REOPEN, START, TAKE};

/// Edges followed per script call when passing ends on.
const EDGES_PER_CALL: i64 = 1000;

fn bad_reply(what: &str, reply: &Value) -> Error {
    Error::storage(format!("unexpected reply from Redis to {what}: {reply:?}"))
}

fn items(reply: Value) -> Vec<Value> {
    match reply {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// `queue|job|prio|attempts`, as `flow_add.lua` stores a step's job.
fn spec_text(spec: &StepSpec) -> String {
    format!(
        "{}|{}|{}|{}",
        spec.queue, spec.job, spec.priority, spec.attempts
    )
}

/// The job of a stored step.
fn step_job(flow: &FlowId, name: &str, spec: &str, payload: Bytes) -> Option<NewJob> {
    let mut parts = spec.split('|');
    let (queue, job) = (parts.next()?, parts.next()?);
    let priority: i8 = parts.next()?.parse().ok()?;
    let attempts: u32 = parts.next()?.parse().ok()?;
    Some(
        NewJob::named(job, payload)
            .queue(queue)
            .priority(priority)
            .attempts(attempts)
            .id(flow.step_job_id(name)),
    )
}

impl RedisDriver {
    /// Notes a workflow in `<prefix>:flows`, or forgets it.
    async fn note_flow(&self, flow: &FlowId, live: bool) -> Result<()> {
        let command = if live { "SADD" } else { "SREM" };
        self.inner
            .conn
            .query::<i64>(
                redis::cmd(command)
                    .arg(self.inner.keys.flows())
                    .arg(flow.as_str()),
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Workflows for RedisDriver {
    async fn create_flow(&self, flow: &FlowId, kind: FlowKind) -> Result<bool> {
        let reply = self
            .run_flow(&CREATE, flow, &[Arg::Text(kind.code())])
            .await?;
        let created = as_i64(&reply) == Some(1);
        if created {
            self.note_flow(flow, true).await?;
        }
        Ok(created)
    }

    async fn add_steps(
        &self,
        flow: &FlowId,
        parent: Option<&str>,
        steps: &[StepSpec],
    ) -> Result<()> {
        let texts: Vec<(String, String)> = steps
            .iter()
            .map(|s| {
                let deps: Vec<String> = s
                    .after
                    .iter()
                    .map(|d| format!("{}|{}", d.on_failure.code(), d.step))
                    .collect();
                (spec_text(s), deps.join(","))
            })
            .collect();
        let count = steps.len().to_string();
        let mut args = vec![Arg::Text(parent.unwrap_or("")), Arg::Text(&count)];
        for (step, (spec, deps)) in steps.iter().zip(&texts) {
            args.push(Arg::Text(&step.name));
            args.push(Arg::Text(spec));
            args.push(Arg::Bytes(&step.payload));
            args.push(Arg::Text(step.after_all.map_or("", |p| p.code())));
            args.push(Arg::Text(deps));
        }
        let reply = self.run_flow(&ADD, flow, &args).await?;
        let reply = items(reply);
        match reply.first().and_then(as_i64) {
            Some(1) => Ok(()),
            Some(0) => Err(Error::InvalidWorkflow {
                flow: flow.to_string(),
                reason: reply.get(1).and_then(as_string).unwrap_or_default(),
            }),
            _ => Err(Error::storage(format!(
                "unexpected reply from flow_add: {reply:?}"
            ))),
        }
    }

    async fn start_flow(&self, flow: &FlowId) -> Result<()> {
        self.run_flow(&START, flow, &[]).await?;
        Ok(())
    }

    async fn take_ready(&self, flow: &FlowId, max: usize) -> Result<Vec<NewJob>> {
        let reply = self.run_flow(&TAKE, flow, &[Arg::Int(max as i64)]).await?;
        let mut values = items(reply).into_iter();
        let mut jobs = Vec::new();
        while let (Some(name), Some(spec), Some(payload)) =
            (values.next(), values.next(), values.next())
        {
            let name = as_string(&name).unwrap_or_default();
            let spec = as_string(&spec).unwrap_or_default();
            let payload = into_bytes(payload).unwrap_or_default();
            let job = step_job(flow, &name, &spec, payload).ok_or_else(|| {
                Error::storage(format!(
                    "step `{name}` of workflow `{flow}` is stored unreadably: `{spec}`"
                ))
            })?;
            jobs.push(job);
        }
        Ok(jobs)
    }

    async fn handed(&self, flow: &FlowId, steps: &[String]) -> Result<()> {
        for chunk in steps.chunks(1000) {
            let args: Vec<Arg<'_>> = chunk.iter().map(|s| Arg::Text(s)).collect();
            self.run_flow(&HANDED, flow, &args).await?;
        }
        Ok(())
    }

    async fn reclaim(&self, flow: &FlowId, older_than: Duration) -> Result<(usize, bool)> {
        let ms = older_than.as_millis().min(i64::MAX as u128) as i64;
        let reply = self.run_flow(&RECLAIM, flow, &[Arg::Int(ms)]).await?;
        let values = items(reply);
        match (
            values.first().and_then(as_i64),
            values.get(1).and_then(as_i64),
        ) {
            (Some(n), Some(work)) => Ok((n.max(0) as usize, work == 1)),
            _ => Err(Error::storage(format!(
                "unexpected reply from flow_reclaim: {values:?}"
            ))),
        }
    }

    async fn end_step(&self, flow: &FlowId, step: &str, outcome: StepOutcome) -> Result<Ended> {
        let (changed, more) = self
            .end_steps(flow, &[StepEnd::new(step, outcome, None)])
            .await?;
        let mut ended = Ended::default();
        ended.changed = changed.first().copied().unwrap_or(false);
        ended.more = more;
        Ok(ended)
    }

    async fn end_steps(&self, flow: &FlowId, ends: &[StepEnd]) -> Result<(Vec<bool>, bool)> {
        let mut changed = Vec::with_capacity(ends.len());
        let mut more = false;
        for chunk in ends.chunks(500) {
            let texts: Vec<(&str, &str, Bytes, String)> = chunk
                .iter()
                .map(|end| {
                    let token = end.token.map(|t| t.to_string()).unwrap_or_default();
                    let (state, given, text) = match &end.outcome {
                        StepOutcome::Succeeded(Some(value)) => ("succeeded", "1", value.clone()),
                        StepOutcome::Succeeded(None) => ("succeeded", "0", Bytes::new()),
                        StepOutcome::Failed(error) => ("failed", "1", Bytes::from(error.clone())),
                        StepOutcome::Cancelled(error) => {
                            ("cancelled", "1", Bytes::from(error.clone()))
                        }
                        _ => ("failed", "0", Bytes::new()),
                    };
                    (state, given, text, token)
                })
                .collect();
            let count = chunk.len().to_string();
            let mut args = vec![Arg::Int(EDGES_PER_CALL), Arg::Text(&count)];
            for (end, (state, given, text, token)) in chunk.iter().zip(&texts) {
                args.push(Arg::Text(&end.step));
                args.push(Arg::Text(state));
                args.push(Arg::Text(given));
                args.push(Arg::Bytes(text));
                args.push(Arg::Text(token));
            }
            let reply = self.run_flow(&END, flow, &args).await?;
            let values = items(reply);
            let flags: Option<Vec<i64>> = values.iter().map(as_i64).collect();
            match flags {
                Some(flags) if flags.len() == chunk.len() + 1 => {
                    more |= flags[0] == 1;
                    changed.extend(flags[1..].iter().map(|f| *f == 1));
                }
                _ => {
                    return Err(Error::storage(format!(
                        "unexpected reply from flow_end: {values:?}"
                    )))
                }
            }
        }
        Ok((changed, more))
    }

    async fn propagate(&self, flow: &FlowId) -> Result<bool> {
        let reply = self
            .run_flow(&PROPAGATE, flow, &[Arg::Int(EDGES_PER_CALL)])
            .await?;
        Ok(as_i64(&reply) == Some(1))
    }

    async fn flow(&self, flow: &FlowId) -> Result<Option<FlowInfo>> {
        let keys = self.inner.keys.flow(flow.as_str());
        let mut pipe = redis::pipe();
        pipe.hgetall(&keys[0]).lrange(&keys[14], 0, -1);
        let (meta, bad): (HashMap<String, String>, Vec<String>) =
            self.inner.conn.pipe(&pipe).await?;
        if meta.is_empty() {
            return Ok(None);
        }
        let number = |field: &str| {
            meta.get(field)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let state = meta
            .get("state")
            .and_then(|s| FlowState::from_code(s))
            .ok_or_else(|| Error::storage(format!("workflow `{flow}` has no readable state")))?;
        let kind = meta
            .get("kind")
            .and_then(|s| FlowKind::from_code(s))
            .unwrap_or(FlowKind::Workflow);
        let mut info = FlowInfo::new(flow.clone(), kind, state, number("created"));
        info.total = number("total");
        info.succeeded = number("succeeded");
        info.failed = number("failed");
        info.cancelled = number("cancelled");
        info.skipped = number("skipped");
        info.ended_ms = meta.get("ended").and_then(|v| v.parse().ok());
        info.failed_steps = bad;
        if matches!(state, FlowState::Succeeded | FlowState::Failed) {
            self.note_flow(flow, false).await?;
        }
        Ok(Some(info))
    }

    async fn steps(&self, flow: &FlowId, offset: usize, limit: usize) -> Result<Vec<StepInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.inner.keys.flow(flow.as_str());
        let end = (offset + limit - 1) as isize;
        let names: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("LRANGE").arg(&keys[1]).arg(offset).arg(end))
            .await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let tag = keys[0].trim_end_matches(":meta");
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hget(&keys[2], name)
                .hget(&keys[4], name)
                .hget(&keys[7], name)
                .hget(&keys[6], name)
                .lrange(format!("{tag}:ign:{name}"), 0, -1);
        }
        let values: Vec<Value> = self.inner.conn.pipe(&pipe).await?;
        let mut out = Vec::with_capacity(names.len());
        for (name, chunk) in names.iter().zip(values.chunks(5)) {
            let [state, spec, error, result, ignored] = chunk else {
                return Err(Error::storage("a short reply reading workflow steps"));
            };
            let state = as_string(state)
                .and_then(|s| StepState::from_code(&s))
                .ok_or_else(|| bad_reply("a step's state", state))?;
            let spec = as_string(spec).unwrap_or_default();
            let mut parts = spec.split('|');
            let (queue, job) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let mut info = StepInfo::new(flow, name, queue, job, state);
            info.error = as_string(error);
            info.result = into_bytes(result.clone());
            info.failed_prerequisites = items(ignored.clone())
                .iter()
                .filter_map(as_string)
                .collect();
            out.push(info);
        }
        Ok(out)
    }

    async fn queued_steps(&self, flow: &FlowId, steps: &[&str]) -> Result<Vec<bool>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.inner.keys.flow(flow.as_str());
        let states: Vec<Option<String>> = self
            .inner
            .conn
            .query(redis::cmd("HMGET").arg(&keys[2]).arg(steps))
            .await?;
        let queued = StepState::Queued.code();
        Ok(states
            .into_iter()
            .map(|state| state.as_deref() == Some(queued))
            .collect())
    }

    async fn step_result(&self, flow: &FlowId, step: &str) -> Result<Option<Bytes>> {
        let keys = self.inner.keys.flow(flow.as_str());
        let value: Value = self
            .inner
            .conn
            .query(redis::cmd("HGET").arg(&keys[6]).arg(step))
            .await?;
        Ok(into_bytes(value))
    }

    async fn ended_badly(&self, flow: &FlowId) -> Result<Vec<(String, JobId)>> {
        let keys = self.inner.keys.flow(flow.as_str());
        let names: Vec<String> = self
            .inner
            .conn
            .query(redis::cmd("LRANGE").arg(&keys[14]).arg(0).arg(-1))
            .await?;
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(1000) {
            let specs: Vec<Option<String>> = self
                .inner
                .conn
                .query(redis::cmd("HMGET").arg(&keys[4]).arg(chunk))
                .await?;
            for (name, spec) in chunk.iter().zip(specs) {
                let queue = spec.unwrap_or_default();
                let queue = queue.split('|').next().unwrap_or("").to_string();
                out.push((queue, flow.step_job_id(name)));
            }
        }
        Ok(out)
    }

    async fn reopen(&self, flow: &FlowId, floors: &[(String, u64)]) -> Result<usize> {
        let floors: Vec<(&str, String)> = floors
            .iter()
            .map(|(step, floor)| (step.as_str(), floor.to_string()))
            .collect();
        let args: Vec<Arg<'_>> = floors
            .iter()
            .flat_map(|(step, floor)| [Arg::Text(step), Arg::Text(floor)])
            .collect();
        let reply = self.run_flow(&REOPEN, flow, &args).await?;
        let count = as_i64(&reply).unwrap_or(0).max(0) as usize;
        if count > 0 {
            self.note_flow(flow, true).await?;
        }
        Ok(count)
    }

    async fn remove_steps(
        &self,
        flow: &FlowId,
        max: usize,
    ) -> Result<(Vec<(String, JobId)>, bool)> {
        let reply = self
            .run_flow(&REMOVE, flow, &[Arg::Int(max.max(1) as i64)])
            .await?;
        let values = items(reply);
        let gone = values.first().and_then(as_i64) == Some(1);
        let mut jobs = Vec::new();
        for pair in values.get(1..).unwrap_or_default().chunks(2) {
            if let [queue, name] = pair {
                let (Some(queue), Some(name)) = (as_string(queue), as_string(name)) else {
                    continue;
                };
                jobs.push((queue, flow.step_job_id(&name)));
            }
        }
        if gone {
            self.note_flow(flow, false).await?;
        }
        Ok((jobs, gone))
    }

    async fn live_flows(&self, max: usize) -> Result<Vec<FlowId>> {
        let ids: Vec<String> = self
            .inner
            .conn
            .query(
                redis::cmd("SRANDMEMBER")
                    .arg(self.inner.keys.flows())
                    .arg(max),
            )
            .await?;
        Ok(ids.iter().filter_map(|id| FlowId::new(id).ok()).collect())
    }
}
