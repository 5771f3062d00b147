//! Job envelopes (the one record each job has) and script replies.
//!
//! An envelope is
//! `failed ms|attempts|max attempts|priority|created ms|ready ms|first ms|last ms|job name|payload`:
//! the client writes it at enqueue and reads it at reserve, so the scripts on the hot path move
//! it as an opaque string; only the rare paths (retry, failure, reap, requeue) rewrite the
//! header, in Lua (`lua/lib.lua`). `ready ms` is when the job became or becomes ready (its
//! dispatch plus its delay, its retry's due time, its return to the lane): a worker reads how
//! long the job waited from it. `first ms` and `last ms` are the starts of the first and the
//! latest run that ended without success (0: none); a running job's start is in its token
//! ([`token_started`]). `attempts` counts the handler runs that ended; the running one is not in
//! it, nor runs whose lease was lost (counted apart, in the lost hash).

use std::io::Write;

use bytes::Bytes;
use queue_core::{from_unix_ms, AttemptError, JobId, JobInfo, JobState, ReservedJob};
use redis::Value;

/// The header fields of an envelope; `body_at` is where its payload starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub(crate) failed_ms: u64,
    pub(crate) attempts: u32,
    pub(crate) max_attempts: u32,
    pub(crate) priority: i8,
    pub(crate) created_ms: u64,
    pub(crate) ready_ms: u64,
    pub(crate) first_ms: u64,
    pub(crate) last_ms: u64,
    pub(crate) name: &'a str,
    pub(crate) body_at: usize,
}

impl<'a> Header<'a> {
    /// Reads the header of `raw`, or `None` when `raw` is not an envelope. An envelope written
    /// before the ready and start fields existed (seven fields) reads as ready since its
    /// creation, with no run recorded; the scripts write the current form when they rewrite it.
    pub(crate) fn parse(raw: &'a [u8]) -> Option<Self> {
        let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
        if let Some(([failed, attempts, max, priority, created, ready, first, last, name], at)) =
            fields::<9>(raw)
        {
            // The current form's numbers in place: it is that form, readable or not.
            if [ready, first, last].into_iter().all(number) {
                return Self::of(
                    [failed, attempts, max, priority, created, ready, first, last],
                    name,
                    at,
                );
            }
        }
        let ([failed, attempts, max, priority, created, name], at) = fields::<6>(raw)?;
        Self::of(
            [failed, attempts, max, priority, created, created, "0", "0"],
            name,
            at,
        )
    }

    /// A header from its fields' text, or `None` when one is not what it should be.
    fn of(numbers: [&str; 8], name: &'a str, body_at: usize) -> Option<Self> {
        let [failed, attempts, max, priority, created, ready, first, last] = numbers;
        let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
        if ![failed, attempts, max, created, ready, first, last]
            .into_iter()
            .all(number)
        {
            return None;
        }
        Some(Self {
            failed_ms: failed.parse().ok()?,
            attempts: attempts.parse().ok()?,
            max_attempts: max.parse().ok()?,
            priority: priority.parse().ok()?,
            created_ms: created.parse().ok()?,
            ready_ms: ready.parse().ok()?,
            first_ms: first.parse().ok()?,
            last_ms: last.parse().ok()?,
            name: Some(name).filter(|n| !n.is_empty())?,
            body_at,
        })
    }

    /// The job's state: `leased` says whether it holds a lease, `scheduled` whether it sits in
    /// its lane's schedule.
    pub(crate) fn state(&self, leased: bool, scheduled: impl FnOnce() -> bool) -> JobState {
        if self.failed_ms != 0 {
            JobState::Failed
        } else if leased {
            JobState::Active
        } else if scheduled() {
            JobState::Scheduled
        } else {
            JobState::Ready
        }
    }
}

/// The first `N` `|`-ended fields of `raw` and where the rest starts.
fn fields<const N: usize>(raw: &[u8]) -> Option<([&str; N], usize)> {
    let mut fields = [""; N];
    let mut at = 0;
    for field in &mut fields {
        let len = raw[at..].iter().position(|&b| b == b'|')?;
        *field = std::str::from_utf8(&raw[at..at + len]).ok()?;
        at += len + 1;
    }
    Some((fields, at))
}

/// A new job's envelope: not failed, no attempts yet, ready at `ready_ms`. As a command
/// argument it is written straight into the command, so the payload is copied once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub(crate) max_attempts: u32,
    pub(crate) priority: i8,
    /// When the job was dispatched, in ms since the epoch.
    pub(crate) created_ms: u64,
    /// When it is due, in ms since the epoch.
    pub(crate) ready_ms: u64,
    /// The job's name.
    pub(crate) name: &'a str,
    pub(crate) payload: &'a [u8],
}

impl Envelope<'_> {
    /// Writes the envelope to `out`: its numbers formatted on the stack first, so `out`
    /// takes four writes whatever the formatting makes of them.
    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        // The longest numbers take 10, 4, 20 and 20 bytes: 66 with the separators.
        let mut numbers = std::io::Cursor::new([0u8; 72]);
        write!(
            numbers,
            "0|0|{}|{}|{}|{}|0|0|",
            self.max_attempts, self.priority, self.created_ms, self.ready_ms
        )?;
        let len = numbers.position() as usize;
        out.write_all(&numbers.get_ref()[..len])?;
        out.write_all(self.name.as_bytes())?;
        out.write_all(b"|")?;
        out.write_all(self.payload)
    }

    /// The envelope's bytes.
    #[cfg(test)]
    pub(crate) fn to_vec(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.name.len() + self.payload.len());
        self.write_to(&mut out).expect("writing to a vector");
        out
    }
}

impl redis::ToRedisArgs for Envelope<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        // The command's buffer takes any length, and the numbers fit their stack buffer
        // (`an_envelope_is_one_argument_of_its_bytes` writes the longest ones).
        self.write_to(&mut out.writer_for_next_arg())
            .expect("an envelope fits a command's buffer");
    }
}

/// A job as the admin calls show it, from its envelope and side records.
pub(crate) struct Stored {
    pub(crate) raw: Bytes,
    pub(crate) leased: bool,
    pub(crate) error: Option<String>,
    pub(crate) progress: Option<String>,
    /// How many times the job lost its lease (the lost hash).
    pub(crate) lost_leases: u32,
    /// Its error history (the errs hash, read by [`parse_errors`]).
    pub(crate) errors: Vec<AttemptError>,
}

impl Stored {
    /// The job's details, or `None` when its record is not an envelope.
    pub(crate) fn info(
        self,
        id: JobId,
        queue: &str,
        scheduled: impl FnOnce(&str) -> bool,
    ) -> Option<JobInfo> {
        let h = Header::parse(&self.raw)?;
        let state = h.state(self.leased, || scheduled(h.name));
        // The running attempt is not in the envelope's count.
        let running = u32::from(state == JobState::Active);
        let mut info = JobInfo::new(
            id,
            queue.to_string(),
            h.name.to_string(),
            state,
            self.raw.slice(h.body_at..),
            h.attempts + running,
            h.max_attempts,
            h.priority,
            from_unix_ms(h.created_ms),
        );
        info.failed_at = (h.failed_ms != 0).then(|| from_unix_ms(h.failed_ms));
        info.last_error = self.error;
        info.progress = self.progress.and_then(|p| serde_json::from_str(&p).ok());
        info.lost_leases = self.lost_leases;
        info.errors = self.errors;
        let at = |ms: u64| (ms != 0).then(|| from_unix_ms(ms));
        info.first_started_at = at(h.first_ms);
        info.started_at = at(h.last_ms);
        Some(info)
    }
}

/// Tokens per millisecond: a token is its reserve's time in ms times this plus a count
/// (`lua/lib.lua` new_token).
const TOKEN_MS: u64 = 1024;

/// When the run holding `token` started, or `None` for a token from before tokens carried
/// their reserve's time.
pub(crate) fn token_started(token: u64) -> Option<std::time::SystemTime> {
    let ms = token / TOKEN_MS;
    (ms >= 1_000_000_000_000).then(|| from_unix_ms(ms))
}

/// Gives each reserved job its run's start ([`ReservedJob::started_at`]), read from its
/// lease's token: the reserve's time by the Redis server's clock, the one the rate limit
/// counted the start at. A division and a comparison per job; a token from before tokens
/// carried a time leaves the start unknown.
pub(crate) fn stamp_starts(jobs: &mut [ReservedJob]) {
    for job in jobs {
        job.started_at = token_started(job.token);
    }
}

/// A job's error history from the errs hash, oldest first (none when the field is missing).
/// The field is entries `attempt:ms:started ms:length:message` one after another (`started ms`
/// 0 when the run's start is unknown), `length` the message's
/// size in bytes (`lua/lib.lua`). A history that stops being readable partway keeps the
/// entries before the damage.
pub(crate) fn parse_errors(v: &Value) -> Vec<AttemptError> {
    let raw: &[u8] = match v {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.as_bytes(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let Some((entry, after)) = next_error(rest) else {
            break;
        };
        out.push(entry);
        rest = after;
    }
    out
}

/// The first entry of an error history and what follows it, or `None` when it is not one.
/// An entry written before runs' starts were kept (`attempt:ms:length:message`) reads without
/// a start.
fn next_error(raw: &[u8]) -> Option<(AttemptError, &[u8])> {
    let digits_then_colon = |from: usize| {
        let len = raw.get(from..)?.iter().position(|&b| b == b':')?;
        (len > 0 && raw[from..from + len].iter().all(u8::is_ascii_digit)).then_some(from + len + 1)
    };
    // Four numbers lead an entry of this build's form (readable or damaged); three, an earlier one.
    let fourth = digits_then_colon(0)
        .and_then(digits_then_colon)
        .and_then(digits_then_colon)
        .and_then(digits_then_colon);
    if fourth.is_some() {
        next_error_with_start(raw)
    } else {
        next_error_before_starts(raw)
    }
}

/// An entry `attempt:ms:length:message`, from before runs' starts were kept.
fn next_error_before_starts(raw: &[u8]) -> Option<(AttemptError, &[u8])> {
    let mut numbers = [0u64; 3];
    let mut at = 0;
    for n in &mut numbers {
        let len = raw[at..].iter().position(|&b| b == b':')?;
        let digits = &raw[at..at + len];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *n = std::str::from_utf8(digits).ok()?.parse().ok()?;
        at += len + 1;
    }
    let [attempt, ms, len] = numbers;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let message = raw.get(at..end)?;
    let entry = AttemptError::new(
        u32::try_from(attempt).unwrap_or(u32::MAX),
        from_unix_ms(ms),
        String::from_utf8_lossy(message).into_owned(),
    );
    Some((entry, &raw[end..]))
}

/// An entry `attempt:ms:started ms:length:message`.
fn next_error_with_start(raw: &[u8]) -> Option<(AttemptError, &[u8])> {
    let mut numbers = [0u64; 4];
    let mut at = 0;
    for n in &mut numbers {
        let len = raw[at..].iter().position(|&b| b == b':')?;
        let digits = &raw[at..at + len];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *n = std::str::from_utf8(digits).ok()?.parse().ok()?;
        at += len + 1;
    }
    let [attempt, ms, started, len] = numbers;
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let message = raw.get(at..end)?;
    let mut entry = AttemptError::new(
        u32::try_from(attempt).unwrap_or(u32::MAX),
        from_unix_ms(ms),
        String::from_utf8_lossy(message).into_owned(),
    );
    if started != 0 {
        entry = entry.started(from_unix_ms(started));
    }
    Some((entry, &raw[end..]))
}

/// A job's lost leases from the lost hash (none when the field is missing).
pub(crate) fn lost_count(v: &Value) -> u32 {
    as_i64(v).map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

/// The bytes of a string reply, taking them without a copy.
pub(crate) fn into_bytes(v: Value) -> Option<Bytes> {
    match v {
        Value::BulkString(b) => Some(Bytes::from(b)),
        Value::SimpleString(s) => Some(Bytes::from(s)),
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
    fn envelopes_round_trip() {
        let raw = Envelope {
            max_attempts: 5,
            priority: -3,
            created_ms: 1_700_000_000_000,
            ready_ms: 1_700_000_060_000,
            name: "send:mail",
            payload: br#"{"a":"x|y"}"#,
        }
        .to_vec();
        let h = Header::parse(&raw).unwrap();
        assert_eq!(
            (h.failed_ms, h.attempts, h.max_attempts, h.priority),
            (0, 0, 5, -3)
        );
        assert_eq!((h.created_ms, h.name), (1_700_000_000_000, "send:mail"));
        assert_eq!(
            (h.ready_ms, h.first_ms, h.last_ms),
            (1_700_000_060_000, 0, 0)
        );
        assert_eq!(&raw[h.body_at..], br#"{"a":"x|y"}"#);
        assert_eq!(h.state(true, || false), JobState::Active);
        assert_eq!(h.state(false, || true), JobState::Scheduled);
    }

    /// Written into a command, an envelope is one argument holding exactly its bytes, at the
    /// largest numbers it can carry too.
    #[test]
    fn an_envelope_is_one_argument_of_its_bytes() {
        let payload = vec![b'x'; 100 << 10];
        for (attempts, priority, at) in [(1, 0, 1_700_000_000_000), (u32::MAX, i8::MIN, u64::MAX)] {
            let env = Envelope {
                max_attempts: attempts,
                priority,
                created_ms: at,
                ready_ms: at,
                name: "a:long:job:name",
                payload: &payload,
            };
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg("before").arg(env).arg("after");
            let args: Vec<&[u8]> = cmd
                .args_iter()
                .map(|arg| match arg {
                    redis::Arg::Simple(bytes) => bytes,
                    _ => panic!("a cursor argument"),
                })
                .collect();
            let expected = format!("0|0|{attempts}|{priority}|{at}|{at}|0|0|a:long:job:name|");
            assert_eq!(args.len(), 4);
            assert_eq!(args[1], b"before");
            assert_eq!(&args[2][..expected.len()], expected.as_bytes());
            assert_eq!(&args[2][expected.len()..], &payload[..]);
            assert_eq!(args[3], b"after");
            assert_eq!(args[2], &env.to_vec()[..]);
        }
    }

    #[test]
    fn reads_error_histories() {
        let raw = "1:1700000000000:0:4:boom2:1700000000500:1700000000100:7:a:b|c\nd\
                   3:1700000001000:0:0:";
        let errors = parse_errors(&Value::BulkString(raw.as_bytes().to_vec()));
        let got: Vec<(u32, u64, &str)> = errors
            .iter()
            .map(|e| (e.attempt, queue_core::unix_ms(e.at), e.error.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, 1_700_000_000_000, "boom"),
                (2, 1_700_000_000_500, "a:b|c\nd"),
                (3, 1_700_000_001_000, ""),
            ]
        );
        let started: Vec<Option<u64>> = errors
            .iter()
            .map(|e| e.started_at.map(queue_core::unix_ms))
            .collect();
        assert_eq!(started, [None, Some(1_700_000_000_100), None]);
        // Damage keeps the entries before it.
        let damaged = "1:5:0:4:boom2:6:0:99:short";
        let errors = parse_errors(&Value::BulkString(damaged.as_bytes().to_vec()));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].error, "boom");
        assert!(parse_errors(&Value::Nil).is_empty());
        assert!(parse_errors(&Value::BulkString(b"x:1:0:1:a".to_vec())).is_empty());
    }

    #[test]
    fn reads_what_earlier_builds_wrote() {
        let old = b"0|2|5|-3|1700000000000|send:mail|{\"a\":\"x|y\"}";
        let h = Header::parse(old).unwrap();
        assert_eq!((h.attempts, h.max_attempts, h.priority), (2, 5, -3));
        assert_eq!(
            (h.created_ms, h.ready_ms),
            (1_700_000_000_000, 1_700_000_000_000)
        );
        assert_eq!((h.first_ms, h.last_ms, h.name), (0, 0, "send:mail"));
        assert_eq!(&old[h.body_at..], br#"{"a":"x|y"}"#);
        // An old history, then an entry of this build's form.
        let raw = "1:1700000000000:4:boom2:1700000000500:1700000000100:2:ok";
        let errors = parse_errors(&Value::BulkString(raw.as_bytes().to_vec()));
        let got: Vec<(u32, &str, Option<u64>)> = errors
            .iter()
            .map(|e| {
                (
                    e.attempt,
                    e.error.as_str(),
                    e.started_at.map(queue_core::unix_ms),
                )
            })
            .collect();
        assert_eq!(got, [(1, "boom", None), (2, "ok", Some(1_700_000_000_100))]);
    }

    #[test]
    fn tokens_carry_their_reserve_time() {
        let ms = 1_700_000_000_123u64;
        let started = token_started(ms * TOKEN_MS + 7).map(queue_core::unix_ms);
        assert_eq!(started, Some(ms));
        assert_eq!(token_started(42), None, "a counted token has no time");
    }

    #[test]
    fn reserved_jobs_get_their_start_from_their_token() {
        let ms = 1_700_000_000_123u64;
        let job = |token| ReservedJob::new(JobId::from("1"), token, Bytes::new(), 1, 1);
        let mut jobs = [job(ms * TOKEN_MS + 3), job(42)];
        stamp_starts(&mut jobs);
        assert_eq!(jobs[0].started_at.map(queue_core::unix_ms), Some(ms));
        assert_eq!(jobs[1].started_at, None, "a counted token has no time");
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        for bad in [
            &b"garbage"[..],
            b"0|1|2|3|4|4|0|0||payload",
            b"0|1|2|999|4|4|0|0|x|payload",
            b"0|-1|2|0|4|4|0|0|x|payload",
            b"0|1|2|0|4||x|payload",
            b"0|1|2|0|x4|4|0|0|x|payload",
            b"0|1|2|0|4",
            b"",
        ] {
            assert!(
                Header::parse(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
