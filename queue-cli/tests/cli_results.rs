//! `queue result`, `queue clean` and what `queue show`, `queue stats` and `queue jobs` print
//! about completed jobs, against a real redis-server whose completed jobs and results were
//! stored through the driver's retention.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::queue;
use queue_core::{Completion, Failure, JobId, JobState, Keep, Lane, Queue, ReservedJob};
use serde_json::{json, Value};
use support::RedisServer;

use queue_redis as _;

const LEASE: Duration = Duration::from_secs(60);

/// Keeps completed jobs and their results for an hour.
const KEEP: Keep = Keep {
    completed: 100,
    completed_for: None,
    result_for: Some(Duration::from_secs(3_600)),
};

/// Dispatches `n` `build_report` jobs to queue `reports` and reserves them, in dispatch order.
async fn running(queue: &Queue, lane: &Lane, n: usize) -> Vec<ReservedJob> {
    for month in 0..n {
        queue
            .dispatch_named(lane.job(), json!({ "month": month }))
            .queue(lane.queue())
            .await
            .unwrap();
    }
    let jobs = queue.driver().reserve(lane, n, LEASE).await.unwrap().jobs;
    assert_eq!(jobs.len(), n, "every dispatched job was reserved");
    jobs
}

/// Completes `job` through the driver's retention, keeping `result`.
async fn complete(queue: &Queue, lane: &Lane, job: &ReservedJob, result: Option<Value>) {
    let done = Completion {
        lease: job.lease(),
        result: result.map(|r| Bytes::from(serde_json::to_vec(&r).unwrap())),
    };
    let retention = queue
        .driver()
        .retention()
        .expect("the Redis driver keeps completed jobs");
    assert_eq!(
        retention.complete(lane, &[done], &KEEP).await.unwrap(),
        [true]
    );
}

/// Fails `job` for good with `error`.
async fn fail(queue: &Queue, lane: &Lane, job: &ReservedJob, error: &str) {
    assert!(queue
        .driver()
        .fail(lane, &job.lease(), Failure::fail(error))
        .await
        .unwrap());
}

#[tokio::test]
async fn results_of_completed_jobs_print_and_failures_say_why() {
    let server = RedisServer::start();
    let url = server.url();
    let q = Queue::connect(&url).await.unwrap();
    let lane = Lane::new("reports", "build_report").unwrap();
    let jobs = running(&q, &lane, 4).await;
    let result = json!({ "rows": 42, "file": "jan.csv", "sheets": ["a", "b"] });
    complete(&q, &lane, &jobs[0], Some(result.clone())).await;
    complete(&q, &lane, &jobs[1], None).await;
    fail(&q, &lane, &jobs[2], "disk full").await;
    // jobs[3] stays active; a fifth job stays ready.
    let ready = q
        .dispatch_named("build_report", json!({ "month": 4 }))
        .queue("reports")
        .await
        .unwrap()
        .id
        .to_string();
    let server_url = url.clone();
    let url = Some(url.as_str());
    let [done, bare, failed, active] = [0, 1, 2, 3].map(|i| jobs[i].id.to_string());

    // The kept result, pretty-printed; with --json inside an object naming the job.
    let run = queue(url, &["result", &done, "--queue", "reports"]).ok();
    assert_eq!(
        run.stdout,
        format!("{}\n", serde_json::to_string_pretty(&result).unwrap())
    );
    let run = queue(url, &["result", &done, "--queue", "reports", "--json"]).ok();
    assert_eq!(
        run.json(),
        json!({ "queue": "reports", "id": done, "result": result })
    );
    // --wait returns at once for a finished job.
    let run = queue(
        url,
        &["result", &done, "--queue", "reports", "--wait", "10s"],
    )
    .ok();
    assert_eq!(
        run.stdout.trim_end(),
        serde_json::to_string_pretty(&result).unwrap()
    );

    // Jobs without a result: each says why, in one line, exit code 1.
    let line = queue(url, &["result", &bare, "--queue", "reports"]).error_line(1);
    assert_eq!(
        line,
        format!(
            "error: job `{bare}` in queue `reports` completed without a kept result (its \
             handler keeps none, or the result expired)"
        )
    );
    let line = queue(url, &["result", &failed, "--queue", "reports"]).error_line(1);
    assert_eq!(
        line,
        format!("error: job `{failed}` in queue `reports` failed: disk full")
    );
    let line = queue(url, &["result", &ready, "--queue", "reports"]).error_line(1);
    assert_eq!(
        line,
        format!(
            "error: job `{ready}` in queue `reports` has no result yet: it is ready; pass \
             --wait to wait for it"
        )
    );
    let line = queue(url, &["result", "nope-1", "--queue", "reports"]).error_line(1);
    assert_eq!(line, "error: job `nope-1` not found in queue `reports`");
    let line = queue(url, &["result", &done, "--queue", "nope"]).error_line(1);
    assert!(line.starts_with("error: unknown queue `nope`"), "{line}");

    // --wait: a failed job's error, and a timeout naming the state the job is in.
    let line = queue(
        url,
        &["result", &failed, "--queue", "reports", "--wait", "10s"],
    )
    .error_line(1);
    assert_eq!(
        line,
        format!("error: job `{failed}` in queue `reports` failed: disk full")
    );
    let line = queue(
        url,
        &["result", &active, "--queue", "reports", "--wait", "300ms"],
    )
    .error_line(1);
    assert!(
        line.starts_with(&format!(
            "error: no result for job `{active}` in queue `reports` within 300ms"
        )) && line.ends_with("(its state: active)"),
        "{line}"
    );
    let line = queue(
        url,
        &["result", &done, "--queue", "reports", "--wait", "soon"],
    )
    .error_line(2);
    assert!(line.contains("`soon` is not a duration"), "{line}");

    // --wait sees a result that arrives while it waits (or just before it starts).
    let waiting = {
        let url = server_url;
        let active = active.clone();
        std::thread::spawn(move || {
            queue(
                Some(&url),
                &[
                    "result", &active, "--queue", "reports", "--wait", "30s", "--json",
                ],
            )
        })
    };
    complete(&q, &lane, &jobs[3], Some(json!("late"))).await;
    let run = tokio::task::spawn_blocking(move || waiting.join().unwrap())
        .await
        .unwrap()
        .ok();
    assert_eq!(
        run.json(),
        json!({ "queue": "reports", "id": active, "result": "late" })
    );

    // show: the finished time and the result.
    let run = queue(url, &["show", &done, "--queue", "reports", "--json"]).ok();
    let shown = run.json();
    assert_eq!(shown["state"], "completed");
    assert_eq!(shown["result"], result);
    assert!(
        shown["finished_at"].as_str().unwrap().ends_with('Z'),
        "{shown}"
    );
    let run = queue(url, &["show", &done, "--queue", "reports"]).ok();
    let finished = run
        .stdout
        .lines()
        .find(|l| l.starts_with("finished"))
        .unwrap_or_else(|| panic!("a finished line: {run:#?}"));
    assert!(
        finished.ends_with(shown["finished_at"].as_str().unwrap()),
        "{finished}"
    );
    let (_, after) = run
        .stdout
        .split_once("\nresult\n")
        .unwrap_or_else(|| panic!("a result section: {run:#?}"));
    assert_eq!(
        after.trim_end(),
        serde_json::to_string_pretty(&result).unwrap()
    );
    let run = queue(url, &["show", &ready, "--queue", "reports", "--json"]).ok();
    assert_eq!(
        (&run.json()["result"], &run.json()["finished_at"]),
        (&Value::Null, &Value::Null)
    );
    assert!(!queue(url, &["show", &ready, "--queue", "reports"])
        .ok()
        .stdout
        .contains("\nresult\n"));

    // stats counts the completed jobs; jobs lists them, latest first.
    let stats = queue(url, &["stats", "--queue", "reports"]).ok();
    assert_eq!(
        stats.rows_starting("reports")[0][1..7],
        ["1", "0", "0", "1", "3", "no"]
    );
    let stats = queue(url, &["stats", "--json"]).ok().json();
    assert_eq!(stats["queues"][0]["completed"], 3);
    let listed = queue(url, &["jobs", "--state", "completed", "--json"])
        .ok()
        .json();
    let listed: Vec<&str> = listed["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0], active, "latest completion first");
    drop(server);
}

#[tokio::test]
async fn clean_removes_old_completed_or_failed_jobs_per_queue() {
    let server = RedisServer::start();
    let url = server.url();
    let q = Queue::connect(&url).await.unwrap();
    let reports = Lane::new("reports", "build_report").unwrap();
    let mail = Lane::new("mail", "send_mail").unwrap();
    let jobs = running(&q, &reports, 3).await;
    for job in &jobs[..2] {
        complete(&q, &reports, job, Some(json!({ "ok": true }))).await;
    }
    fail(&q, &reports, &jobs[2], "boom").await;
    let mail_jobs = running(&q, &mail, 2).await;
    complete(&q, &mail, &mail_jobs[0], None).await;
    fail(&q, &mail, &mail_jobs[1], "bounced").await;
    let url = Some(url.as_str());

    // Nothing finished an hour ago: every queue is named, with nothing removed.
    let run = queue(url, &["clean", "completed", "--older-than", "1h"]).ok();
    assert_eq!(
        run.stdout,
        "removed 0 completed jobs from queue `mail`\nremoved 0 completed jobs from queue `reports`\n"
    );
    assert_eq!(q.counts("reports").await.unwrap().completed, 2);

    // One queue, at most one job: the oldest completion goes, with its result.
    let run = queue(
        url,
        &[
            "clean",
            "completed",
            "--older-than",
            "0s",
            "--queue",
            "reports",
            "--limit",
            "1",
            "--json",
        ],
    )
    .ok();
    assert_eq!(
        run.json(),
        json!({ "state": "completed", "older_than_secs": 0.0,
                "queues": [{ "queue": "reports", "removed": 1 }], "removed": 1 })
    );
    let first = JobId::from(jobs[0].id.to_string().as_str());
    assert!(q.job("reports", &first).await.unwrap().is_none());
    assert_eq!(q.result::<Value>("reports", &first).await.unwrap(), None);
    let second = JobId::from(jobs[1].id.to_string().as_str());
    assert_eq!(
        q.job("reports", &second).await.unwrap().unwrap().state,
        JobState::Completed
    );
    assert_eq!(q.counts("mail").await.unwrap().completed, 1);

    // Failed jobs of every queue.
    let run = queue(url, &["clean", "failed", "--older-than", "0s"]).ok();
    assert_eq!(
        run.stdout,
        "removed 1 failed job from queue `mail`\nremoved 1 failed job from queue `reports`\n"
    );
    assert_eq!(q.counts("mail").await.unwrap().failed, 0);
    assert_eq!(q.counts("reports").await.unwrap().failed, 0);
    assert_eq!(q.counts("reports").await.unwrap().completed, 1);

    // Other states are an input error; so is a missing --older-than; an unknown queue fails.
    let line = queue(url, &["clean", "ready", "--older-than", "1h"]).error_line(2);
    assert!(
        line.contains("cannot clean ready jobs: only `completed` and `failed` jobs can be cleaned"),
        "{line}"
    );
    let line = queue(url, &["clean", "done", "--older-than", "1h"]).error_line(2);
    assert!(line.contains("unknown state `done`"), "{line}");
    assert_eq!(queue(url, &["clean", "completed"]).code, 2);
    let line = queue(
        url,
        &["clean", "failed", "--older-than", "1h", "--queue", "nope"],
    )
    .error_line(1);
    assert!(line.starts_with("error: unknown queue `nope`"), "{line}");
    drop(server);
}
