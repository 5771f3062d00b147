//! The `queue` binary against a real redis-server filled through `queue_core::Queue`: what it
//! prints carries the stored ids and counts, and what it changes is changed in storage.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, SystemTime};

use common::queue;
use queue_core::{Failure, JobId, JobState, Lane, LaneLoad, Queue, WorkerPresence};
use serde_json::{json, Value};
use support::RedisServer;

use queue_redis as _;

const LEASE: Duration = Duration::from_secs(60);

/// What [`fill`] stored.
struct Filled {
    queue: Queue,
    /// Ids of `mail`'s failed jobs, newest first.
    failed: Vec<String>,
    /// The `mail` job leased and still running.
    active: String,
    /// `mail`'s ready jobs, in dispatch order.
    ready: Vec<String>,
    /// The `mail` job delayed by an hour.
    scheduled: String,
    /// `reports`' jobs.
    reports: Vec<String>,
}

/// Stores, through the library: on `mail`, five `send_mail` jobs (one with a chosen id and
/// priority 3) and one delayed by an hour; two of them reserved and failed for good, a third
/// reserved and left running. On `reports`, two `build_report` jobs.
async fn fill(url: &str) -> Filled {
    let queue = Queue::connect(url).await.unwrap();
    let mut mail = Vec::new();
    for n in 0..4 {
        let job = queue
            .dispatch_named("send_mail", json!({ "to": format!("user{n}@example.com") }))
            .queue("mail")
            .await
            .unwrap();
        mail.push(job.id.to_string());
    }
    let welcome = queue
        .dispatch_named(
            "send_mail",
            json!({ "to": "new@example.com", "welcome": true }),
        )
        .queue("mail")
        .id("welcome-7")
        .priority(3)
        .await
        .unwrap();
    let scheduled = queue
        .dispatch_named("send_mail", json!({ "to": "later@example.com" }))
        .queue("mail")
        .delay(Duration::from_secs(3_600))
        .await
        .unwrap();
    let mut reports = Vec::new();
    for month in ["2026-01", "2026-02"] {
        let job = queue
            .dispatch_named("build_report", json!({ "month": month }))
            .queue("reports")
            .await
            .unwrap();
        reports.push(job.id.to_string());
    }

    let lane = Lane::new("mail", "send_mail").unwrap();
    let driver = queue.driver();
    // Priority 3 first, then the first dispatched.
    let taken = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    let taken_ids: Vec<String> = taken.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(taken_ids, [welcome.id.to_string(), mail[0].clone()]);
    for job in &taken {
        let failure = Failure::fail(format!("smtp refused job {}", job.id));
        assert!(driver.fail(&lane, &job.lease(), failure).await.unwrap());
    }
    let running = driver.reserve(&lane, 1, LEASE).await.unwrap().jobs;
    assert_eq!(running[0].id.to_string(), mail[1]);
    Filled {
        queue,
        failed: vec![mail[0].clone(), welcome.id.to_string()],
        active: mail[1].clone(),
        ready: mail[2..].to_vec(),
        scheduled: scheduled.id.to_string(),
        reports,
    }
}

fn ids(jobs: &Value) -> Vec<String> {
    jobs.as_array()
        .unwrap_or_else(|| panic!("not a list: {jobs}"))
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn inspection_prints_the_stored_counts_and_ids() {
    let server = RedisServer::start();
    let url = server.url();
    let filled = fill(&url).await;
    let url = Some(url.as_str());

    // stats: per queue and per lane, as JSON and as a table.
    let lane = Lane::new("mail", "send_mail").unwrap();
    let minute = queue_core::unix_minute(SystemTime::now());
    let runs = queue_core::RunCounts::new(3, 1, 2);
    let recorder = filled
        .queue
        .driver()
        .stats()
        .expect("redis keeps statistics");
    recorder.record(&lane, minute, runs).await.unwrap();
    let stats = queue(url, &["stats", "--json"]).ok();
    assert!(stats.stderr.is_empty(), "no note for redis: {stats:#?}");
    let mut got = stats.json();
    let mut histories = Vec::new();
    for entry in got["queues"].as_array_mut().unwrap() {
        histories.push(
            entry
                .as_object_mut()
                .unwrap()
                .remove("history")
                .expect("history"),
        );
    }
    assert_eq!(
        histories[0]["totals"],
        json!([{ "job": "send_mail", "completed": 3, "failed": 1, "retried": 2 }])
    );
    let minutes = histories[0]["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    assert!(minutes.iter().any(|m| m["completed"] == 3), "{minutes:?}");
    assert!(
        histories[0]["oldest_ready"].is_string(),
        "mail has ready jobs"
    );
    assert_eq!(histories[1]["totals"], json!([]));
    let text = queue(url, &["stats"]).ok().stdout;
    assert!(
        text.contains("mail: send_mail 3 done, 1 failed, 2 retried; oldest ready"),
        "{text}"
    );
    assert!(
        text.contains("last 5 min: 3 done, 1 failed, 2 retried"),
        "{text}"
    );
    assert_eq!(
        got,
        json!({ "queues": [
            { "queue": "mail", "ready": 2, "scheduled": 1, "active": 1, "failed": 2,
              "completed": 0, "paused": false,
              "lanes": [{ "job": "send_mail", "ready": 2, "scheduled": 1, "active": 1 }] },
            { "queue": "reports", "ready": 2, "scheduled": 0, "active": 0, "failed": 0,
              "completed": 0, "paused": false,
              "lanes": [{ "job": "build_report", "ready": 2, "scheduled": 0, "active": 0 }] },
        ]})
    );
    let counts = filled.queue.counts("mail").await.unwrap();
    assert_eq!((counts.ready, counts.failed), (2, 2), "the library agrees");
    let table = queue(url, &["stats"]).ok();
    assert_eq!(
        table.rows_starting("mail"),
        [
            vec!["mail", "2", "1", "1", "2", "0", "no"],
            vec!["mail", "send_mail", "2", "1", "1"]
        ]
    );
    assert_eq!(
        table.rows_starting("QUEUE")[0],
        [
            "QUEUE",
            "READY",
            "SCHEDULED",
            "ACTIVE",
            "FAILED",
            "COMPLETED",
            "PAUSED"
        ]
    );
    let one = queue(url, &["stats", "--queue", "reports", "--json"]).ok();
    assert_eq!(one.json()["queues"][0]["queue"], "reports");
    assert_eq!(one.json()["queues"].as_array().unwrap().len(), 1);

    let queues = queue(url, &["queues", "--json"]).ok();
    assert_eq!(queues.json(), json!({ "queues": ["mail", "reports"] }));
    assert_eq!(queue(url, &["queues"]).ok().stdout, "mail\nreports\n");

    // jobs: the failed list, newest first, a page at a time.
    let all = queue(url, &["jobs", "--state", "failed", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&all["jobs"]), filled.failed);
    assert_eq!(all["next"], Value::Null);
    assert_eq!(all["jobs"][1]["last_error"], "smtp refused job welcome-7");
    assert_eq!(all["jobs"][1]["payload"]["welcome"], true);
    let first = queue(
        url,
        &[
            "jobs", "--state", "failed", "--queue", "mail", "--limit", "1", "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(ids(&first["jobs"]), filled.failed[..1]);
    let cursor = first["next"].as_str().expect("a next page").to_string();
    let second = queue(
        url,
        &[
            "jobs", "--state", "failed", "--queue", "mail", "--limit", "1", "--cursor", &cursor,
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(ids(&second["jobs"]), filled.failed[1..]);
    assert_eq!(second["next"], Value::Null);
    // Across queues the cursor resumes in the right queue too.
    let first = queue(
        url,
        &["jobs", "--state", "failed", "--limit", "1", "--json"],
    )
    .ok()
    .json();
    let cursor = first["next"].as_str().unwrap().to_string();
    let second = queue(
        url,
        &[
            "jobs", "--state", "failed", "--limit", "5", "--cursor", &cursor, "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(ids(&first["jobs"]), filled.failed[..1]);
    assert_eq!(ids(&second["jobs"]), filled.failed[1..]);
    let table = queue(url, &["jobs", "--state", "failed", "--limit", "1"]).ok();
    let row = &table.rows_starting(&filled.failed[0])[0];
    assert_eq!(row[1..5], ["mail", "send_mail", "failed", "1/3"]);
    assert!(table
        .stdout
        .contains(&format!("smtp refused job {}", filled.failed[0])));
    assert!(
        table
            .stdout
            .contains("next page: queue jobs --state failed --limit 1 --cursor 'mail,"),
        "{table:#?}"
    );

    // show: one job in full, found in its queue with or without --queue.
    let shown = queue(url, &["show", "welcome-7", "--queue", "mail", "--json"])
        .ok()
        .json();
    assert_eq!(shown["id"], "welcome-7");
    assert_eq!(shown["state"], "failed");
    assert_eq!(shown["priority"], 3);
    assert_eq!(
        (shown["attempts"].clone(), shown["max_attempts"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(shown["lost_leases"], 0);
    assert_eq!(
        shown["payload"],
        json!({ "to": "new@example.com", "welcome": true })
    );
    assert!(shown["failed_at"].as_str().unwrap().ends_with('Z'));
    // Its error history: the one failed run, at the time it failed.
    let errors = shown["errors"]
        .as_array()
        .expect("show --json carries the errors");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["attempt"], 1);
    assert_eq!(errors[0]["error"], "smtp refused job welcome-7");
    assert_eq!(errors[0]["at"], shown["failed_at"]);
    // The failed run's start, shown with the error and as the job's (first and last) start.
    let started = shown["started_at"].as_str().expect("a run started");
    assert_eq!(errors[0]["started_at"], started);
    assert_eq!(shown["first_started_at"], started);
    assert!(started <= shown["failed_at"].as_str().unwrap());
    let text = queue(url, &["show", "welcome-7"]).ok().stdout;
    assert!(
        text.contains(&format!(
            "errors (oldest first, the last 10)\n  attempt 1   {started} .. {}  smtp refused job welcome-7\n",
            shown["failed_at"].as_str().unwrap()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("started      {started}\n")),
        "{text}"
    );
    assert!(text.starts_with("found in queue `mail`\n"), "{text}");
    assert!(text.contains("attempts     1/3\n"), "{text}");
    assert!(
        text.contains("last error   smtp refused job welcome-7\n"),
        "{text}"
    );
    assert!(
        text.contains("\"welcome\": true"),
        "payload pretty-printed: {text}"
    );
    let active = queue(url, &["show", &filled.active, "--queue", "mail", "--json"])
        .ok()
        .json();
    assert_eq!(active["state"], "active");
    assert_eq!(active["failed_at"], Value::Null);
    let scheduled = queue(
        url,
        &["show", &filled.scheduled, "--queue", "mail", "--json"],
    );
    assert_eq!(scheduled.ok().json()["state"], "scheduled");

    // Generated ids are numbered per queue: the first job of `reports` shares its id with one
    // of `mail`, and the search says so instead of guessing.
    assert_eq!(filled.reports[0], "1");
    let line = queue(url, &["show", "1"]).error_line(1);
    assert_eq!(
        line,
        "error: job `1` exists in several queues (mail, reports); name one with --queue"
    );
    let line = queue(url, &["show", "nope-1"]).error_line(1);
    assert_eq!(
        line,
        "error: job `nope-1` not found in any queue (searched mail, reports)"
    );
    let line = queue(url, &["show", "nope-1", "--queue", "mail"]).error_line(1);
    assert_eq!(line, "error: job `nope-1` not found in queue `mail`");
    let line = queue(url, &["stats", "--queue", "mial"]).error_line(1);
    assert_eq!(
        line,
        "error: unknown queue `mial`; known queues: mail, reports"
    );
    drop(server);
}

/// Follows `next` from `args` (which lack --cursor) to the end, one page after the other;
/// returns each page's ids.
fn pages(url: Option<&str>, args: &[&str]) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        if let Some(cursor) = &cursor {
            all.extend(["--cursor", cursor]);
        }
        let page = queue(url, &all).ok().json();
        pages.push(ids(&page["jobs"]));
        assert!(pages.len() <= 20, "paging does not end: {pages:?}");
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return pages,
        }
    }
}

/// The `next page:` line of a table's output, split into the arguments after `queue`
/// (the cursor unquoted).
fn next_page_args(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("next page: queue "))
        .unwrap_or_else(|| panic!("no next page line: {stdout}"));
    let (before, cursor) = line.split_once(" --cursor ").unwrap();
    let mut args: Vec<String> = before.split(' ').map(str::to_string).collect();
    args.push("--cursor".into());
    args.push(cursor.trim_matches('\'').to_string());
    args
}

#[tokio::test]
async fn jobs_lists_every_state_and_pages_to_the_end() {
    let server = RedisServer::start();
    let url = server.url();
    let filled = fill(&url).await;
    let url = Some(url.as_str());

    // ready: in the order reserve takes them, in one queue and across queues.
    let ready = queue(
        url,
        &["jobs", "--state", "ready", "--queue", "mail", "--json"],
    )
    .ok()
    .json();
    assert_eq!(ids(&ready["jobs"]), filled.ready);
    assert_eq!(ready["next"], Value::Null);
    assert_eq!(ready["jobs"][0]["state"], "ready");
    let one_by_one = pages(url, &["jobs", "--state", "ready", "--limit", "1"]);
    let flat: Vec<String> = one_by_one.concat();
    let mut expected = filled.ready.clone();
    expected.extend(filled.reports.iter().cloned());
    assert_eq!(flat, expected, "pages: {one_by_one:?}");
    assert!(one_by_one.iter().all(|p| p.len() <= 1), "{one_by_one:?}");
    let two_by_two = pages(url, &["jobs", "--state", "ready", "--limit", "2"]).concat();
    assert_eq!(two_by_two, expected);
    let mut newest = filled.ready.clone();
    newest.reverse();
    let in_mail = pages(
        url,
        &[
            "jobs", "--state", "ready", "--queue", "mail", "--order", "newest", "--limit", "1",
        ],
    );
    assert_eq!(in_mail.concat(), newest);

    // scheduled and active, by lane.
    let scheduled = queue(url, &["jobs", "--state", "scheduled", "--json"])
        .ok()
        .json();
    assert_eq!(ids(&scheduled["jobs"]), vec![filled.scheduled.clone()]);
    assert_eq!(scheduled["jobs"][0]["state"], "scheduled");
    let active = queue(
        url,
        &[
            "jobs",
            "--state",
            "active",
            "--queue",
            "mail",
            "--name",
            "send_mail",
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(ids(&active["jobs"]), vec![filled.active.clone()]);
    let other_lane = queue(
        url,
        &[
            "jobs",
            "--state",
            "ready",
            "--queue",
            "mail",
            "--name",
            "build_report",
        ],
    )
    .ok();
    assert_eq!(other_lane.stdout, "no ready jobs\n");
    let reports = pages(
        url,
        &[
            "jobs",
            "--state",
            "ready",
            "--name",
            "build_report",
            "--limit",
            "1",
        ],
    );
    assert_eq!(reports.concat(), filled.reports);

    // The table ends with the command of the next page, which prints that page.
    let first = queue(
        url,
        &[
            "jobs", "--state", "ready", "--queue", "mail", "--limit", "1",
        ],
    )
    .ok();
    assert_eq!(first.rows_starting(&filled.ready[0]).len(), 1, "{first:#?}");
    let args = next_page_args(&first.stdout);
    assert_eq!(
        args[..8],
        ["jobs", "--state", "ready", "--queue", "mail", "--limit", "1", "--cursor"]
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let second = queue(url, &args).ok();
    assert_eq!(
        second.rows_starting(&filled.ready[1]).len(),
        1,
        "{second:#?}"
    );
    assert_eq!(
        second.rows_starting(&filled.ready[0]).len(),
        0,
        "{second:#?}"
    );

    // A cursor of another listing is refused as bad input, naming why.
    let line = queue(
        url,
        &[
            "jobs",
            "--state",
            "scheduled",
            "--queue",
            "mail",
            "--cursor",
            args[8],
        ],
    )
    .error_line(2);
    assert!(line.contains("made for another state or order"), "{line}");
    let line = queue(url, &["jobs", "--state", "ready", "--limit", "1001"]).error_line(2);
    assert!(line.contains("1001"), "{line}");
    drop(server);
}

#[tokio::test]
async fn administration_changes_storage() {
    let server = RedisServer::start();
    let url = server.url();
    let filled = fill(&url).await;
    let q = &filled.queue;
    let url = Some(url.as_str());

    // retry one failed job: it is ready again with fresh attempts.
    let run = queue(url, &["retry", "welcome-7", "--queue", "mail", "--json"]).ok();
    assert_eq!(
        run.json(),
        json!({ "queue": "mail", "id": "welcome-7", "retried": 1 })
    );
    let job = q
        .job("mail", &JobId::from("welcome-7"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Ready, 0));
    assert_eq!(q.counts("mail").await.unwrap().failed, 1);
    // A job that is not failed is not retried, and says why.
    let line = queue(url, &["retry", "welcome-7", "--queue", "mail"]).error_line(1);
    assert_eq!(
        line,
        "error: job `welcome-7` in queue `mail` is ready, not failed; only failed jobs can be retried"
    );
    let line = queue(url, &["retry", "nope-1", "--queue", "mail"]).error_line(1);
    assert_eq!(line, "error: job `nope-1` not found in queue `mail`");
    // retry --all moves the rest.
    let run = queue(url, &["retry", "--all", "--queue", "mail"]).ok();
    assert_eq!(
        run.stdout,
        "1 failed job of queue `mail` ready again with fresh attempts\n"
    );
    let counts = q.counts("mail").await.unwrap();
    assert_eq!((counts.ready, counts.failed), (4, 0));

    // delete one job in any state.
    let run = queue(
        url,
        &["delete", &filled.scheduled, "--queue", "mail", "--json"],
    )
    .ok();
    assert_eq!(
        run.json(),
        json!({ "queue": "mail", "deleted": filled.scheduled })
    );
    assert!(q
        .job("mail", &JobId::from(filled.scheduled.as_str()))
        .await
        .unwrap()
        .is_none());
    let line = queue(url, &["delete", &filled.scheduled, "--queue", "mail"]).error_line(1);
    assert_eq!(
        line,
        format!(
            "error: job `{}` not found in queue `mail`",
            filled.scheduled
        )
    );

    // pause and resume.
    let run = queue(url, &["pause", "reports"]).ok();
    assert!(run.stdout.starts_with("paused queue `reports`"), "{run:#?}");
    assert!(q.counts("reports").await.unwrap().paused);
    let stats = queue(url, &["stats", "--queue", "reports"]).ok();
    assert_eq!(stats.rows_starting("reports")[0][6], "paused");
    queue(url, &["resume", "reports", "--json"]).ok();
    assert!(!q.counts("reports").await.unwrap().paused);

    // purge says how many jobs were there.
    let run = queue(url, &["purge", "mail", "--json"]).ok();
    assert_eq!(
        run.json(),
        json!({ "queue": "mail", "purged": 5,
                "before": { "ready": 4, "scheduled": 0, "active": 1, "failed": 0,
                            "completed": 0 } })
    );
    assert_eq!(q.counts("mail").await.unwrap().pending(), 0);
    let run = queue(url, &["purge", "reports"]).ok();
    assert_eq!(
        run.stdout,
        "purged queue `reports`: 2 jobs (ready 2, scheduled 0, active 0, failed 0, completed 0)\n"
    );
    assert!(filled.ready.len() == 2 && filled.reports.len() == 2);
    let line = queue(url, &["purge", "nope"]).error_line(1);
    assert!(line.starts_with("error: unknown queue `nope`"), "{line}");
    // Pausing a queue the storage does not list yet works (it may get jobs later), with a
    // note in case the name is a typo.
    let run = queue(url, &["pause", "later"]).ok();
    assert!(
        run.stderr
            .starts_with("note: the storage lists no queue `later`"),
        "{run:#?}"
    );
    assert!(q.counts("later").await.unwrap().paused);
    queue(url, &["resume", "later"]).ok();
    assert!(!q.counts("later").await.unwrap().paused);
    drop(server);
}

#[tokio::test]
async fn dispatch_stores_what_it_was_given() {
    let server = RedisServer::start();
    let url = server.url();
    let q = Queue::connect(&url).await.unwrap();
    let url = Some(url.as_str());

    let run = queue(
        url,
        &[
            "dispatch",
            "send_mail",
            r#"{"to": "a@example.com"}"#,
            "--queue",
            "mail",
            "--delay",
            "1m30s",
            "--priority",
            "-2",
            "--attempts",
            "7",
            "--id",
            "invite-1",
            "--json",
        ],
    )
    .ok();
    assert_eq!(
        run.json(),
        json!({ "id": "invite-1", "queue": "mail", "name": "send_mail", "created": true })
    );
    // No worker runs, so the command says the job will wait.
    assert_eq!(
        run.stderr,
        "note: no live worker serves `mail/send_mail` now; the job waits until a worker with a \
         `send_mail` handler serves queue `mail`\n"
    );
    let job = q
        .job("mail", &JobId::from("invite-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Scheduled);
    assert_eq!((job.priority, job.max_attempts), (-2, 7));
    assert_eq!(job.payload_json(), json!({ "to": "a@example.com" }));

    // The same id again stores nothing.
    let run = queue(
        url,
        &[
            "dispatch",
            "send_mail",
            "{}",
            "--queue",
            "mail",
            "--id",
            "invite-1",
        ],
    );
    assert_eq!(
        run.ok().stdout,
        "job invite-1 already exists in queue `mail`; nothing new was stored\n"
    );
    // Without --queue, the default queue; the printed id is the stored one.
    let run = queue(url, &["dispatch", "cleanup", "[1, 2]"]).ok();
    let id = run
        .stdout
        .strip_prefix("dispatched job ")
        .and_then(|rest| rest.strip_suffix(" (cleanup) to queue `default`\n"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    let job = q.job("default", &JobId::from(id)).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.payload_json()),
        (JobState::Ready, json!([1, 2]))
    );

    // Malformed JSON or a bad delay stores nothing.
    let before = q.counts("mail").await.unwrap();
    let line = queue(
        url,
        &["dispatch", "send_mail", "{to: 1}", "--queue", "mail"],
    )
    .error_line(2);
    assert_eq!(
        line,
        "error: payload is not valid JSON: key must be a string at line 1 column 2"
    );
    let line = queue(
        url,
        &[
            "dispatch",
            "send_mail",
            "{}",
            "--queue",
            "mail",
            "--delay",
            "5",
        ],
    )
    .error_line(2);
    assert!(line.contains("`5` has no unit"), "{line}");
    assert_eq!(q.counts("mail").await.unwrap(), before);

    // A worker's record: listed by `workers`, and its lane is no longer unserved.
    let lanes = vec![Lane::new("mail", "send_mail").unwrap()];
    let started = SystemTime::now();
    let worker = WorkerPresence::new("host-a:42:1".into(), "host-a".into(), 42, started, lanes)
        .with_load(vec![LaneLoad::new(4, 2)]);
    let presence = q.driver().presence().expect("redis keeps worker records");
    presence
        .heartbeat(&worker, Duration::from_secs(60))
        .await
        .unwrap();
    let workers = queue(url, &["workers", "--json"]).ok().json();
    assert_eq!(workers["workers"][0]["id"], "host-a:42:1");
    assert_eq!(workers["workers"][0]["pid"], 42);
    assert_eq!(
        workers["workers"][0]["lanes"],
        json!([{ "queue": "mail", "job": "send_mail", "concurrency": 4, "running": 2 }])
    );
    let table = queue(url, &["workers"]).ok();
    assert_eq!(
        table.rows_starting("host-a:42:1")[0][1..3],
        ["host-a", "42"]
    );
    assert!(
        table.stdout.trim_end().ends_with("mail/send_mail 2/4"),
        "{table:#?}"
    );
    let unserved = queue(url, &["unserved", "--json"]).ok().json();
    assert_eq!(
        unserved,
        json!({ "unserved": [{ "queue": "default", "job": "cleanup", "ready": 1, "scheduled": 0 }] })
    );
    let run = queue(url, &["dispatch", "send_mail", "{}", "--queue", "mail"]).ok();
    assert!(
        run.stderr.is_empty(),
        "a served lane gets no note: {run:#?}"
    );
    drop(server);
}

#[tokio::test]
async fn stats_of_a_sharded_queue_cover_its_shards() {
    let server = RedisServer::start();
    let url = server.url();
    let app = Queue::connect(&url)
        .await
        .unwrap()
        .shard("spread_job", 3)
        .unwrap();
    for n in 0..6 {
        app.dispatch_named("spread_job", json!({ "n": n }))
            .queue("spread")
            .await
            .unwrap();
    }
    let recorder = app.driver().stats().expect("redis keeps statistics");
    let minute = queue_core::unix_minute(SystemTime::now());
    for index in 0..3 {
        let shard = queue_core::shard_queue("spread", index, 3);
        let lane = Lane::new(&shard, "spread_job").unwrap();
        let n = u64::from(index);
        let runs = queue_core::RunCounts::new(n + 1, n, 0);
        recorder.record(&lane, minute, runs).await.unwrap();
    }

    // The queue is listed once, its figures those of its three shards together.
    let got = queue(Some(&url), &["stats", "--queue", "spread", "--json"])
        .ok()
        .json();
    let entry = &got["queues"][0];
    assert_eq!(entry["queue"], "spread", "{got}");
    assert_eq!(entry["ready"], 6, "{got}");
    assert_eq!(
        entry["lanes"],
        json!([{ "job": "spread_job", "ready": 6, "scheduled": 0, "active": 0 }])
    );
    let history = &entry["history"];
    assert_eq!(
        history["totals"],
        json!([{ "job": "spread_job", "completed": 6, "failed": 3, "retried": 0 }])
    );
    let this_minute = history["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["minute"] == minute)
        .expect("the minute recorded is in the window");
    assert_eq!(this_minute["completed"], 6, "{history}");
    assert!(history["oldest_ready"].is_string(), "{history}");
    let all = queue(Some(&url), &["stats", "--json"]).ok().json();
    let names: Vec<&Value> = all["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| &q["queue"])
        .collect();
    assert_eq!(names, [&json!("spread")], "{all}");
    // A shard's own name reads that shard alone.
    let one = queue(
        Some(&url),
        &["stats", "--queue", "spread@shard-2-of-3", "--json"],
    )
    .ok()
    .json();
    assert_eq!(
        one["queues"][0]["history"]["totals"],
        json!([{ "job": "spread_job", "completed": 3, "failed": 2, "retried": 0 }])
    );
    assert_eq!(one["queues"][0]["ready"], 2);
}
