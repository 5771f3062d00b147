//! Schedules (recurring jobs): each queue's definitions and their state, under one lock that
//! also covers a firing's enqueue, so a tick is claimed and its job stored in one step.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use async_trait::async_trait;
use parking_lot::Mutex;
use queue_core::{unix_ms, Fired, NewJob, Result, Schedule, ScheduleInfo, Schedules};

use crate::MemoryDriver;

/// Every queue's schedules, by queue and then by name.
#[derive(Debug, Default)]
pub(crate) struct ScheduleStore {
    queues: Mutex<HashMap<String, BTreeMap<String, Entry>>>,
}

/// One stored schedule.
#[derive(Debug)]
struct Entry {
    schedule: Schedule,
    paused: bool,
    created_ms: u64,
    last_tick: Option<u64>,
    fired_at: Option<u64>,
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

#[async_trait]
impl Schedules for MemoryDriver {
    async fn put_schedule(&self, schedule: &Schedule, replace: bool) -> Result<bool> {
        let mut queues = self.shared.schedules.queues.lock();
        let entries = queues.entry(schedule.queue.clone()).or_default();
        match entries.get_mut(&schedule.name) {
            Some(_) if !replace => Ok(false),
            Some(entry) => {
                entry.schedule = schedule.clone();
                Ok(true)
            }
            None => {
                entries.insert(
                    schedule.name.clone(),
                    Entry {
                        schedule: schedule.clone(),
                        paused: false,
                        created_ms: now_ms(),
                        last_tick: None,
                        fired_at: None,
                    },
                );
                Ok(true)
            }
        }
    }

    async fn remove_schedule(&self, queue: &str, name: &str) -> Result<bool> {
        let mut queues = self.shared.schedules.queues.lock();
        let Some(entries) = queues.get_mut(queue) else {
            return Ok(false);
        };
        let removed = entries.remove(name).is_some();
        if entries.is_empty() {
            queues.remove(queue);
        }
        Ok(removed)
    }

    async fn pause_schedule(&self, queue: &str, name: &str, paused: bool) -> Result<bool> {
        let mut queues = self.shared.schedules.queues.lock();
        match queues.get_mut(queue).and_then(|e| e.get_mut(name)) {
            Some(entry) => {
                entry.paused = paused;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn schedules(&self, queue: &str) -> Result<Vec<ScheduleInfo>> {
        let queues = self.shared.schedules.queues.lock();
        Ok(queues.get(queue).map_or_else(Vec::new, |entries| {
            entries
                .values()
                .map(|e| {
                    ScheduleInfo::new(
                        e.schedule.clone(),
                        e.paused,
                        e.created_ms,
                        e.last_tick,
                        e.fired_at,
                    )
                })
                .collect()
        }))
    }

    async fn fire(&self, schedule: &Schedule, ticks: Vec<(u64, NewJob)>) -> Result<Fired> {
        let mut queues = self.shared.schedules.queues.lock();
        let Some(entry) = queues
            .get_mut(&schedule.queue)
            .and_then(|e| e.get_mut(&schedule.name))
            .filter(|e| e.schedule == *schedule)
        else {
            return Ok(Fired::Changed);
        };
        if entry.paused {
            return Ok(Fired::Paused);
        }
        let last = entry.last_tick;
        let (fired, jobs): (Vec<u64>, Vec<NewJob>) = ticks
            .into_iter()
            .filter(|(tick, _)| last.is_none_or(|last| *tick > last))
            .unzip();
        if let Some(&newest) = fired.iter().max() {
            // Still under the schedules' lock: no other firing of this schedule can come
            // between the claim and the jobs being stored.
            self.store(&jobs);
            entry.last_tick = Some(newest);
            entry.fired_at = Some(now_ms());
        }
        Ok(Fired::Ticks {
            fired,
            last: entry.last_tick,
        })
    }
}
