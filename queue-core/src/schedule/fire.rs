//! Firing a schedule's due ticks: which ticks are due now, their jobs, and the storage's atomic
//! step. Used by each worker's scheduler task.

use bytes::Bytes;

use super::spec::{Fired, Schedule, ScheduleInfo};
use super::ticks::SCHEDULE_GRACE;
use crate::driver::Schedules;
use crate::error::Result;
use crate::job::NewJob;

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
