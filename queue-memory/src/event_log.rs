//! Each queue's event log: a ring of the newest events, capped at the `max_len` of the last
//! append, with a `Notify` that wakes blocked readers. Positions are the events' sequence
//! numbers within their queue, from 1, as decimal strings.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use queue_core::{Error, Event, EventLog, Result};
use tokio::sync::Notify;

use crate::MemoryDriver;

/// The event logs of every queue, by name.
#[derive(Debug, Default)]
pub(crate) struct EventLogs {
    queues: Mutex<HashMap<String, Arc<QueueLog>>>,
}

#[derive(Debug, Default)]
struct QueueLog {
    ring: Mutex<Ring>,
    appended: Notify,
}

#[derive(Debug, Default)]
struct Ring {
    /// Events with their sequence numbers, oldest first.
    events: VecDeque<(u64, Event)>,
    /// The last sequence number given.
    last: u64,
}

impl EventLogs {
    fn of(&self, queue: &str) -> Arc<QueueLog> {
        self.queues
            .lock()
            .entry(queue.to_string())
            .or_default()
            .clone()
    }

    fn existing(&self, queue: &str) -> Option<Arc<QueueLog>> {
        self.queues.lock().get(queue).cloned()
    }
}

/// Reads a position this driver made.
fn parse_position(position: &str) -> Result<u64> {
    position.parse().map_err(|_| Error::InvalidQuery {
        reason: format!(
            "event log position `{position}` was not made by the memory driver (expected a \
             sequence number)"
        ),
    })
}

#[async_trait]
impl EventLog for MemoryDriver {
    async fn append(&self, queue: &str, events: &[Event], max_len: usize) -> Result<()> {
        queue_core::validate_name("queue name", queue)?;
        let log = self.shared.events.of(queue);
        {
            let mut ring = log.ring.lock();
            for event in events {
                ring.last += 1;
                let seq = ring.last;
                ring.events.push_back((seq, event.clone()));
            }
            let keep = max_len.max(1);
            while ring.events.len() > keep {
                ring.events.pop_front();
            }
        }
        log.appended.notify_waiters();
        Ok(())
    }

    async fn read(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(String, Event)>> {
        queue_core::validate_name("queue name", queue)?;
        let after = after.map(parse_position).transpose()?.unwrap_or(0);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let log = self.shared.events.of(queue);
        let deadline = block.map(|b| tokio::time::Instant::now() + b);
        loop {
            // Registered before looking, so an append between the look and the wait wakes it.
            let appended = log.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            {
                let ring = log.ring.lock();
                let start = ring.events.partition_point(|(seq, _)| *seq <= after);
                let found: Vec<(String, Event)> = ring
                    .events
                    .range(start..)
                    .take(limit)
                    .map(|(seq, event)| (seq.to_string(), event.clone()))
                    .collect();
                if !found.is_empty() {
                    return Ok(found);
                }
            }
            match deadline {
                Some(deadline) if tokio::time::Instant::now() < deadline => {
                    if tokio::time::timeout_at(deadline, appended).await.is_err() {
                        return Ok(Vec::new());
                    }
                }
                _ => return Ok(Vec::new()),
            }
        }
    }

    async fn last_position(&self, queue: &str) -> Result<Option<String>> {
        queue_core::validate_name("queue name", queue)?;
        Ok(self.shared.events.existing(queue).and_then(|log| {
            let ring = log.ring.lock();
            ring.events.back().map(|(seq, _)| seq.to_string())
        }))
    }
}
