//! Following one queue's event log from another process:
//! [`Queue::follow_events`](crate::Queue::follow_events) makes an [`EventStream`].
//!
//! A queue with sharded lanes has one log per storage queue (its own and each shard's, where
//! the shards' workers and dispatches write). Its stream follows all of them: it reads each
//! log in batches, hands out the read events earliest first (by [`Event::at`]), and while
//! every log is drained waits on all of them at once (one blocking read per log, kept across
//! calls). Its positions name a position in each log (`0-of-3=<position>,1-of-3=...`, the
//! queue's own log as `0-of-1`).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::job::{parse_shard_queue, shard_queue, MAX_SHARDS};
use crate::observe::events::Event;

/// How long one blocking read of a followed log waits before it is made again.
pub const FOLLOW_BLOCK: Duration = Duration::from_secs(5);

/// Events read per storage call while following.
pub const FOLLOW_BATCH: usize = 256;

/// How often a followed queue's storage queues are listed again, to follow shards that
/// appeared since.
pub const DISCOVER_EVERY: Duration = Duration::from_secs(5);

/// Lists the storage queues a followed queue stands for (its own and its shards').
pub(crate) type Discover = Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<String>>> + Send + Sync>;

/// What one read of a log gives.
type Read = Result<Vec<(String, Event)>>;

/// One log a stream follows: a storage queue's.
struct Source {
    /// The storage queue.
    queue: String,
    /// Its shard, as `(index, count)`; `(0, 1)` for the queue's own storage queue.
    shard: (u16, u16),
    /// The position of the last event handed out from it (or where following started).
    handed: Option<String>,
    /// The position of the last event read from it.
    read_to: Option<String>,
    /// Events read and not yet handed out, oldest first.
    read: VecDeque<(String, Event)>,
    /// A blocking read under way, kept across calls (dropping it would waste its connection).
    /// In a mutex only so that the stream stays `Sync`; it is reached through `&mut`, never
    /// locked.
    waiting: Option<Mutex<BoxFuture<'static, Read>>>,
}

impl Source {
    fn new(queue: String, shard: (u16, u16), position: Option<String>) -> Self {
        Self {
            queue,
            shard,
            handed: position.clone(),
            read_to: position,
            read: VecDeque::new(),
            waiting: None,
        }
    }

    /// A read of this log after what was read, blocking up to `block`.
    fn read_more(
        &self,
        driver: &Arc<dyn Driver>,
        block: Option<Duration>,
    ) -> BoxFuture<'static, Read> {
        let (driver, queue, after) = (driver.clone(), self.queue.clone(), self.read_to.clone());
        async move {
            let log = driver.event_log().ok_or_else(|| Error::Unsupported {
                capability: "event log",
                driver: format!("{driver:?}"),
            })?;
            log.read(&queue, after.as_deref(), FOLLOW_BATCH, block)
                .await
        }
        .boxed()
    }

    /// Takes in what a read gave.
    fn take(&mut self, read: Vec<(String, Event)>) {
        if let Some((position, _)) = read.last() {
            self.read_to = Some(position.clone());
        }
        self.read.extend(read);
    }
}

/// The read under way in `waiting`.
fn pending<'a>(
    waiting: &'a mut Mutex<BoxFuture<'static, Read>>,
) -> &'a mut BoxFuture<'static, Read> {
    waiting.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// The events of one queue's log as they are appended, from
/// [`Queue::follow_events`](crate::Queue::follow_events).
///
/// Each [`next`](EventStream::next) returns the next event after the last one returned,
/// waiting in blocking reads for it. A stream that falls more than the log's length behind
/// (the log's `max_len`) misses the trimmed events. A failed read changes nothing: call
/// `next` again to go on from the same position.
///
/// The stream of a queue with sharded lanes follows the logs of the queue and of each of its
/// shards: each event comes once, and events come earliest first among those read so far (an
/// event a slow publisher wrote late may come after later events of another shard). Its
/// positions then name a position in each shard's log. The queue's storage queues are listed
/// again every [`DISCOVER_EVERY`] (when the driver lists queues), so shards that appear later
/// are followed too, from their oldest kept event.
pub struct EventStream {
    driver: Arc<dyn Driver>,
    queue: String,
    /// Lists the queue's storage queues again; `None` for a shard's own name.
    discover: Option<Discover>,
    /// When they were last listed.
    discovered: tokio::time::Instant,
    /// The logs followed: one for a queue without shards or a shard's own name.
    sources: Vec<Source>,
    /// Whether a log ran out of read events since the drained logs were last read.
    stale: bool,
    position: Option<String>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("queue", &self.queue)
            .field("logs", &self.sources.len())
            .field("position", &self.position)
            .field(
                "read",
                &self.sources.iter().map(|s| s.read.len()).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// A stream of `queue`'s log after `position` (from the oldest event kept when `None`).
    pub(crate) fn new(driver: Arc<dyn Driver>, queue: &str, position: Option<String>) -> Self {
        Self {
            driver,
            queue: queue.to_string(),
            discover: None,
            discovered: tokio::time::Instant::now(),
            sources: vec![Source::new(queue.to_string(), (0, 1), position.clone())],
            stale: true,
            position,
        }
    }

    /// A stream of the logs of `queue`'s storage queues `storage` (itself and its shards),
    /// each after its position in `positions` (from its oldest event kept when it has none).
    pub(crate) fn merged(
        driver: Arc<dyn Driver>,
        queue: &str,
        storage: &[String],
        positions: &MergedPosition,
    ) -> Self {
        let mut sources: Vec<Source> = storage
            .iter()
            .map(|name| {
                let shard = parse_shard_queue(name).map_or((0, 1), |(_, i, n)| (i, n));
                Source::new(name.clone(), shard, positions.of(shard).map(str::to_string))
            })
            .collect();
        // A log the position names that is no longer listed is followed too.
        for &(shard, ref position) in &positions.0 {
            if !sources.iter().any(|s| s.shard == shard) {
                let name = shard_queue(queue, shard.0, shard.1);
                sources.push(Source::new(name, shard, Some(position.clone())));
            }
        }
        let mut stream = Self {
            driver,
            queue: queue.to_string(),
            discover: None,
            discovered: tokio::time::Instant::now(),
            sources,
            stale: true,
            position: None,
        };
        stream.position = (!positions.0.is_empty()).then(|| stream.merged_position());
        stream
    }

    /// The same stream, listing the queue's storage queues with `discover` every
    /// [`DISCOVER_EVERY`] to follow those that appear.
    pub(crate) fn discovering(self, discover: Option<Discover>) -> Self {
        Self { discover, ..self }
    }

    /// Follows the storage queues that appeared since they were last listed (not more often
    /// than every [`DISCOVER_EVERY`]), from their oldest kept event. A listing that fails is
    /// tried again next time.
    async fn discover(&mut self) {
        let Some(discover) = &self.discover else {
            return;
        };
        if self.discovered.elapsed() < DISCOVER_EVERY {
            return;
        }
        self.discovered = tokio::time::Instant::now();
        let Ok(names) = discover().await else {
            return;
        };
        for name in names {
            if !self.sources.iter().any(|s| s.queue == name) {
                let shard = parse_shard_queue(&name).map_or((0, 1), |(_, i, n)| (i, n));
                self.sources.push(Source::new(name, shard, None));
                self.stale = true;
            }
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
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.discover().await;
            let now = tokio::time::Instant::now();
            let mut slice = deadline.saturating_duration_since(now);
            if self.discover.is_some() {
                // Waits end for the next listing.
                let next = self.discovered + DISCOVER_EVERY;
                slice = slice.min(next.saturating_duration_since(now));
            }
            if let Some(next) = self.next_in(slice).await? {
                return Ok(Some(next));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// The next event and its position, or `None` if none came within `wait`.
    async fn next_in(&mut self, wait: Duration) -> Result<Option<(String, Event)>> {
        if let [source] = self.sources.as_mut_slice() {
            if source.read.is_empty() {
                let read = source.read_more(&self.driver, Some(wait)).await?;
                source.take(read);
            }
            return Ok(source.read.pop_front().map(|(position, event)| {
                source.handed = Some(position.clone());
                self.position = Some(position.clone());
                (position, event)
            }));
        }
        self.collect_finished()?;
        if self.stale {
            self.read_drained().await?;
        }
        if self.sources.iter().all(|s| s.read.is_empty()) {
            self.wait_for_any(wait).await?;
            // What the others hold now is read with the events that woke the stream.
            self.read_drained().await?;
        }
        Ok(self.hand_out())
    }

    /// Takes in the blocking reads that ended since the last call.
    fn collect_finished(&mut self) -> Result<()> {
        for source in &mut self.sources {
            if let Some(read) = source
                .waiting
                .as_mut()
                .and_then(|w| pending(w).now_or_never())
            {
                source.waiting = None;
                source.take(read?);
            }
        }
        Ok(())
    }

    /// Reads, without blocking and all at once, every log with no event read and no blocking
    /// read under way.
    async fn read_drained(&mut self) -> Result<()> {
        let driver = &self.driver;
        let drained: Vec<usize> = (0..self.sources.len())
            .filter(|&i| self.sources[i].read.is_empty() && self.sources[i].waiting.is_none())
            .collect();
        let reads = join_all(
            drained
                .iter()
                .map(|&i| self.sources[i].read_more(driver, None)),
        )
        .await;
        let mut failed = None;
        for (i, read) in drained.into_iter().zip(reads) {
            match read {
                Ok(read) => self.sources[i].take(read),
                Err(error) => failed = Some(error),
            }
        }
        self.stale = false;
        failed.map_or(Ok(()), Err)
    }

    /// Waits up to `wait` until a blocking read (one per log, started where none is under
    /// way, and again when one ends empty) brings events; reads still under way are kept for
    /// the next call.
    async fn wait_for_any(&mut self, wait: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            for source in &mut self.sources {
                if source.waiting.is_none() {
                    let read = source.read_more(&self.driver, Some(left.min(FOLLOW_BLOCK)));
                    source.waiting = Some(Mutex::new(read));
                }
            }
            let sources = &mut self.sources;
            let woke = poll_fn(|cx| {
                for (i, source) in sources.iter_mut().enumerate() {
                    if let Some(waiting) = &mut source.waiting {
                        if let Poll::Ready(read) = pending(waiting).poll_unpin(cx) {
                            return Poll::Ready((i, read));
                        }
                    }
                }
                Poll::Pending
            });
            let Ok((i, read)) = tokio::time::timeout_at(deadline, woke).await else {
                return Ok(());
            };
            self.sources[i].waiting = None;
            self.sources[i].take(read?);
            if !self.sources[i].read.is_empty() {
                return self.collect_finished();
            }
        }
    }

    /// Hands out the earliest event read, if any.
    fn hand_out(&mut self) -> Option<(String, Event)> {
        let earliest = self
            .sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.read.front().map(|(_, e)| (e.at, i)))
            .min()?
            .1;
        let source = &mut self.sources[earliest];
        let (position, event) = source.read.pop_front()?;
        source.handed = Some(position);
        if source.read.is_empty() {
            self.stale = true;
        }
        let position = self.merged_position();
        self.position = Some(position.clone());
        Some((position, event))
    }

    /// Where each log stands, as handed out.
    fn merged_position(&self) -> String {
        MergedPosition(
            self.sources
                .iter()
                .filter_map(|s| Some((s.shard, s.handed.clone()?)))
                .collect(),
        )
        .to_string()
    }
}

/// A position in the logs of a queue's storage queues, as an [`EventStream`] of a queue with
/// sharded lanes gives: `<index>-of-<count>=<position>` for each shard (`0-of-1` for the
/// queue's own log), joined by `,`, in the order of the shards, each position as its log made
/// it (with `%`, `,` and `=` escaped as `%25`, `%2C` and `%3D`). A log it does not name is read
/// from its oldest kept event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MergedPosition(pub(crate) Vec<((u16, u16), String)>);

impl MergedPosition {
    /// The position of shard `shard`'s log, if named.
    pub(crate) fn of(&self, shard: (u16, u16)) -> Option<&str> {
        self.0
            .iter()
            .find(|(s, _)| *s == shard)
            .map(|(_, p)| p.as_str())
    }

    /// Reads a position made by [`MergedPosition::to_string`]; `None` for any other text.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut out = Vec::new();
        for part in text.split(',') {
            let (shard, position) = part.split_once('=')?;
            let (index, count) = shard.split_once("-of-")?;
            // Digits only, without leading zeros.
            let number = |s: &str| s.parse::<u16>().ok().filter(|n| n.to_string() == s);
            let (index, count) = (number(index)?, number(count)?);
            let valid =
                (index, count) == (0, 1) || (index < count && (2..=MAX_SHARDS).contains(&count));
            if !valid || position.is_empty() || out.iter().any(|(s, _)| *s == (index, count)) {
                return None;
            }
            out.push(((index, count), unescape(position)?));
        }
        Some(Self(out))
    }
}

impl std::fmt::Display for MergedPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = self.0.clone();
        parts.sort_by_key(|(shard, _)| (shard.1, shard.0));
        for (n, ((index, count), position)) in parts.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{index}-of-{count}=")?;
            for c in position.chars() {
                match c {
                    '%' => f.write_str("%25")?,
                    ',' => f.write_str("%2C")?,
                    '=' => f.write_str("%3D")?,
                    c => write!(f, "{c}")?,
                }
            }
        }
        Ok(())
    }
}

/// Undoes the escaping of [`MergedPosition`]'s `Display`.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3)?;
        out.push(match code {
            "25" => '%',
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_can_be_shared_and_sent() {
        fn shared<T: Send + Sync + Unpin>() {}
        shared::<EventStream>();
    }

    #[test]
    fn merged_positions_read_back() {
        let position = MergedPosition(vec![
            ((2, 3), "17-0".into()),
            ((0, 1), "a,b=c%d".into()),
            ((0, 3), "5".into()),
        ]);
        let text = position.to_string();
        assert_eq!(text, "0-of-1=a%2Cb%3Dc%25d,0-of-3=5,2-of-3=17-0");
        let back = MergedPosition::parse(&text).expect("reads back");
        assert_eq!(back.of((0, 1)), Some("a,b=c%d"));
        assert_eq!(back.of((2, 3)), Some("17-0"));
        assert_eq!(back.of((1, 3)), None);
        for bad in [
            "",
            "17-0",
            "12",
            "0-of-3",
            "0-of-3=",
            "3-of-3=1",
            "0-of-1=1,0-of-1=2",
            "01-of-3=1",
            "0-of-3=%zz",
            "0-of-3=%2",
            "x-of-3=1",
        ] {
            assert_eq!(MergedPosition::parse(bad), None, "{bad}");
        }
    }
}
