//! Writing a history: each event one line, written whole with a single `write` so that several
//! processes can append to one file (opened with `O_APPEND`) without interleaving.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use crate::event::{now_us, Event, Outcome};

/// Where a process writes its history.
#[derive(Debug)]
pub struct Recorder {
    sink: Sink,
    pid: u32,
}

#[derive(Debug)]
enum Sink {
    File(Mutex<File>),
    Stdout,
}

impl Recorder {
    /// Appends to the file at `path`, creating it if needed.
    pub fn to_file(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            sink: Sink::File(Mutex::new(file)),
            pid: std::process::id(),
        })
    }

    /// Writes to standard output.
    pub fn to_stdout() -> Self {
        Self {
            sink: Sink::Stdout,
            pid: std::process::id(),
        }
    }

    /// This process's id, as its events give it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes one event and flushes it. A history that cannot be written makes every later
    /// check meaningless, so a failure ends the process.
    pub fn write(&self, event: &Event) {
        let line = format!("{event}\n");
        let written = match &self.sink {
            Sink::File(file) => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                file.write_all(line.as_bytes()).and_then(|()| file.flush())
            }
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            }
        };
        if let Err(error) = written {
            eprintln!("fault-worker: cannot write the history: {error}");
            std::process::abort();
        }
    }

    /// Records that this process is connected and running.
    pub fn ready(&self) {
        self.write(&Event::Ready {
            pid: self.pid,
            at: now_us(),
        });
    }

    /// Records a run's start; the returned guard records its end when dropped.
    pub fn start(&self, id: &str, attempt: u32) -> RunRecord<'_> {
        self.write(&Event::Start {
            id: id.to_string(),
            attempt,
            pid: self.pid,
            at: now_us(),
        });
        RunRecord {
            recorder: self,
            id: id.to_string(),
            attempt,
            outcome: Outcome::Cancelled,
        }
    }
}

/// A run being recorded: its end is written when this is dropped, with the outcome set last
/// or `cancelled` if none was (the worker dropped the run before it finished).
#[derive(Debug)]
pub struct RunRecord<'a> {
    recorder: &'a Recorder,
    id: String,
    attempt: u32,
    outcome: Outcome,
}

impl RunRecord<'_> {
    /// Sets the outcome the end will carry.
    pub fn outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for RunRecord<'_> {
    fn drop(&mut self) {
        self.recorder.write(&Event::End {
            id: std::mem::take(&mut self.id),
            attempt: self.attempt,
            pid: self.recorder.pid,
            at: now_us(),
            outcome: self.outcome,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_history;

    #[test]
    fn a_dropped_run_ends_cancelled_and_a_finished_one_with_its_outcome() {
        let path = std::env::temp_dir().join(format!("queue-faults-record-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let recorder = Recorder::to_file(&path).unwrap();
        recorder.ready();
        {
            let mut run = recorder.start("a", 1);
            run.outcome(Outcome::Ok);
        }
        drop(recorder.start("b", 2));
        // A second writer appends to the same file.
        Recorder::to_file(&path)
            .unwrap()
            .start("c", 1)
            .outcome(Outcome::Error);
        let events = parse_history(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_file(&path).unwrap();
        let pid = std::process::id();
        let summary: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::Ready { pid: p, .. } => format!("ready {}", *p == pid),
                Event::Start { id, attempt, .. } => format!("start {id} {attempt}"),
                Event::End {
                    id,
                    attempt,
                    outcome,
                    ..
                } => format!("end {id} {attempt} {outcome}"),
                Event::Exit { .. } => "exit".into(),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "ready true",
                "start a 1",
                "end a 1 ok",
                "start b 2",
                "end b 2 cancelled",
                "start c 1",
                "end c 1 error"
            ]
        );
        assert!(events.windows(2).all(|w| w[0].at() <= w[1].at()));
    }
}
