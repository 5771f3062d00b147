//! The history's events: what each line of a history file says, written and read back.
//!
//! One event per line, fields separated by single spaces, times in wall-clock microseconds
//! since the Unix epoch (every process on the machine shares that clock):
//!
//! ```text
//! ready <pid> <us>                               a worker process is connected and running
//! start <job id> <attempt> <pid> <us>            a handler run began
//! end <job id> <attempt> <pid> <us> <outcome>    it ended: ok, error or cancelled
//! exit <pid> <us>                                the process was seen dead (written by its parent)
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// How a handler run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The handler returned `Ok`.
    Ok,
    /// The handler returned an error.
    Error,
    /// The run was dropped before it finished: cancelled by its worker (lost lease, shutdown).
    Cancelled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(Outcome::Ok),
            "error" => Some(Outcome::Error),
            "cancelled" => Some(Outcome::Cancelled),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A worker process is connected and about to run.
    Ready {
        /// Its process id.
        pid: u32,
        /// When, in microseconds since the Unix epoch.
        at: u64,
    },
    /// A handler run began.
    Start {
        /// The job's id.
        id: String,
        /// The run's attempt number, as the worker gave it.
        attempt: u32,
        /// The worker process.
        pid: u32,
        /// When, in microseconds since the Unix epoch.
        at: u64,
    },
    /// A handler run ended.
    End {
        /// The job's id.
        id: String,
        /// The run's attempt number.
        attempt: u32,
        /// The worker process.
        pid: u32,
        /// When, in microseconds since the Unix epoch.
        at: u64,
        /// How it ended.
        outcome: Outcome,
    },
    /// A worker process was seen dead; its runs without an end ended with it.
    Exit {
        /// Its process id.
        pid: u32,
        /// When its death was seen, in microseconds since the Unix epoch.
        at: u64,
    },
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> u64 {
        match self {
            Event::Ready { at, .. }
            | Event::Start { at, .. }
            | Event::End { at, .. }
            | Event::Exit { at, .. } => *at,
        }
    }

    /// Reads one line (without its newline).
    pub fn parse(line: &str) -> Result<Self, String> {
        let fields: Vec<&str> = line.split(' ').collect();
        let number = |index: usize, what: &str| -> Result<u64, String> {
            fields[index]
                .parse()
                .map_err(|_| format!("bad {what} `{}` in history line `{line}`", fields[index]))
        };
        let small = |index: usize, what: &str| -> Result<u32, String> {
            u32::try_from(number(index, what)?)
                .map_err(|_| format!("{what} out of range in history line `{line}`"))
        };
        match (fields[0], fields.len()) {
            ("ready", 3) => Ok(Event::Ready {
                pid: small(1, "pid")?,
                at: number(2, "time")?,
            }),
            ("exit", 3) => Ok(Event::Exit {
                pid: small(1, "pid")?,
                at: number(2, "time")?,
            }),
            ("start", 5) => Ok(Event::Start {
                id: job_id(fields[1], line)?,
                attempt: small(2, "attempt")?,
                pid: small(3, "pid")?,
                at: number(4, "time")?,
            }),
            ("end", 6) => Ok(Event::End {
                id: job_id(fields[1], line)?,
                attempt: small(2, "attempt")?,
                pid: small(3, "pid")?,
                at: number(4, "time")?,
                outcome: Outcome::parse(fields[5]).ok_or_else(|| {
                    format!("bad outcome `{}` in history line `{line}`", fields[5])
                })?,
            }),
            ("ready" | "exit" | "start" | "end", n) => Err(format!(
                "history line `{line}` has {n} fields, which is wrong for a `{}` event",
                fields[0]
            )),
            (kind, _) => Err(format!("unknown event `{kind}` in history line `{line}`")),
        }
    }
}

fn job_id(text: &str, line: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err(format!("empty job id in history line `{line}`"));
    }
    Ok(text.to_string())
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Ready { pid, at } => write!(f, "ready {pid} {at}"),
            Event::Start {
                id,
                attempt,
                pid,
                at,
            } => write!(f, "start {id} {attempt} {pid} {at}"),
            Event::End {
                id,
                attempt,
                pid,
                at,
                outcome,
            } => write!(f, "end {id} {attempt} {pid} {at} {outcome}"),
            Event::Exit { pid, at } => write!(f, "exit {pid} {at}"),
        }
    }
}

/// Reads a whole history. A last line without its newline is being written right now and is
/// left out; any other line that does not parse is an error naming it.
pub fn parse_history(text: &str) -> Result<Vec<Event>, String> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Ok(Vec::new()),
    };
    complete
        .split('\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(number, line)| {
            Event::parse(line).map_err(|e| format!("history line {}: {e}", number + 1))
        })
        .collect()
}

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_as_written() {
        let events = [
            Event::Ready { pid: 7, at: 10 },
            Event::Start {
                id: "job-1".into(),
                attempt: 2,
                pid: 7,
                at: 11,
            },
            Event::End {
                id: "job-1".into(),
                attempt: 2,
                pid: 7,
                at: 12,
                outcome: Outcome::Cancelled,
            },
            Event::Exit { pid: 7, at: 13 },
        ];
        for event in events {
            assert_eq!(Event::parse(&event.to_string()).unwrap(), event);
        }
    }

    #[test]
    fn a_partial_last_line_is_left_for_later() {
        let text = "ready 1 5\nstart a 1 1 6\nend a 1 1";
        let events = parse_history(text).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(parse_history("start a 1").unwrap(), Vec::new());
    }

    #[test]
    fn bad_lines_are_errors_that_name_them() {
        let err = parse_history("ready 1 5\nstart a x 1 6\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("bad attempt `x`"),
            "{err}"
        );
        let err = Event::parse("end a 1 1 6 maybe").unwrap_err();
        assert!(err.contains("bad outcome `maybe`"), "{err}");
        let err = Event::parse("start a 1 1").unwrap_err();
        assert!(err.contains("4 fields"), "{err}");
        let err = Event::parse("begin a 1 1 6").unwrap_err();
        assert!(err.contains("unknown event `begin`"), "{err}");
        let err = Event::parse("exit 99999999999 6").unwrap_err();
        assert!(err.contains("pid out of range"), "{err}");
    }
}
