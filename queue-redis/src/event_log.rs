//! Each queue's event log: a stream `{prefix:queue}:events` in the queue's hash tag, one entry
//! per event with its [`EventRecord`](queue_core::EventRecord) JSON in field `e`. Appends are
//! `XADD ... MAXLEN ~ max_len` in one pipeline per batch (Redis trims whole stream nodes, so a
//! log keeps between `max_len` and about `max_len` + 100 entries). Reads are `XRANGE` on the
//! command connection; a read that finds nothing and may block waits in `XREAD BLOCK` on a
//! blocking connection of its own (see [`wait`](crate::wait)), then reads again.

use std::time::Duration;

use queue_core::{validate_name, Error, Event, Result};
use redis::Value;

use crate::record::as_string;
use crate::RedisDriver;

/// The field of a stream entry that holds the event.
const FIELD: &str = "e";

/// Checks that `position` is a stream entry id (`<ms>-<seq>`), the only positions this log
/// makes.
fn check_position(position: &str) -> Result<&str> {
    let valid = position.split_once('-').is_some_and(|(ms, seq)| {
        [ms, seq]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    if valid {
        Ok(position)
    } else {
        Err(Error::InvalidQuery {
            reason: format!(
                "event log position `{position}` was not made by the Redis driver (expected a \
                 stream id such as `1700000000000-0`)"
            ),
        })
    }
}

/// The entries of an `XRANGE`/`XREVRANGE` reply, as positions and events.
fn entries(reply: Value) -> Result<Vec<(String, Event)>> {
    let bad = |what: &str| Error::Storage {
        source: format!("unexpected event log reply: {what}").into(),
    };
    let Value::Array(items) = reply else {
        return Err(bad("not a list of entries"));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut parts) = item else {
            return Err(bad("an entry that is not a list"));
        };
        if parts.len() != 2 {
            return Err(bad("an entry without id and fields"));
        }
        let fields = parts.pop().unwrap_or(Value::Nil);
        let id = parts
            .pop()
            .as_ref()
            .and_then(as_string)
            .ok_or_else(|| bad("an entry without id"))?;
        let fields = match fields {
            Value::Array(fields) => fields,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            _ => return Err(bad("an entry whose fields are not a list")),
        };
        let event = fields
            .chunks(2)
            .find(|pair| as_string(&pair[0]).as_deref() == Some(FIELD))
            .and_then(|pair| match pair.get(1) {
                Some(Value::BulkString(bytes)) => Some(bytes.as_slice()),
                _ => None,
            })
            .ok_or_else(|| bad("an entry without its event"))?;
        out.push((id, Event::decode(event)?));
    }
    Ok(out)
}

impl RedisDriver {
    pub(crate) async fn append_events(
        &self,
        queue: &str,
        events: &[Event],
        max_len: usize,
    ) -> Result<()> {
        validate_name("queue name", queue)?;
        if events.is_empty() {
            return Ok(());
        }
        let key = self.inner.keys.queue(queue).events();
        let mut pipe = redis::pipe();
        for event in events {
            pipe.cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len.max(1))
                .arg("*")
                .arg(FIELD)
                .arg(event.encode())
                .ignore();
        }
        self.inner.conn.pipe::<()>(&pipe).await
    }

    pub(crate) async fn read_events(
        &self,
        queue: &str,
        after: Option<&str>,
        limit: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(String, Event)>> {
        validate_name("queue name", queue)?;
        let after = after.map(check_position).transpose()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.inner.keys.queue(queue).events();
        let start = after.map_or_else(|| "-".to_string(), |p| format!("({p}"));
        let mut range = redis::cmd("XRANGE");
        range.arg(&key).arg(&start).arg("+").arg("COUNT").arg(limit);
        let found = entries(self.inner.conn.query(&range).await?)?;
        let block = match block {
            Some(block) if found.is_empty() && !block.is_zero() => block,
            _ => return Ok(found),
        };
        // Nothing yet: wait for an entry after the position, off the command connection. A
        // zero BLOCK would mean forever, hence at least 1 ms.
        let block = block.min(self.inner.waiters.max_block());
        let mut xread = redis::cmd("XREAD");
        xread
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&key)
            .arg(after.unwrap_or("0-0"));
        let woke = self
            .inner
            .waiters
            .blocking(&xread, &key, block, &self.inner.conn)
            .await
            .map_err(|e| self.inner.conn.error(e))?;
        if matches!(woke, Value::Nil) {
            return Ok(Vec::new());
        }
        entries(self.inner.conn.query(&range).await?)
    }

    pub(crate) async fn last_event_position(&self, queue: &str) -> Result<Option<String>> {
        validate_name("queue name", queue)?;
        let key = self.inner.keys.queue(queue).events();
        let mut last = redis::cmd("XREVRANGE");
        last.arg(&key).arg("+").arg("-").arg("COUNT").arg(1);
        let reply: Value = self.inner.conn.query(&last).await?;
        let Value::Array(items) = reply else {
            return Ok(None);
        };
        Ok(items.first().and_then(|item| match item {
            Value::Array(parts) => parts.first().and_then(as_string),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_stream_ids() {
        assert!(check_position("1700000000000-0").is_ok());
        assert!(check_position("1-12").is_ok());
        for bad in ["", "12", "-1", "1-", "a-1", "1-2-3", "$", "+"] {
            let err = check_position(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }
}
