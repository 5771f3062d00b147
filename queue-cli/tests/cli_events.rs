//! `queue events` as a real process against a real redis-server: a worker in this test writes
//! its events with `with_event_log`, and the command prints one line per event until killed.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use queue_core::{job, JobError, Queue};
use serde_json::Value;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

use queue_redis as _;

#[job(queue = "mail")]
async fn cli_ok(_n: u32) -> Result<(), JobError> {
    Ok(())
}

#[job(queue = "mail", attempts = 1)]
async fn cli_fails(_n: u32) -> Result<(), JobError> {
    Err(JobError::msg("mailbox full"))
}

#[job(queue = "spread", shards = 3)]
async fn cli_spread(_n: u32) -> Result<(), JobError> {
    Ok(())
}

/// A running `queue events` process and its output lines.
struct Follower {
    child: Child,
    stdout: mpsc::Receiver<String>,
}

impl Follower {
    /// Starts `queue --url <url> <args>` and waits until it says it is following.
    fn start(url: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_queue"))
            .env_remove("QUEUE_URL")
            .env("NO_COLOR", "1")
            .arg("--url")
            .arg(url)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the queue binary starts");
        let lines = |stream: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        let said = stderr
            .recv_timeout(Duration::from_secs(20))
            .expect("the command says what it follows");
        assert!(said.contains("following the events of"), "stderr: {said}");
        Self { child, stdout }
    }

    /// Lines until every one of `wanted` (kind, job id) has been printed, within a bounded
    /// time.
    fn until(&self, wanted: &[(&str, &str)], matches: fn(&str, &str, &str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got: Vec<String> = Vec::new();
        while !wanted
            .iter()
            .all(|(kind, id)| got.iter().any(|l| matches(l, kind, id)))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => got.push(line),
                Err(_) => panic!("not every one of {wanted:?} was printed: {got:#?}"),
            }
        }
        got
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_what_workers_do() {
    let server = RedisServer::start();
    let url = server.url();
    let queue = Queue::connect(&url)
        .await
        .unwrap()
        .with_event_log(1000)
        .unwrap();
    // The queue exists before the followers start, so both follow it from now on.
    let first = cli_ok::dispatch(&queue, 0).await.unwrap().id.to_string();
    let all = Follower::start(&url, &["--json", "events"]);
    let mail = Follower::start(&url, &["events", "--queue", "mail"]);

    let ok: Vec<String> = {
        let mut ids = Vec::new();
        for n in 1..3 {
            ids.push(cli_ok::dispatch(&queue, n).await.unwrap().id.to_string());
        }
        ids
    };
    let bad = cli_fails::dispatch(&queue, 9).await.unwrap().id.to_string();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["cli_ok", "cli_fails"])
            .run_until(stop.clone().cancelled_owned()),
    );

    // 3 dispatches, then 4 ends of runs (the first job's too).
    let mut wanted: Vec<(&'static str, String)> = Vec::new();
    for id in ok.iter().chain([&bad]) {
        wanted.push(("dispatched", id.clone()));
    }
    for id in ok.iter().chain([&first]) {
        wanted.push(("completed", id.clone()));
    }
    wanted.push(("failed", bad.clone()));
    let wanted_json = wanted.clone();
    let (json_lines, all) = tokio::task::spawn_blocking(move || {
        let wanted: Vec<(&str, &str)> = wanted_json.iter().map(|(k, i)| (*k, i.as_str())).collect();
        let lines = all.until(&wanted, |line, kind, id| {
            line.contains(&format!("\"kind\":\"{kind}\""))
                && line.contains(&format!("\"id\":\"{id}\""))
        });
        (lines, all)
    })
    .await
    .unwrap();
    let events: Vec<Value> = json_lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |id: &str, kind: &str| {
        events
            .iter()
            .find(|e| e["id"] == id && e["kind"] == kind)
            .unwrap_or_else(|| panic!("no `{kind}` event of job {id}: {events:#?}"))
            .clone()
    };
    for id in ok.iter().chain([&bad]) {
        of(id, "dispatched");
    }
    for id in ok.iter().chain([&first]) {
        let done = of(id, "completed");
        assert_eq!(done["queue"], "mail");
        assert_eq!(done["job"], "cli_ok");
        assert_eq!(done["attempt"], 1);
        assert!(done["duration_ms"].is_u64(), "{done}");
        assert!(done["position"].is_string(), "{done}");
    }
    let failed = of(&bad, "failed");
    assert_eq!(failed["error"], "mailbox full");
    assert_eq!(failed["job"], "cli_fails");

    let (text, mail) = tokio::task::spawn_blocking(move || {
        let wanted: Vec<(&str, &str)> = wanted.iter().map(|(k, i)| (*k, i.as_str())).collect();
        let lines = mail.until(&wanted, |line, kind, id| {
            line.contains(kind) && line.contains(&format!("id={id} "))
        });
        (lines, mail)
    })
    .await
    .unwrap();
    let line_of = |id: &str, kind: &str| {
        text.iter()
            .find(|l| l.contains(&format!("id={id} ")) && l.contains(kind))
            .unwrap_or_else(|| panic!("no `{kind}` line of job {id}: {text:#?}"))
            .clone()
    };
    let done = line_of(&first, "completed");
    assert!(done.contains("mail/cli_ok"), "{done}");
    assert!(done.contains("attempt=1"), "{done}");
    assert!(done.contains("took="), "{done}");
    let failed = line_of(&bad, "failed");
    assert!(failed.contains("error=\"mailbox full\""), "{failed}");

    stop.cancel();
    worker.await.unwrap().unwrap();
    drop((all, mail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_a_sharded_queue_come_from_every_shard() {
    let server = RedisServer::start();
    let url = server.url();
    let queue = Queue::connect(&url)
        .await
        .unwrap()
        .with_event_log(1000)
        .unwrap();
    // One job makes the queue known; the follower then follows its three shards' logs.
    cli_spread::dispatch(&queue, 0).await.unwrap();
    let follower = Follower::start(&url, &["--json", "events", "--queue", "spread"]);
    let mut ids = Vec::new();
    for n in 1..7 {
        ids.push(
            cli_spread::dispatch(&queue, n)
                .await
                .unwrap()
                .id
                .to_string(),
        );
    }
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["cli_spread"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let wanted: Vec<(&'static str, String)> = ids
        .iter()
        .flat_map(|id| [("dispatched", id.clone()), ("completed", id.clone())])
        .collect();
    let lines = tokio::task::spawn_blocking(move || {
        let wanted: Vec<(&str, &str)> = wanted.iter().map(|(k, i)| (*k, i.as_str())).collect();
        follower.until(&wanted, |line, kind, id| {
            line.contains(&format!("\"kind\":\"{kind}\""))
                && line.contains(&format!("\"id\":\"{id}\""))
        })
    })
    .await
    .unwrap();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let shards: std::collections::BTreeSet<&str> =
        events.iter().filter_map(|e| e["queue"].as_str()).collect();
    assert_eq!(
        shards,
        [
            "spread@shard-0-of-3",
            "spread@shard-1-of-3",
            "spread@shard-2-of-3"
        ]
        .into(),
        "the events of every shard, each naming its shard"
    );
    for event in &events {
        let position = event["position"].as_str().expect("a position");
        assert!(
            position.contains("-of-3="),
            "a position in every shard's log: {event}"
        );
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
}
