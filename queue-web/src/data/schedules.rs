//! Recurring jobs of every queue: definition, state, last and next tick.

use serde::Serialize;

use super::Time;
use crate::error::WebError;
use crate::state::AppState;

/// One schedule.
#[derive(Debug, Serialize)]
pub(crate) struct ScheduleView {
    pub(crate) queue: String,
    pub(crate) name: String,
    pub(crate) job: String,
    pub(crate) cron: String,
    pub(crate) tz: String,
    /// The payload of its jobs, as JSON text.
    pub(crate) payload: String,
    pub(crate) paused: bool,
    pub(crate) next_tick: Option<Time>,
    pub(crate) last_tick: Option<Time>,
    pub(crate) last_fired_at: Option<Time>,
}

/// The schedules page: `None` when the driver keeps no schedules.
pub(crate) async fn schedules(state: &AppState) -> Result<Option<Vec<ScheduleView>>, WebError> {
    let queue = state.queue();
    if queue.driver().schedules().is_none() {
        return Ok(None);
    }
    let mut all = Vec::new();
    for name in state.queue_names().await? {
        for info in queue.schedules(&name).await.map_err(|e| state.fail(e))? {
            let s = info.schedule;
            all.push(ScheduleView {
                queue: s.queue,
                name: s.name,
                job: s.job,
                cron: s.cron,
                tz: s.tz,
                payload: s.payload.to_string(),
                paused: info.paused,
                next_tick: info.next_tick.map(Time),
                last_tick: info.last_tick.map(Time),
                last_fired_at: info.last_fired_at.map(Time),
            });
        }
    }
    Ok(Some(all))
}
