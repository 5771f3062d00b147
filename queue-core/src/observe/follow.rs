//! Following one queue's event log from another process:
//! [`Queue::follow_events`](crate::Queue::follow_events) makes an [`EventStream`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::observe::events::Event;

/// How long one blocking read of a followed log waits before it is made again.
pub const FOLLOW_BLOCK: Duration = Duration::from_secs(5);

/// Events read per storage call while following.
pub const FOLLOW_BATCH: usize = 256;

/// The events of one queue's log as they are appended, from
/// [`Queue::follow_events`](crate::Queue::follow_events).
///
/// Each [`next`](EventStream::next) returns the next event after the last one returned,
/// waiting in blocking reads for it. A stream that falls more than the log's length behind
/// (the log's `max_len`) misses the trimmed events. A failed read changes nothing: call
/// `next` again to go on from the same position.
pub struct EventStream {
    driver: Arc<dyn Driver>,
    queue: String,
    position: Option<String>,
    read: VecDeque<(String, Event)>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("queue", &self.queue)
            .field("position", &self.position)
            .field("read", &self.read.len())
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// A stream of `queue`'s log after `position` (from the oldest event kept when `None`).
    pub(crate) fn new(driver: Arc<dyn Driver>, queue: &str, position: Option<String>) -> Self {
        Self {
            driver,
            queue: queue.to_string(),
            position,
            read: VecDeque::new(),
        }
    }

    /// The queue followed.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The position of the last event returned (or where the stream started): give it to
    /// [`Queue::follow_events_after`](crate::Queue::follow_events_after) to go on later from
    /// there.
    pub fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }

    /// The next event and its position, waiting as long as it takes.
    pub async fn next(&mut self) -> Result<(String, Event)> {
        loop {
            if let Some(next) = self.next_within(FOLLOW_BLOCK).await? {
                return Ok(next);
            }
        }
    }

    /// The next event and its position, or `None` if none came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<(String, Event)>> {
        if self.read.is_empty() {
            let log = self.driver.event_log().ok_or_else(|| Error::Unsupported {
                capability: "event log",
                driver: format!("{:?}", self.driver),
            })?;
            let read = log
                .read(
                    &self.queue,
                    self.position.as_deref(),
                    FOLLOW_BATCH,
                    Some(wait),
                )
                .await?;
            self.read.extend(read);
        }
        Ok(self.read.pop_front().inspect(|(position, _)| {
            self.position = Some(position.clone());
        }))
    }
}
