//! The history checker: judges a recorded history against the queue's promise.
//!
//! - **Nothing lost**: every job whose dispatch was acknowledged completed (a run ended `ok`).
//! - **Repeats only of jobs in flight at a fault**: a job completed more than once must be one
//!   the test names as in flight at a fault; a job seen done never starts again.
//! - **No overlapping runs**: two runs of one job may overlap by at most a given bound. A run
//!   without an end ends when its process was seen dead; one that never ends overlaps anything
//!   after it.
//!
//! Runs are paired from the events by process and job id: one process runs one job at most once
//! at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use crate::event::{Event, Outcome};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Its handler recorded this outcome.
    Recorded(Outcome),
    /// Its process died first (an `exit` event closed it).
    Died,
    /// Nothing closed it: the history stops while it runs.
    Open,
}

/// One handler run, from its start to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The job's id.
    pub id: String,
    /// The attempt number the worker gave it.
    pub attempt: u32,
    /// The worker process.
    pub pid: u32,
    /// When it started (µs since the Unix epoch).
    pub start: u64,
    /// When it ended, or `u64::MAX` for an open run.
    pub end: u64,
    /// How it ended.
    pub ending: Ending,
}

impl Run {
    /// Whether its handler returned `Ok`.
    pub fn completed(&self) -> bool {
        self.ending == Ending::Recorded(Outcome::Ok)
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The events do not pair into runs (an end without a start, a run never ended, ...).
    Malformed,
    /// An acknowledged job never completed.
    Lost,
    /// A job that was never dispatched ran.
    Unknown,
    /// A job completed more than once but was not in flight at a fault.
    Repeated,
    /// A job started again after it was seen done.
    RanAfterDone,
    /// Two runs of one job overlapped by more than the bound.
    Overlap,
}

/// One finding, with a message that says what and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of finding.
    pub kind: Kind,
    /// The job concerned, if one.
    pub id: Option<String>,
    /// What happened, for people.
    pub message: String,
}

/// What a test knows about its jobs, to judge a history by.
#[derive(Clone, Debug, Default)]
pub struct Expectations {
    dispatched: BTreeSet<String>,
    maybe: BTreeSet<String>,
    unfinished: BTreeSet<String>,
    in_flight: BTreeSet<String>,
    seen_done: BTreeMap<String, u64>,
    overlap_bound: Duration,
}

impl Expectations {
    /// Jobs whose dispatch was acknowledged: each must complete. No overlap is allowed until
    /// [`overlap_bound`](Self::overlap_bound) says otherwise.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(dispatched: I) -> Self {
        Self {
            dispatched: dispatched.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// More jobs whose dispatch was acknowledged.
    pub fn dispatched<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.dispatched.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Jobs whose dispatch failed without saying whether they were stored: each may run or not.
    pub fn maybe_dispatched<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.maybe.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Dispatched jobs that need not complete (poison that is meant to fail).
    pub fn unfinished<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.unfinished.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Jobs in flight at a fault: each may complete more than once.
    pub fn in_flight<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.in_flight.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Job `id` was seen done at `at` (µs since the Unix epoch): no run of it may start later.
    pub fn seen_done(mut self, id: impl Into<String>, at: u64) -> Self {
        let id = id.into();
        let earliest = self.seen_done.get(&id).map_or(at, |&t| t.min(at));
        self.seen_done.insert(id, earliest);
        self
    }

    /// How long two runs of one job may overlap (default zero: not at all).
    pub fn overlap_bound(mut self, bound: Duration) -> Self {
        self.overlap_bound = bound;
        self
    }
}

/// The checker's verdict on a history.
#[derive(Clone, Debug)]
pub struct Report {
    runs: Vec<Run>,
    problems: Vec<Problem>,
    origin: u64,
}

impl Report {
    /// The runs the events paired into, by start time.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// The runs of one job, by start time.
    pub fn runs_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Run> + 'a {
        self.runs.iter().filter(move |r| r.id == id)
    }

    /// Every finding, most basic first.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The kinds found, each once.
    pub fn kinds(&self) -> BTreeSet<Kind> {
        self.problems.iter().map(|p| p.kind).collect()
    }

    /// Whether nothing went wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Panics with every finding unless the history is clean.
    #[track_caller]
    pub fn assert_clean(&self) {
        assert!(self.is_clean(), "{self}");
    }

    /// A time as seconds after the history's first event.
    pub fn relative(&self, at: u64) -> String {
        relative(self.origin, at)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jobs: BTreeSet<&str> = self.runs.iter().map(|r| r.id.as_str()).collect();
        if self.problems.is_empty() {
            return write!(
                f,
                "history clean: {} runs of {} jobs",
                self.runs.len(),
                jobs.len()
            );
        }
        write!(
            f,
            "history breaks the queue's promise ({} runs of {} jobs; times after the first event):",
            self.runs.len(),
            jobs.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {}", problem.message)?;
        }
        Ok(())
    }
}

fn relative(origin: u64, at: u64) -> String {
    if at == u64::MAX {
        return "never".to_string();
    }
    let us = at.saturating_sub(origin);
    format!("+{}.{:06}s", us / 1_000_000, us % 1_000_000)
}

fn describe(run: &Run, origin: u64) -> String {
    let ending = match run.ending {
        Ending::Recorded(outcome) => outcome.to_string(),
        Ending::Died => "process died".to_string(),
        Ending::Open => "still running".to_string(),
    };
    format!(
        "attempt {} in pid {} [{} .. {}] {ending}",
        run.attempt,
        run.pid,
        relative(origin, run.start),
        relative(origin, run.end)
    )
}

/// Pairs the events into runs: a start opens a run of its process, the matching end or the
/// process's exit closes it. Problems are events that do not pair.
pub fn pair_runs(events: &[Event]) -> (Vec<Run>, Vec<Problem>) {
    let origin = events.iter().map(Event::at).min().unwrap_or(0);
    let mut ordered: Vec<&Event> = events.iter().collect();
    // Stable: events of one time keep the order they were written in.
    ordered.sort_by_key(|e| e.at());
    let mut open: BTreeMap<(u32, String), Run> = BTreeMap::new();
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    for event in ordered {
        match event {
            Event::Ready { .. } => {}
            Event::Start {
                id,
                attempt,
                pid,
                at,
            } => {
                let run = Run {
                    id: id.clone(),
                    attempt: *attempt,
                    pid: *pid,
                    start: *at,
                    end: u64::MAX,
                    ending: Ending::Open,
                };
                if let Some(previous) = open.insert((*pid, id.clone()), run) {
                    problems.push(Problem {
                        kind: Kind::Malformed,
                        id: Some(id.clone()),
                        message: format!(
                            "job {id} started at {} in pid {pid} while its run {} had not ended there",
                            relative(origin, *at),
                            describe(&previous, origin)
                        ),
                    });
                    runs.push(previous);
                }
            }
            Event::End {
                id,
                attempt,
                pid,
                at,
                outcome,
            } => match open.remove(&(*pid, id.clone())) {
                Some(mut run) => {
                    if run.attempt != *attempt {
                        problems.push(Problem {
                            kind: Kind::Malformed,
                            id: Some(id.clone()),
                            message: format!(
                                "job {id} ended attempt {attempt} in pid {pid} at {}, but attempt {} was running there",
                                relative(origin, *at),
                                run.attempt
                            ),
                        });
                    }
                    run.end = *at;
                    run.ending = Ending::Recorded(*outcome);
                    runs.push(run);
                }
                None => problems.push(Problem {
                    kind: Kind::Malformed,
                    id: Some(id.clone()),
                    message: format!(
                        "job {id} ended ({outcome}) in pid {pid} at {} without a start there",
                        relative(origin, *at)
                    ),
                }),
            },
            Event::Exit { pid, at } => {
                let keys: Vec<(u32, String)> = open
                    .range((*pid, String::new())..)
                    .take_while(|((p, _), _)| p == pid)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    let mut run = open.remove(&key).expect("key just listed");
                    run.end = *at;
                    run.ending = Ending::Died;
                    runs.push(run);
                }
            }
        }
    }
    for run in open.into_values() {
        problems.push(Problem {
            kind: Kind::Malformed,
            id: Some(run.id.clone()),
            message: format!(
                "job {} never ended: {} has neither an end nor an exit of its process",
                run.id,
                describe(&run, origin)
            ),
        });
        runs.push(run);
    }
    runs.sort_by(|a, b| (a.start, a.pid, &a.id).cmp(&(b.start, b.pid, &b.id)));
    (runs, problems)
}

/// Judges `events` by `expect`.
pub fn check(events: &[Event], expect: &Expectations) -> Report {
    let origin = events.iter().map(Event::at).min().unwrap_or(0);
    let (runs, mut problems) = pair_runs(events);
    let mut by_job: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        by_job.entry(run.id.as_str()).or_default().push(run);
    }
    let list = |runs: &[&Run]| -> String {
        runs.iter()
            .map(|r| describe(r, origin))
            .collect::<Vec<_>>()
            .join("; ")
    };

    for id in &expect.dispatched {
        if expect.unfinished.contains(id) {
            continue;
        }
        let job_runs = by_job.get(id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        if !job_runs.iter().any(|r| r.completed()) {
            let runs = if job_runs.is_empty() {
                "it never ran".to_string()
            } else {
                format!("its runs: {}", list(job_runs))
            };
            problems.push(Problem {
                kind: Kind::Lost,
                id: Some(id.clone()),
                message: format!(
                    "job {id} was lost: its dispatch was acknowledged but it never completed ({runs})"
                ),
            });
        }
    }

    for (id, job_runs) in &by_job {
        let known = expect.dispatched.contains(*id)
            || expect.maybe.contains(*id)
            || expect.unfinished.contains(*id);
        if !known {
            problems.push(Problem {
                kind: Kind::Unknown,
                id: Some(id.to_string()),
                message: format!(
                    "job {id} ran but was never dispatched (runs: {})",
                    list(job_runs)
                ),
            });
        }

        let completions: Vec<&Run> = job_runs.iter().copied().filter(|r| r.completed()).collect();
        if completions.len() > 1 && !expect.in_flight.contains(*id) {
            problems.push(Problem {
                kind: Kind::Repeated,
                id: Some(id.to_string()),
                message: format!(
                    "job {id} completed {} times but was not in flight at a fault (completions: {})",
                    completions.len(),
                    list(&completions)
                ),
            });
        }

        if let Some(&done) = expect.seen_done.get(*id) {
            for run in job_runs.iter().filter(|r| r.start > done) {
                problems.push(Problem {
                    kind: Kind::RanAfterDone,
                    id: Some(id.to_string()),
                    message: format!(
                        "job {id} was seen done at {} but ran again: {}",
                        relative(origin, done),
                        describe(run, origin)
                    ),
                });
            }
        }

        let bound = expect.overlap_bound.as_micros() as u64;
        for (i, first) in job_runs.iter().enumerate() {
            for second in &job_runs[i + 1..] {
                // Runs are by start time: the second starts no earlier than the first.
                let overlap = first.end.min(second.end).saturating_sub(second.start);
                if overlap > bound {
                    let by = if first.end == u64::MAX && second.end == u64::MAX {
                        "for good (a run never ended)".to_string()
                    } else {
                        format!("by {:.3} ms", overlap as f64 / 1000.0)
                    };
                    problems.push(Problem {
                        kind: Kind::Overlap,
                        id: Some(id.to_string()),
                        message: format!(
                            "job {id} ran twice at once, overlapping {by} (bound {:.3} ms): {} and {}",
                            bound as f64 / 1000.0,
                            describe(first, origin),
                            describe(second, origin)
                        ),
                    });
                }
            }
        }
    }

    problems.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Report {
        runs,
        problems,
        origin,
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
