//! The scheduler task: one per worker on a driver with schedules. It stores the schedules of
//! the handlers it serves (`#[job(cron = ...)]`), reads the schedules of the queues it serves,
//! sleeps until the next tick of any of them, and fires the ticks due then through the
//! storage's atomic step: of all workers trying, one fires each tick, the others are told it
//! was fired. It reads the schedules again every refresh period (to see schedules added,
//! replaced, paused or removed elsewhere) and at once when a firing finds its definition
//! changed (after a pause when the round before ended so too). The pools' reserve and ack path does nothing for schedules.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::driver::{Driver, Schedules};
use crate::error::Result;
use crate::job::{from_unix_ms, unix_ms, Lane, NewJob};
use crate::schedule::{Fired, Schedule, ScheduleInfo, SCHEDULE_GRACE};

/// How often a worker reads its queues' schedules again, unless configured
/// ([`WorkerBuilder::schedule_refresh`](crate::WorkerBuilder::schedule_refresh)).
pub const DEFAULT_SCHEDULE_REFRESH: Duration = Duration::from_secs(5);

/// The pause before reading the schedules again when a firing found a definition changed
/// right after the last read found one changed too (at most the refresh period).
const CHANGED_AGAIN_PAUSE: Duration = Duration::from_secs(1);

/// Runs the scheduler for `queues` until `stop`; `own` are the handlers' schedules to store
/// first, `unscheduled` the served lanes whose handlers declare none (a handler's schedule
/// stored for one of them is removed).
pub(crate) async fn run(
    driver: Arc<dyn Driver>,
    queues: Vec<String>,
    mut own: Vec<Schedule>,
    unscheduled: Vec<Lane>,
    refresh: Duration,
    stop: CancellationToken,
) {
    let Some(store) = driver.schedules() else {
        return;
    };
    retire(store, &queues, &unscheduled).await;
    // Whether the last round ended on a changed definition: one that reads as changed again
    // right after being read (a storage that keeps answering so) waits before the next read,
    // rather than reading and firing in a busy loop.
    let mut changed_before = false;
    loop {
        // The handlers' schedules are stored (replacing a changed definition, keeping its
        // state) before anything is read; one that could not be stored is tried again.
        let mut failed = Vec::new();
        for schedule in own.drain(..) {
            if let Err(error) = store.put_schedule(&schedule, true).await {
                tracing::warn!(schedule = %schedule.name, %error, "could not store a handler's schedule");
                failed.push(schedule);
            }
        }
        own = failed;
        let mut list = load(store, &queues).await;
        let until = Instant::now() + refresh;
        loop {
            if fire_all(store, &mut list).await {
                if changed_before {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(refresh.min(CHANGED_AGAIN_PAUSE)) => {}
                    }
                }
                changed_before = true;
                break; // a definition changed: read them again
            }
            changed_before = false;
            let now = unix_ms(SystemTime::now());
            let wake = next_tick(&list, now)
                .map(|next| Instant::now() + Duration::from_millis(next.saturating_sub(now)))
                .map_or(until, |at| at.min(until));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(wake) => {}
            }
            if Instant::now() >= until {
                break;
            }
        }
    }
}

/// Removes the handlers' schedules stored for `unscheduled` lanes (the handler dropped its
/// `cron`): only schedules a worker stored for that handler, never one added through the API.
async fn retire(store: &dyn Schedules, queues: &[String], unscheduled: &[Lane]) {
    if unscheduled.is_empty() {
        return;
    }
    for info in load(store, queues).await {
        let s = &info.schedule;
        let stale = s.from_handler
            && s.name == s.job
            && unscheduled
                .iter()
                .any(|lane| lane.queue() == s.queue && lane.job() == s.job);
        if stale {
            match store.remove_schedule(&s.queue, &s.name).await {
                Ok(_) => {
                    tracing::info!(schedule = %s.name, queue = %s.queue, "removed the schedule of a handler that no longer declares one")
                }
                Err(error) => {
                    tracing::warn!(schedule = %s.name, %error, "could not remove a handler's old schedule")
                }
            }
        }
    }
}

/// The schedules of `queues`; a queue whose schedules cannot be read is skipped this round.
async fn load(store: &dyn Schedules, queues: &[String]) -> Vec<ScheduleInfo> {
    let mut list = Vec::new();
    for queue in queues {
        match store.schedules(queue).await {
            Ok(found) => list.extend(found),
            Err(error) => tracing::warn!(%queue, %error, "could not read schedules"),
        }
    }
    list
}

/// Fires the due ticks of every schedule not paused. Returns whether one was found changed.
async fn fire_all(store: &dyn Schedules, list: &mut [ScheduleInfo]) -> bool {
    let now = unix_ms(SystemTime::now());
    let mut changed = false;
    for info in list.iter_mut().filter(|info| !info.paused) {
        match fire_due(store, info, now).await {
            Ok(None) => {}
            Ok(Some(Fired::Ticks { fired, last })) => {
                if !fired.is_empty() {
                    tracing::debug!(schedule = %info.schedule.name, queue = %info.schedule.queue, ?fired, "fired ticks");
                }
                info.last_tick = last.map(from_unix_ms);
            }
            Ok(Some(Fired::Paused)) => info.paused = true,
            Ok(Some(Fired::Changed)) => changed = true,
            // Its tick is tried again at the next wake-up (as a missed one once late).
            Err(error) => {
                tracing::warn!(schedule = %info.schedule.name, %error, "could not fire a schedule")
            }
        }
    }
    changed
}

/// The earliest next tick, after `now`, of the schedules not paused.
fn next_tick(list: &[ScheduleInfo], now: u64) -> Option<u64> {
    list.iter()
        .filter(|info| !info.paused)
        .filter_map(|info| {
            let clock = info.schedule.clock().ok()?;
            clock.next_after(now.max(info.anchor_ms()))
        })
        .min()
}

/// The job of each tick: the schedule's job with its payload, in its queue, with the id
/// `<name>@<tick>`.
pub(crate) fn tick_jobs(schedule: &Schedule, ticks: &[u64]) -> Result<Vec<(u64, NewJob)>> {
    let payload =
        Bytes::from(serde_json::to_vec(&schedule.payload).map_err(crate::error::Error::storage)?);
    Ok(ticks
        .iter()
        .map(|&tick| {
            let job = NewJob::named(&schedule.job, payload.clone())
                .queue(&schedule.queue)
                .id(schedule.job_id(tick));
            (tick, job)
        })
        .collect())
}

/// Fires the ticks of `info`'s schedule due at `now_ms` (ms since the epoch) under its
/// missed-tick policy; `None` when none is due (no storage call then).
pub(crate) async fn fire_due(
    store: &dyn Schedules,
    info: &ScheduleInfo,
    now_ms: u64,
) -> Result<Option<Fired>> {
    let clock = info.schedule.clock()?;
    let due = clock.due(
        info.anchor_ms(),
        now_ms,
        SCHEDULE_GRACE.as_millis() as u64,
        info.schedule.missed,
    );
    if due.is_empty() {
        return Ok(None);
    }
    let jobs = tick_jobs(&info.schedule, &due)?;
    store.fire(&info.schedule, jobs).await.map(Some)
}
