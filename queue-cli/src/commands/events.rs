//! `queue events`: follows the storage's event logs and prints one line per event until
//! Ctrl-C. With `--queue`, one queue's log (a queue with sharded lanes: its shards' logs
//! merged, earliest first); without, every queue's, listing the queues again every [`RESCAN`]
//! to follow new ones.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use queue_core::{Event, EventStream};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Context, Report};
use crate::error::CliResult;
use crate::output::Paint;
use crate::time::rfc3339;

/// How often the queues are listed again to follow new ones (without `--queue`).
pub(crate) const RESCAN: Duration = Duration::from_secs(5);

/// How long a follower waits after a failed read before reading again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One printed line, or a remark for stderr.
enum Line {
    Event(String, Event),
    Note(String),
}

/// Follows `queue`'s log (or every queue's) until Ctrl-C.
pub(crate) async fn follow(cx: &Context, queue: Option<String>) -> CliResult<Report> {
    let (lines, mut printed) = mpsc::channel::<Line>(1024);
    let mut followed = HashSet::new();
    match &queue {
        Some(name) => {
            let stream = cx.queue.follow_events(name).await?;
            followed.insert(name.clone());
            tokio::spawn(forward(stream, lines.clone()));
        }
        None => {
            // Queues there now are followed from now on.
            for name in cx.queue.queues().await? {
                let stream = cx.queue.follow_events(&name).await?;
                followed.insert(name);
                tokio::spawn(forward(stream, lines.clone()));
            }
        }
    }
    let stderr = crate::output::Style::for_stderr();
    eprintln!(
        "{} following the events of {}; Ctrl-C to stop",
        stderr.paint(Some(Paint::Yellow), "note:"),
        match &queue {
            Some(name) => format!("queue `{name}`"),
            None => format!(
                "{} queue(s), and of new queues within {}s",
                followed.len(),
                RESCAN.as_secs()
            ),
        }
    );
    let mut rescan = tokio::time::interval_at(tokio::time::Instant::now() + RESCAN, RESCAN);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            line = printed.recv() => match line {
                Some(Line::Event(position, event)) => {
                    let text = if cx.json { json_line(&position, &event) } else { text_line(cx, &event) };
                    let mut out = std::io::stdout().lock();
                    // A closed pipe ends the command quietly.
                    if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                        break;
                    }
                }
                Some(Line::Note(note)) => eprintln!("{} {note}", stderr.paint(Some(Paint::Yellow), "note:")),
                None => break,
            },
            _ = rescan.tick(), if queue.is_none() => {
                // A queue that appeared since is followed from its oldest kept event: its
                // events so far are recent.
                match cx.queue.queues().await {
                    Ok(names) => for name in names {
                        if !followed.contains(&name) {
                            let stream = cx.queue.follow_events_after(&name, None).await?;
                            followed.insert(name);
                            tokio::spawn(forward(stream, lines.clone()));
                        }
                    },
                    Err(error) => eprintln!("{} could not list queues: {error}", stderr.paint(Some(Paint::Yellow), "note:")),
                }
            }
        }
    }
    Ok(Report {
        json: Value::Null,
        text: String::new(),
        notes: Vec::new(),
    })
}

/// Sends `stream`'s events on, reading again after a pause when a read fails.
async fn forward(mut stream: EventStream, lines: mpsc::Sender<Line>) {
    let mut failing = false;
    loop {
        match stream.next().await {
            Ok((position, event)) => {
                failing = false;
                if lines.send(Line::Event(position, event)).await.is_err() {
                    return;
                }
            }
            Err(error) => {
                if !failing {
                    let note =
                        format!("reading the events of `{}` failed: {error}", stream.queue());
                    if lines.send(Line::Note(note)).await.is_err() {
                        return;
                    }
                }
                failing = true;
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// `{"position": .., <the event's stored record>}` on one line.
fn json_line(position: &str, event: &Event) -> String {
    let mut value = serde_json::to_value(event.to_record()).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut value {
        fields.insert("position".into(), Value::String(position.to_string()));
    }
    value.to_string()
}

/// `<time> <kind> <queue>/<job> id=<id> attempt=<n> [took=<ms>ms] [retry_in=..] [error=..]`.
fn text_line(cx: &Context, event: &Event) -> String {
    let kind = serde_json::to_value(event.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{:?}", event.kind));
    let paint = match kind.as_str() {
        "completed" => Some(Paint::Green),
        "failed" | "lease_lost" | "poisoned" => Some(Paint::Red),
        "retrying" | "cancelled" => Some(Paint::Yellow),
        _ => None,
    };
    let mut line = format!(
        "{}  {} {}/{}  id={}  attempt={}",
        rfc3339(event.at),
        cx.style.paint(paint, &format!("{kind:<10}")),
        event.lane.queue(),
        event.lane.job(),
        event.id,
        event.attempt
    );
    if let Some(took) = event.duration {
        line.push_str(&format!("  took={}ms", took.as_millis()));
    }
    if let Some(retry_in) = event.retry_in {
        line.push_str(&format!("  retry_in={}ms", retry_in.as_millis()));
    }
    if let Some(progress) = &event.progress {
        line.push_str(&format!("  progress={progress}"));
    }
    if let Some(error) = &event.error {
        line.push_str(&format!("  error={error:?}"));
    }
    line
}
