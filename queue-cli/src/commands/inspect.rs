//! The read commands: stats, queues, jobs, show, workers, unserved.

use std::time::SystemTime;

use queue_core::{Counts, JobId, JobInfo, QueueStats, RunCounts};
use serde_json::{json, Value};

use super::{job_json, json_or_text, known_queue, payload, traceparent, Context, Report};
use crate::cli::{JobsArgs, OrderArg};
use crate::error::{CliError, CliResult};
use crate::listing::{self, shell_quote, state_name, Listing};
use crate::output::{clip, fields, Paint, Table};
use crate::time::rfc3339;

/// `queue stats [--queue Q]`
pub(crate) async fn stats(cx: &Context, only: Option<&str>) -> CliResult<Report> {
    let names = match only {
        Some(name) => {
            known_queue(&cx.queue, name).await?;
            vec![name.to_string()]
        }
        None => sorted(cx.queue.queues().await?),
    };
    let admin = cx.queue.driver().admin();
    let mut queues_json = Vec::new();
    let mut queues = Table::new(&[
        "QUEUE",
        "READY",
        "SCHEDULED",
        "ACTIVE",
        "FAILED",
        "COMPLETED",
        "PAUSED",
    ]);
    let mut lanes = Table::new(&["QUEUE", "JOB", "READY", "SCHEDULED", "ACTIVE"]);
    let mut any_lane = false;
    let mut history_lines = String::new();
    for name in &names {
        let counts = cx.queue.counts(name).await?;
        let lane_counts = match admin {
            Some(_) => cx.queue.lane_counts(name).await?,
            None => Vec::new(),
        };
        queues.painted_row([
            (name.clone(), None),
            count_cell(counts.ready, Paint::Green),
            count_cell(counts.scheduled, Paint::Yellow),
            count_cell(counts.active, Paint::Cyan),
            count_cell(counts.failed, Paint::Red),
            count_cell(counts.completed, Paint::Green),
            if counts.paused {
                ("paused".to_string(), Some(Paint::Yellow))
            } else {
                ("no".to_string(), None)
            },
        ]);
        let mut lanes_json = Vec::new();
        for (job, lane) in &lane_counts {
            any_lane = true;
            lanes.row([
                name.clone(),
                job.clone(),
                lane.ready.to_string(),
                lane.scheduled.to_string(),
                lane.active.to_string(),
            ]);
            lanes_json.push(json!({
                "job": job,
                "ready": lane.ready,
                "scheduled": lane.scheduled,
                "active": lane.active,
            }));
        }
        let mut entry = counts_json(&counts);
        entry["queue"] = json!(name);
        entry["paused"] = json!(counts.paused);
        entry["lanes"] = Value::Array(lanes_json);
        if cx.queue.driver().stats().is_some() {
            let history = cx.queue.stats(name).await?;
            history_lines.push_str(&history_text(&history));
            entry["history"] = history_json(&history);
        }
        queues_json.push(entry);
    }
    let text = if names.is_empty() {
        "no queues\n".to_string()
    } else if any_lane {
        format!("{}\n{}", queues.render(cx.style), lanes.render(cx.style))
    } else {
        queues.render(cx.style)
    };
    let text = format!("{text}{history_lines}");
    Ok(Report {
        json: json!({ "queues": queues_json }),
        text,
        notes: Vec::new(),
    })
}

/// One queue's statistics for people: totals per handler, the oldest ready job's age, the
/// last five minutes and a sparkline of the hour's completions.
fn history_text(history: &QueueStats) -> String {
    let mut out = format!("\n{}:", history.queue);
    for (job, runs) in &history.totals {
        out.push_str(&format!(
            " {job} {} done, {} failed, {} retried;",
            runs.completed, runs.failed, runs.retried
        ));
    }
    if history.totals.is_empty() {
        out.push_str(" no runs recorded;");
    }
    match history.oldest_ready {
        Some(at) => {
            let age = SystemTime::now().duration_since(at).unwrap_or_default();
            out.push_str(&format!(" oldest ready {}s old\n", age.as_secs()));
        }
        None => out.push_str(" nothing ready\n"),
    }
    let mut last5 = RunCounts::default();
    for m in history.minutes.iter().rev().take(5) {
        last5.add(m.runs);
    }
    out.push_str(&format!(
        "  last 5 min: {} done, {} failed, {} retried; last hour {}\n",
        last5.completed,
        last5.failed,
        last5.retried,
        sparkline(
            history
                .minutes
                .iter()
                .map(|m| m.runs.completed + m.runs.failed)
        )
    ));
    out
}

/// One character per value, higher blocks for larger values.
fn sparkline(values: impl Iterator<Item = u64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let values: Vec<u64> = values.collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|v| {
            if *v == 0 {
                ' '
            } else {
                BARS[((v * 7) / max) as usize]
            }
        })
        .collect()
}

/// One queue's statistics as JSON.
fn history_json(history: &QueueStats) -> Value {
    let runs =
        |r: &RunCounts| json!({"completed": r.completed, "failed": r.failed, "retried": r.retried});
    json!({
        "totals": history.totals.iter().map(|(job, r)| {
            let mut v = runs(r);
            v["job"] = json!(job);
            v
        }).collect::<Vec<_>>(),
        "oldest_ready": history.oldest_ready.map(rfc3339),
        "oldest_ready_age_secs": history.oldest_ready.map(|at| SystemTime::now().duration_since(at).unwrap_or_default().as_secs()),
        "minutes": history.minutes.iter().map(|m| {
            let mut v = runs(&m.runs);
            v["minute"] = json!(m.minute);
            v
        }).collect::<Vec<_>>(),
    })
}

/// `queue queues`
pub(crate) async fn queues(cx: &Context) -> CliResult<Report> {
    let names = sorted(cx.queue.queues().await?);
    let text = if names.is_empty() {
        "no queues\n".to_string()
    } else {
        names.iter().map(|n| format!("{n}\n")).collect()
    };
    Ok(Report {
        json: json!({ "queues": names }),
        text,
        notes: Vec::new(),
    })
}

/// `queue jobs --state S [--queue Q] [--name N] [--order O] [--limit N] [--cursor C]`
pub(crate) async fn jobs(cx: &Context, args: JobsArgs) -> CliResult<Report> {
    let state = args.state.state();
    let order = OrderArg::or_default(args.order, args.state);
    if let Some(name) = &args.name {
        queue_core::validate_name("job name", name)?;
    }
    let listing = Listing {
        state,
        name: args.name.clone(),
        order: order.order(),
        limit: args.limit as usize,
    };
    let page = match &args.queue {
        Some(name) => {
            known_queue(&cx.queue, name).await?;
            listing::page(&cx.queue, name, &listing, args.cursor.as_deref()).await?
        }
        None => {
            let names = sorted(cx.queue.queues().await?);
            listing::page_across(&cx.queue, &names, &listing, args.cursor.as_deref()).await?
        }
    };
    let mut table = Table::new(&[
        "ID",
        "QUEUE",
        "NAME",
        "STATE",
        "ATTEMPTS",
        "PRIORITY",
        "CREATED",
        "FAILED AT",
        "ERROR",
    ]);
    for job in &page.jobs {
        let state = state_name(job.state);
        table.painted_row([
            (job.id.to_string(), None),
            (job.queue.clone(), None),
            (job.name.clone(), None),
            (state.to_string(), Paint::of_state(state)),
            (format!("{}/{}", job.attempts, job.max_attempts), None),
            (job.priority.to_string(), None),
            (rfc3339(job.created_at), None),
            (job.failed_at.map(rfc3339).unwrap_or_default(), None),
            (clip(job.last_error.as_deref().unwrap_or(""), 60), None),
        ]);
    }
    let mut text = if page.jobs.is_empty() {
        format!("no {} jobs\n", state_name(state))
    } else {
        table.render(cx.style)
    };
    if let Some(next) = &page.next_cursor {
        let line = format!("next page: {}", next_command(&args, order, next));
        text.push_str(&cx.style.paint(Some(Paint::Dim), &line));
        text.push('\n');
    }
    Ok(Report {
        json: json!({
            "jobs": page.jobs.iter().map(job_json).collect::<Vec<_>>(),
            "next": page.next_cursor,
        }),
        text,
        notes: Vec::new(),
    })
}

/// The command that prints the page after this one (the URL as the user gave it is left out:
/// it may hold a password).
fn next_command(args: &JobsArgs, order: OrderArg, cursor: &str) -> String {
    let mut line = format!("queue jobs --state {}", state_name(args.state.state()));
    if let Some(queue) = &args.queue {
        line.push_str(&format!(" --queue {}", shell_quote(queue)));
    }
    if let Some(name) = &args.name {
        line.push_str(&format!(" --name {}", shell_quote(name)));
    }
    if args.order.is_some() {
        line.push_str(&format!(" --order {}", order.name()));
    }
    line.push_str(&format!(
        " --limit {} --cursor {}",
        args.limit,
        shell_quote(cursor)
    ));
    line
}

/// The one job `id` among every queue, or an error saying it is in none or several.
pub(crate) async fn find(cx: &Context, id: &str) -> CliResult<JobInfo> {
    let job_id = JobId::from(id);
    let names = sorted(cx.queue.queues().await?);
    let mut found = Vec::new();
    for name in &names {
        if let Some(job) = cx.queue.job(name, &job_id).await? {
            found.push(job);
        }
    }
    match found.len() {
        0 if names.is_empty() => Err(CliError::failed(format!(
            "job `{id}` not found: the storage holds no queues"
        ))),
        0 => Err(CliError::failed(format!(
            "job `{id}` not found in any queue (searched {})",
            names.join(", ")
        ))),
        1 => Ok(found.remove(0)),
        _ => {
            let holders: Vec<&str> = found.iter().map(|j| j.queue.as_str()).collect();
            Err(CliError::failed(format!(
                "job `{id}` exists in several queues ({}); name one with --queue",
                holders.join(", ")
            )))
        }
    }
}

/// `queue show ID [--queue Q]`
pub(crate) async fn show(cx: &Context, id: &str, queue: Option<&str>) -> CliResult<Report> {
    let job_id = JobId::from(id);
    let job = match queue {
        Some(name) => {
            known_queue(&cx.queue, name).await?;
            cx.queue.job(name, &job_id).await?.ok_or_else(|| {
                CliError::failed(format!("job `{id}` not found in queue `{name}`"))
            })?
        }
        None => find(cx, id).await?,
    };
    let mut text = String::new();
    if queue.is_none() {
        text.push_str(&format!("found in queue `{}`\n", job.queue));
    }
    text.push_str(&job_text(cx, &job));
    let mut json = job_json(&job);
    json["errors"] = job
        .errors
        .iter()
        .map(|e| {
            json!({
                "attempt": e.attempt,
                "started_at": e.started_at.map(rfc3339),
                "at": rfc3339(e.at),
                "error": e.error,
            })
        })
        .collect();
    Ok(Report {
        json,
        text,
        notes: Vec::new(),
    })
}

/// A job's error history, oldest first, one line per failed run or lost lease: attempt, when
/// the run started (`-` when unknown) and when it ended, error (on one line, clipped). Nothing
/// for a job without errors.
fn errors_text(cx: &Context, job: &JobInfo) -> String {
    if job.errors.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "{} (oldest first, the last {})\n",
        cx.style.paint(Some(Paint::Bold), "errors"),
        queue_core::MAX_ERRORS_KEPT
    );
    for e in &job.errors {
        let started = e.started_at.map_or_else(|| "-".to_string(), rfc3339);
        text.push_str(&format!(
            "  attempt {:<3} {started} .. {}  {}\n",
            e.attempt,
            rfc3339(e.at),
            clip(&e.error, 200)
        ));
    }
    text
}

/// A job in full, as label/value lines and then its payload, pretty-printed.
fn job_text(cx: &Context, job: &JobInfo) -> String {
    let state = state_name(job.state);
    let mut pairs = vec![
        ("id", job.id.to_string(), None),
        ("queue", job.queue.clone(), None),
        ("name", job.name.clone(), None),
        ("state", state.to_string(), Paint::of_state(state)),
        (
            "attempts",
            format!("{}/{}", job.attempts, job.max_attempts),
            None,
        ),
        ("lost leases", job.lost_leases.to_string(), None),
        ("priority", job.priority.to_string(), None),
        ("created", rfc3339(job.created_at), None),
    ];
    if let Some(at) = job
        .first_started_at
        .filter(|first| Some(*first) != job.started_at)
    {
        pairs.push(("first started", rfc3339(at), None));
    }
    if let Some(at) = job.started_at {
        pairs.push(("started", rfc3339(at), None));
    }
    if let Some(at) = job.failed_at {
        pairs.push(("failed at", rfc3339(at), None));
    }
    if let Some(at) = job.finished_at {
        pairs.push(("finished", rfc3339(at), None));
    }
    if let Some(worker) = &job.held_by {
        pairs.push(("running on", worker.clone(), None));
    }
    if let Some(error) = &job.last_error {
        pairs.push(("last error", clip(error, 500), Some(Paint::Red)));
    }
    if let Some(progress) = &job.progress {
        pairs.push(("progress", progress.to_string(), None));
    }
    if let Some(parent) = traceparent(job) {
        pairs.push(("traceparent", parent.to_string(), None));
    }
    let payload = serde_json::to_string_pretty(&payload(job)).unwrap_or_default();
    let mut text = format!(
        "{}{}{}\n{payload}\n",
        fields(cx.style, &pairs),
        errors_text(cx, job),
        cx.style.paint(Some(Paint::Bold), "payload")
    );
    if let Some(result) = &job.result {
        let result = serde_json::to_string_pretty(&json_or_text(result)).unwrap_or_default();
        text.push_str(&format!(
            "{}\n{result}\n",
            cx.style.paint(Some(Paint::Bold), "result")
        ));
    }
    text
}

/// `queue workers`
pub(crate) async fn workers(cx: &Context) -> CliResult<Report> {
    let mut workers = cx.queue.workers().await?;
    workers.sort_by(|a, b| (&a.host, a.pid, &a.id).cmp(&(&b.host, b.pid, &b.id)));
    let mut table = Table::new(&[
        "ID",
        "HOST",
        "PID",
        "STARTED",
        "LANES (RUNNING/CONCURRENCY)",
    ]);
    let mut list = Vec::new();
    for worker in &workers {
        let lanes: Vec<String> = worker
            .lanes
            .iter()
            .map(|l| match worker.load_of(l) {
                Some(load) => format!("{l} {}/{}", load.running, load.concurrency),
                None => l.to_string(),
            })
            .collect();
        table.row([
            worker.id.clone(),
            worker.host.clone(),
            worker.pid.to_string(),
            rfc3339(worker.started_at),
            lanes.join(", "),
        ]);
        list.push(json!({
            "id": worker.id,
            "host": worker.host,
            "pid": worker.pid,
            "started_at": rfc3339(worker.started_at),
            "lanes": worker.lanes.iter().map(|l| {
                let load = worker.load_of(l);
                json!({
                    "queue": l.queue(),
                    "job": l.job(),
                    "concurrency": load.map(|x| x.concurrency),
                    "running": load.map(|x| x.running),
                })
            }).collect::<Vec<_>>(),
        }));
    }
    let text = if workers.is_empty() {
        "no live workers\n".to_string()
    } else {
        table.render(cx.style)
    };
    Ok(Report {
        json: json!({ "workers": list }),
        text,
        notes: Vec::new(),
    })
}

/// `queue unserved`
pub(crate) async fn unserved(cx: &Context) -> CliResult<Report> {
    let mut unserved = cx.queue.unserved().await?;
    unserved.sort_by(|a, b| a.lane.cmp(&b.lane));
    let mut table = Table::new(&["QUEUE", "JOB", "READY", "SCHEDULED"]);
    let mut list = Vec::new();
    for entry in &unserved {
        table.painted_row([
            (entry.lane.queue().to_string(), None),
            (entry.lane.job().to_string(), None),
            count_cell(entry.counts.ready, Paint::Green),
            count_cell(entry.counts.scheduled, Paint::Yellow),
        ]);
        list.push(json!({
            "queue": entry.lane.queue(),
            "job": entry.lane.job(),
            "ready": entry.counts.ready,
            "scheduled": entry.counts.scheduled,
        }));
    }
    let text = if unserved.is_empty() {
        "every lane with waiting jobs has a live worker\n".to_string()
    } else {
        table.render(cx.style)
    };
    Ok(Report {
        json: json!({ "unserved": list }),
        text,
        notes: Vec::new(),
    })
}

/// A queue's counts as JSON (the caller adds `queue`, `paused` and `lanes`).
pub(super) fn counts_json(counts: &Counts) -> Value {
    json!({
        "ready": counts.ready,
        "scheduled": counts.scheduled,
        "active": counts.active,
        "failed": counts.failed,
        "completed": counts.completed,
    })
}

/// A count, coloured when it is not zero.
fn count_cell(count: u64, paint: Paint) -> (String, Option<Paint>) {
    (count.to_string(), (count > 0).then_some(paint))
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}
