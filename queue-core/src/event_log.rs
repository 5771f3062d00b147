//! [`Queue`]'s methods for the storage's event log: publishing this process's events to it,
//! and following a queue's log from any process. The machinery is in
//! [`observe::log`](crate::observe::log) and [`observe::follow`](crate::observe::follow).

use std::sync::Arc;

use crate::driver::EventLog;
use crate::error::{Error, Result};
use crate::job::{parse_shard_queue, validate_name};
use futures_util::FutureExt;

use crate::inspect::storage_queues_of;
use crate::observe::follow::{Discover, EventStream, MergedPosition};
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
    ///
    /// Event logs are kept per storage queue: the stream of a queue with sharded lanes
    /// follows the logs of the queue and of its shards (found as [`Queue::counts`] finds
    /// them), merged (see [`EventStream`]); a shard's own name (`q@shard-1-of-3`) follows that
    /// shard alone.
    pub async fn follow_events(&self, queue: &str) -> Result<EventStream> {
        validate_name("queue name", queue)?;
        let log = self.event_log_capability()?;
        let storage = self.storage_queues(queue).await?;
        if let [name] = storage.as_slice() {
            let position = log.last_position(name).await?;
            let stream = EventStream::new(self.driver().clone(), name, position);
            return Ok(stream.discovering(self.discoverer(queue)));
        }
        let mut positions = MergedPosition::default();
        for name in &storage {
            if let Some(position) = log.last_position(name).await? {
                let shard = parse_shard_queue(name).map_or((0, 1), |(_, i, n)| (i, n));
                positions.0.push((shard, position));
            }
        }
        let stream = EventStream::merged(self.driver().clone(), queue, &storage, &positions);
        Ok(stream.discovering(self.discoverer(queue)))
    }

    /// Follows `queue`'s event log after `position` (a position this log gave, e.g.
    /// [`EventStream::position`]), or from its oldest kept event when `None`.
    ///
    /// For a queue with sharded lanes, `position` is one its stream gave (naming a position in
    /// each shard's log); a position of the queue's own log alone (given before it had shards)
    /// goes on from there in that log, and from the oldest kept event in the shards' logs.
    pub async fn follow_events_after(
        &self,
        queue: &str,
        position: Option<String>,
    ) -> Result<EventStream> {
        validate_name("queue name", queue)?;
        self.event_log_capability()?;
        let storage = self.storage_queues(queue).await?;
        let merged = position.as_deref().and_then(MergedPosition::parse);
        if let (Some((base, _, _)), Some(_)) = (parse_shard_queue(queue), &merged) {
            return Err(Error::InvalidQuery {
                reason: format!(
                    "event log position `{}` is one of queue `{base}` and its shards together: \
                     follow `{base}` with it, or give shard `{queue}` a position of its own log",
                    position.unwrap_or_default()
                ),
            });
        }
        if let ([name], None) = (storage.as_slice(), &merged) {
            let stream = EventStream::new(self.driver().clone(), name, position);
            return Ok(stream.discovering(self.discoverer(queue)));
        }
        let positions = match (merged, position) {
            (Some(merged), _) => merged,
            (None, Some(own)) => MergedPosition(vec![((0, 1), own)]),
            (None, None) => MergedPosition::default(),
        };
        let stream = EventStream::merged(self.driver().clone(), queue, &storage, &positions);
        Ok(stream.discovering(self.discoverer(queue)))
    }

    /// What lists the storage queues of `queue` again while it is followed: none for a
    /// shard's own name, or when the driver lists no queues.
    fn discoverer(&self, queue: &str) -> Option<Discover> {
        if parse_shard_queue(queue).is_some() || self.driver().admin().is_none() {
            return None;
        }
        let driver = self.driver().clone();
        let queue = queue.to_string();
        let known = self.sharding.counts_for(&queue);
        Some(Arc::new(move || {
            let (driver, queue, known) = (driver.clone(), queue.clone(), known.clone());
            async move { storage_queues_of(driver.as_ref(), &queue, &known).await }.boxed()
        }))
    }

    fn event_log_capability(&self) -> Result<&dyn EventLog> {
        self.driver().event_log().ok_or_else(|| Error::Unsupported {
            capability: "event log",
            driver: format!("{:?}", self.driver()),
        })
    }
}
