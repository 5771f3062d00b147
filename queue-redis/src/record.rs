//! Reading job records and script replies.

use bytes::Bytes;
use queue_core::{from_unix_ms, JobId, JobInfo, JobState};
use redis::Value;

/// A job's packed record: `attempts|max|token|priority|created ms|failed ms|name`
/// (written by `lua/lib.lua`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    pub(crate) token: u64,
    pub(crate) priority: i8,
    pub(crate) created_ms: u64,
    pub(crate) failed_ms: u64,
    pub(crate) name: String,
}

impl Meta {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(7, '|');
        let mut next = || parts.next();
        Some(Self {
            attempts: next()?.parse().ok()?,
            max_attempts: next()?.parse().ok()?,
            token: next()?.parse().ok()?,
            priority: next()?.parse().ok()?,
            created_ms: next()?.parse().ok()?,
            failed_ms: next()?.parse().ok()?,
            name: next().filter(|n| !n.is_empty())?.to_string(),
        })
    }

    /// The job's state; `scheduled` answers whether it sits in its lane's schedule.
    pub(crate) fn state(&self, scheduled: impl FnOnce() -> bool) -> JobState {
        if self.token != 0 {
            JobState::Active
        } else if self.failed_ms != 0 {
            JobState::Failed
        } else if scheduled() {
            JobState::Scheduled
        } else {
            JobState::Ready
        }
    }

    pub(crate) fn info(
        self,
        id: JobId,
        queue: &str,
        state: JobState,
        payload: Bytes,
        error: Option<String>,
        progress: Option<String>,
    ) -> JobInfo {
        let mut info = JobInfo::new(
            id,
            queue.to_string(),
            self.name,
            state,
            payload,
            self.attempts,
            self.max_attempts,
            self.priority,
            from_unix_ms(self.created_ms),
        );
        info.failed_at = (self.failed_ms != 0).then(|| from_unix_ms(self.failed_ms));
        info.last_error = error;
        info.progress = progress.and_then(|p| serde_json::from_str(&p).ok());
        info
    }
}

pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn as_bytes(v: &Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        Value::SimpleString(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        Value::Int(n) => Some(Bytes::from(n.to_string())),
        _ => None,
    }
}

pub(crate) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records() {
        let m = Meta::parse("2|5|17|-3|1700000000000|0|send:mail").unwrap();
        assert_eq!(
            (m.attempts, m.max_attempts, m.token, m.priority),
            (2, 5, 17, -3)
        );
        assert_eq!(m.name, "send:mail");
        assert_eq!(m.state(|| false), JobState::Active);
        assert!(Meta::parse("garbage").is_none());
        assert!(Meta::parse("1|2|3|4|5|6|").is_none());
        assert!(
            Meta::parse("1|2|3|999|5|6|x").is_none(),
            "priority out of range"
        );
    }
}
