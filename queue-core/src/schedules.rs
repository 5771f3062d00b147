//! The run-time API of schedules on [`Queue`].

use crate::driver::Schedules;
use crate::error::{Error, Result};
use crate::job::validate_name;
use crate::queue::Queue;
use crate::schedule::{Schedule, ScheduleInfo};

impl Queue {
    /// Stores a new schedule in its queue; workers serving that queue fire its ticks from the
    /// next one on. [`Error::ScheduleExists`] when the queue has a schedule of that name
    /// (use [`replace_schedule`](Queue::replace_schedule) to change it), and
    /// [`Error::InvalidSchedule`] for a bad expression, time zone or policy, or a payload that
    /// the job's handler (when linked into this program) cannot decode.
    pub async fn add_schedule(&self, schedule: Schedule) -> Result<()> {
        let schedule = self.check_schedule(schedule)?;
        if self
            .schedule_store()?
            .put_schedule(&schedule, false)
            .await?
        {
            Ok(())
        } else {
            Err(Error::ScheduleExists {
                queue: schedule.queue,
                name: schedule.name,
            })
        }
    }

    /// Stores a schedule, replacing the definition of the one of that name in its queue if
    /// there is one: the replaced schedule keeps its last fired tick and its pause, so no tick
    /// fires twice and none before the change fires late. Checked as in
    /// [`add_schedule`](Queue::add_schedule).
    pub async fn replace_schedule(&self, schedule: Schedule) -> Result<()> {
        let schedule = self.check_schedule(schedule)?;
        self.schedule_store()?
            .put_schedule(&schedule, true)
            .await
            .map(drop)
    }

    /// Removes the schedule `name` of `queue`; jobs it already dispatched stay. Returns whether
    /// it existed.
    pub async fn remove_schedule(&self, queue: &str, name: &str) -> Result<bool> {
        validate_name("queue name", queue)?;
        self.schedule_store()?.remove_schedule(queue, name).await
    }

    /// Stops firing the schedule `name` of `queue` until it is resumed. Ticks that come due
    /// while it is paused are missed ([`Missed`](crate::Missed) decides what happens to them
    /// at the resume). [`Error::ScheduleNotFound`] when there is no such schedule.
    pub async fn pause_schedule(&self, queue: &str, name: &str) -> Result<()> {
        self.set_schedule_paused(queue, name, true).await
    }

    /// Fires the schedule `name` of `queue` again after [`pause_schedule`](Queue::pause_schedule).
    pub async fn resume_schedule(&self, queue: &str, name: &str) -> Result<()> {
        self.set_schedule_paused(queue, name, false).await
    }

    /// The schedules of `queue` by name, each with its state, last fired tick and next tick.
    pub async fn schedules(&self, queue: &str) -> Result<Vec<ScheduleInfo>> {
        validate_name("queue name", queue)?;
        self.schedule_store()?.schedules(queue).await
    }

    async fn set_schedule_paused(&self, queue: &str, name: &str, paused: bool) -> Result<()> {
        validate_name("queue name", queue)?;
        if self
            .schedule_store()?
            .pause_schedule(queue, name, paused)
            .await?
        {
            Ok(())
        } else {
            Err(Error::ScheduleNotFound {
                queue: queue.to_string(),
                name: name.to_string(),
            })
        }
    }

    /// Chooses a schedule's queue when it names none (its handler's, or the default queue),
    /// then checks its definition, and its payload against the job's handler when one is
    /// linked in.
    fn check_schedule(&self, mut schedule: Schedule) -> Result<Schedule> {
        if schedule.queue.is_empty() {
            schedule.queue = crate::registry::find(&schedule.job)
                .map_or(crate::registry::DEFAULT_QUEUE, |def| def.queue)
                .to_string();
        }
        schedule.check()?;
        let declared = crate::registry::find(&schedule.job).map_or(1, |def| def.shards);
        let shards = self.sharding.count(&schedule.job, declared);
        if shards > 1 {
            // Ticks are stored by the driver in the schedule's queue, where no worker of a
            // sharded lane looks.
            return Err(Error::InvalidSchedule {
                name: schedule.name.clone(),
                reason: format!(
                    "job `{}` is split into {shards} shards; a schedule's jobs would go to \
                     none of them",
                    schedule.job
                ),
            });
        }
        if let Some(registration) = crate::registry::registry()
            .by_name
            .get(schedule.job.as_str())
        {
            let payload = serde_json::to_vec(&schedule.payload).map_err(Error::storage)?;
            (registration.check_payload)(&payload).map_err(|e| Error::InvalidSchedule {
                name: schedule.name.clone(),
                reason: format!(
                    "its payload does not decode for handler `{}` of job `{}`: {e}",
                    registration.definition.handler, schedule.job
                ),
            })?;
        }
        Ok(schedule)
    }

    /// The driver's schedules, or an error saying it keeps none.
    pub(crate) fn schedule_store(&self) -> Result<&dyn Schedules> {
        self.driver().schedules().ok_or_else(|| Error::Unsupported {
            capability: "schedules (recurring jobs)",
            driver: format!("{:?}", self.driver()),
        })
    }
}
