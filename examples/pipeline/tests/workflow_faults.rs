//! Real worker processes against a real redis-server: a worker killed with SIGKILL in the middle
//! of a workflow, and a Redis restart in the middle of one, leave the workflow to complete,
//! every step run at least once and its results passed along.

#[path = "../../../queue-redis/tests/support/mod.rs"]
mod support;

#[path = "../src/jobs.rs"]
mod jobs;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::flow::{FlowId, FlowState};
use queue_core::Queue;
use queue_redis::RedisDriver;
use support::RedisServer;

const LIMIT: Duration = Duration::from_secs(60);

/// A pipeline worker process with its stdout lines.
struct WorkerProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl WorkerProcess {
    fn spawn(url: &str, lease_ms: u64, step_ms: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline_worker"))
            .env("QUEUE_URL", url)
            .env("WORKER_LEASE_MS", lease_ms.to_string())
            .env("PIPELINE_STEP_MS", step_ms.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the pipeline worker");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let worker = Self { child, lines };
        worker.wait_for(|lines| lines.iter().any(|l| l == "worker ready"));
        worker
    }

    fn wait_for(&self, check: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !check(&self.lines.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "the worker's output never satisfied the check"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn ran(&self, step: &str) -> usize {
        let prefix = format!("ran {step} ");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .count()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

/// Waits for the workflow to end, looking again while Redis is unreachable (it restarts).
async fn wait_end(queue: &Queue, id: &FlowId) -> queue_core::FlowInfo {
    let deadline = Instant::now() + LIMIT;
    loop {
        match queue.workflow(id).await {
            Ok(Some(info)) if matches!(info.state, FlowState::Succeeded | FlowState::Failed) => {
                return info
            }
            Ok(_) => {}
            Err(error) if error.is_retryable() => {}
            Err(error) => panic!("reading the workflow: {error}"),
        }
        assert!(
            Instant::now() < deadline,
            "the workflow did not end within {LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn published(queue: &Queue, id: &FlowId) -> Vec<String> {
    let steps = queue.workflow_steps(id, 0, 10).await.unwrap();
    let publish = steps.iter().find(|s| s.name == "publish").unwrap();
    serde_json::from_slice(publish.result.as_deref().expect("publish has a result")).unwrap()
}

fn expected_urls() -> Vec<String> {
    [160, 640, 1280]
        .iter()
        .map(|w| format!("https://example.com/cat.png?w={w}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_survives_a_worker_killed_mid_step() {
    let server = RedisServer::start();
    let queue = queue(&server.url()).await;
    let mut first = WorkerProcess::spawn(&server.url(), 1500, 3000);
    let id = queue
        .dispatch_workflow(jobs::pipeline("https://example.com/cat.png"))
        .await
        .unwrap();
    // Killed while the resizes run (each takes 3 s).
    first.wait_for(|lines| {
        lines
            .iter()
            .filter(|l| l.starts_with("ran resize-"))
            .count()
            == 3
    });
    first.kill();
    assert_eq!(first.ran("publish"), 0);
    let info = queue.workflow(&id).await.unwrap().unwrap();
    assert_eq!(info.state, FlowState::Running);
    let second = WorkerProcess::spawn(&server.url(), 1500, 10);
    let info = wait_end(&queue, &id).await;
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 5),
        "{info:?}"
    );
    // Each resize ran again after its lease ran out; fetch and publish ran once.
    assert_eq!(first.ran("fetch") + second.ran("fetch"), 1);
    for i in 1..=3 {
        assert_eq!(second.ran(&format!("resize-{i}")), 1);
    }
    assert_eq!(second.ran("publish"), 1);
    assert_eq!(published(&queue, &id).await, expected_urls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_survives_a_redis_restart() {
    let mut server = RedisServer::start();
    let queue = queue(&server.url()).await;
    let worker = WorkerProcess::spawn(&server.url(), 5000, 1500);
    let id = queue
        .dispatch_workflow(jobs::pipeline("https://example.com/cat.png"))
        .await
        .unwrap();
    worker.wait_for(|lines| lines.iter().any(|l| l.starts_with("ran resize-")));
    // Restarted (AOF keeps every write) while the resizes run.
    server.restart();
    let info = wait_end(&queue, &id).await;
    assert_eq!(
        (info.state, info.succeeded),
        (FlowState::Succeeded, 5),
        "{info:?}"
    );
    assert_eq!(worker.ran("publish"), 1, "published once");
    assert_eq!(published(&queue, &id).await, expected_urls());
}
