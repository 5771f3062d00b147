//! Schedules (recurring jobs), two hashes per queue in its hash tag: `{p:q}:schedules` (name ->
//! definition JSON) and `{p:q}:schedules:state` (name -> creation, last tick, firing time,
//! pause). A tick is fired by `lua/schedule_fire.lua`, which takes the lane keys of the
//! schedule's job too, so claiming the tick and storing its job are one atomic step.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::SystemTime;

use async_trait::async_trait;
use queue_core::{
    unix_ms, validate_name, Error, Fired, Lane, NewJob, Result, Schedule, ScheduleInfo, Schedules,
};
use redis::{Script, Value};

use crate::keys::QueueKeys;
use crate::record::{as_string, Envelope};
use crate::script_call::ScriptCall;
use crate::RedisDriver;

static PUT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/schedule_put.lua")));
static PAUSE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/schedule_pause.lua")));
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "-- KEYS[1]: schedules hash  KEYS[2]: schedule states hash  ARGV[1]: name\n\
         -- Returns: 1 when the schedule existed (its definition and state are removed)\n\
         local n = redis.call('HDEL', KEYS[1], ARGV[1])\n\
         redis.call('HDEL', KEYS[2], ARGV[1])\n\
         return n",
    )
});
static FIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("../lua/lib.lua"),
        "\n",
        include_str!("../lua/schedule_fire.lua")
    ))
});

/// The two keys of a queue's schedules: definitions, states.
fn schedule_keys(queue: &QueueKeys) -> [String; 2] {
    [queue.schedules(), queue.schedule_states()]
}

/// A schedule's state as stored: created, last tick, fired at (0 when unknown), paused.
fn parse_state(text: &str) -> Option<(u64, u64, u64, bool)> {
    let mut parts = text.split('|');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let (created, last, fired, paused) = (next()?, next()?, next()?, next()?);
    Some((created, last, fired, paused == 1))
}

fn bad_reply(what: String) -> Error {
    Error::storage(format!("unexpected reply from Redis: {what}"))
}

impl RedisDriver {
    async fn run_on_schedule(&self, script: &Script, queue: &str, args: &[&str]) -> Result<i64> {
        validate_name("queue name", queue)?;
        let keys = self.inner.keys.queue(queue);
        let mut inv = ScriptCall::new(script);
        for key in schedule_keys(&keys) {
            inv.key(key);
        }
        for arg in args {
            inv.arg(*arg);
        }
        match self.inner.conn.invoke(&inv).await? {
            Value::Int(n) => Ok(n),
            other => Err(bad_reply(format!("{other:?} from a schedule script"))),
        }
    }
}

#[async_trait]
impl Schedules for RedisDriver {
    async fn put_schedule(&self, schedule: &Schedule, replace: bool) -> Result<bool> {
        let json = schedule.to_json();
        let replace = if replace { "1" } else { "0" };
        let stored = self
            .run_on_schedule(&PUT, &schedule.queue, &[&schedule.name, &json, replace])
            .await?;
        Ok(stored == 1)
    }

    async fn remove_schedule(&self, queue: &str, name: &str) -> Result<bool> {
        Ok(self.run_on_schedule(&REMOVE, queue, &[name]).await? == 1)
    }

    async fn pause_schedule(&self, queue: &str, name: &str, paused: bool) -> Result<bool> {
        let flag = if paused { "1" } else { "0" };
        Ok(self.run_on_schedule(&PAUSE, queue, &[name, flag]).await? == 1)
    }

    async fn schedules(&self, queue: &str) -> Result<Vec<ScheduleInfo>> {
        validate_name("queue name", queue)?;
        let [defs, states] = schedule_keys(&self.inner.keys.queue(queue));
        let mut pipe = redis::pipe();
        pipe.atomic().hgetall(&defs).hgetall(&states);
        let (defs, states): (HashMap<String, String>, HashMap<String, String>) =
            self.inner.conn.pipe(&pipe).await?;
        let mut list = Vec::with_capacity(defs.len());
        for (name, json) in defs {
            let schedule = Schedule::from_json(&json)?;
            let state = states.get(&name).and_then(|s| parse_state(s));
            // A definition without a readable state is taken as created now and never fired
            // (the next firing writes its state).
            let (created, last, fired, paused) =
                state.unwrap_or((unix_ms(SystemTime::now()), 0, 0, false));
            let known = |ms: u64| (ms > 0).then_some(ms);
            list.push(ScheduleInfo::new(
                schedule,
                paused,
                created,
                known(last),
                known(fired),
            ));
        }
        list.sort_by(|a, b| a.schedule.name.cmp(&b.schedule.name));
        Ok(list)
    }

    async fn fire(&self, schedule: &Schedule, ticks: Vec<(u64, NewJob)>) -> Result<Fired> {
        let definition = schedule.to_json();
        match self.fire_as(schedule, &definition, &ticks).await? {
            // The stored text is another writing of the same definition (a float that prints
            // otherwise once parsed, a field order, or one a newer version added): fire against
            // that text, so the schedule is not taken as changed on every tick.
            FireReply::Changed(Some(stored))
                if Schedule::from_json(&stored).is_ok_and(|s| s == *schedule) =>
            {
                match self.fire_as(schedule, &stored, &ticks).await? {
                    FireReply::Fired(fired) => Ok(fired),
                    FireReply::Changed(_) => Ok(Fired::Changed),
                }
            }
            FireReply::Changed(_) => Ok(Fired::Changed),
            FireReply::Fired(fired) => Ok(fired),
        }
    }
}

/// What `schedule_fire.lua` answered.
enum FireReply {
    /// Fired, or paused.
    Fired(Fired),
    /// The stored definition is not the text sent: here it is (`None`: removed).
    Changed(Option<String>),
}

impl RedisDriver {
    /// Fires `ticks` of `schedule` if the stored definition is the text `definition`.
    async fn fire_as(
        &self,
        schedule: &Schedule,
        definition: &str,
        ticks: &[(u64, NewJob)],
    ) -> Result<FireReply> {
        let lane = Lane::new(&schedule.queue, &schedule.job)?;
        let keys = self.inner.keys.lane(&lane);
        let queue_keys = self.inner.keys.queue(&schedule.queue);
        let mut inv = ScriptCall::new(&FIRE);
        for key in keys.all() {
            inv.key(key);
        }
        for key in schedule_keys(&queue_keys) {
            inv.key(key);
        }
        let created_ms = unix_ms(SystemTime::now());
        inv.arg(&schedule.name)
            .arg(definition)
            .arg(&schedule.job)
            .arg(ticks.len());
        for (tick, job) in ticks {
            let spec = job.spec();
            let id = spec
                .id
                .ok_or_else(|| Error::storage("a tick's job has no id"))?;
            inv.arg(*tick)
                .arg(id.as_str())
                .arg(spec.priority)
                .arg(Envelope {
                    max_attempts: spec.attempts,
                    priority: spec.priority,
                    created_ms,
                    ready_ms: created_ms,
                    name: &schedule.job,
                    payload: spec.payload,
                });
        }
        let reply = self.inner.conn.invoke(&inv).await?;
        let Value::Array(items) = reply else {
            return Err(bad_reply(format!("{reply:?} from schedule_fire")));
        };
        let word = items.first().and_then(as_string);
        match word.as_deref() {
            Some("changed") => Ok(FireReply::Changed(items.get(1).and_then(as_string))),
            Some("paused") => Ok(FireReply::Fired(Fired::Paused)),
            Some("fired") => {
                let numbers = items[1..]
                    .iter()
                    .map(|v| as_string(v).and_then(|s| s.parse::<u64>().ok()))
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| bad_reply(format!("{items:?} from schedule_fire")))?;
                let (last, fired) = numbers
                    .split_first()
                    .ok_or_else(|| bad_reply("no last tick from schedule_fire".into()))?;
                if !fired.is_empty() {
                    self.note_queue(&schedule.queue).await?;
                }
                Ok(FireReply::Fired(Fired::Ticks {
                    fired: fired.to_vec(),
                    last: (*last > 0).then_some(*last),
                }))
            }
            _ => Err(bad_reply(format!("{items:?} from schedule_fire"))),
        }
    }
}
