//! [`Queue`]'s methods for the storage's event log: publishing this process's events to it,
//! and following a queue's log from any process. The machinery is in
//! [`observe::log`](crate::observe::log) and [`observe::follow`](crate::observe::follow).

use std::sync::Arc;

use crate::driver::EventLog;
use crate::error::{Error, Result};
use crate::job::validate_name;
use crate::observe::follow::EventStream;
use crate::observe::log::EventLogStats;
use crate::queue::Queue;

impl Queue {
    /// Publishes the events of this queue's dispatches and of the workers started from it
    /// afterwards to the storage's event log, keeping about `max_len` events per queue (e.g.
    /// [`DEFAULT_EVENT_LOG_LEN`](crate::observe::log::DEFAULT_EVENT_LOG_LEN)), so that other
    /// processes can follow them ([`Queue::follow_events`], `queue events`). Off by default.
    ///
    /// A publisher task per queue (shared by its clones and workers) starts with the first
    /// worker or dispatch and writes events in batches (what arrived within 100 ms, at most 512,
    /// one storage call per queue). It never holds up a worker or a dispatch: events it cannot
    /// write in time are dropped and counted ([`Queue::event_log_stats`]). A worker, when it
    /// stops, waits up to 2 s for its last events to be written.
    ///
    /// Fails with [`Error::Unsupported`] if the driver keeps no event log.
    pub fn with_event_log(mut self, max_len: usize) -> Result<Self> {
        self.event_log_capability()?;
        let driver = self.driver().clone();
        self.observer.publish_to(&driver, max_len);
        Ok(self)
    }

    /// What this queue's event publisher wrote and dropped, if
    /// [`Queue::with_event_log`] is on.
    pub fn event_log_stats(&self) -> Option<Arc<EventLogStats>> {
        self.observer.event_log.as_ref().map(|log| log.stats())
    }

    /// Follows `queue`'s event log from now on: the stream yields the events appended after
    /// this call, from whichever process wrote them.
    pub async fn follow_events(&self, queue: &str) -> Result<EventStream> {
        validate_name("queue name", queue)?;
        let position = self.event_log_capability()?.last_position(queue).await?;
        Ok(EventStream::new(self.driver().clone(), queue, position))
    }

    /// Follows `queue`'s event log after `position` (a position this log gave, e.g.
    /// [`EventStream::position`]), or from its oldest kept event when `None`.
    pub fn follow_events_after(
        &self,
        queue: &str,
        position: Option<String>,
    ) -> Result<EventStream> {
        validate_name("queue name", queue)?;
        self.event_log_capability()?;
        Ok(EventStream::new(self.driver().clone(), queue, position))
    }

    fn event_log_capability(&self) -> Result<&dyn EventLog> {
        self.driver().event_log().ok_or_else(|| Error::Unsupported {
            capability: "event log",
            driver: format!("{:?}", self.driver()),
        })
    }
}
