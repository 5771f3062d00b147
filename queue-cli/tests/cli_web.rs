//! `queue web`: the dashboard served by the command over a real redis-server with a password,
//! refused beyond loopback without credentials, and behind them when they are set.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use queue_core::Queue;
use serde_json::{json, Value};
use support::RedisServer;

use queue_redis as _;

const PASSWORD: &str = "web-pw-31d9";

/// `queue web` running; killed on drop.
struct Web {
    child: Child,
    addr: String,
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `queue --url URL web ARGS` with `env`, and waits for the address it announces.
fn start(url: &str, args: &[&str], env: &[(&str, &str)]) -> Web {
    let mut command = Command::new(env!("CARGO_BIN_EXE_queue"));
    command
        .env_remove("QUEUE_URL")
        .env_remove("QUEUE_WEB_TOKEN")
        .env_remove("QUEUE_WEB_USER")
        .env_remove("QUEUE_WEB_PASSWORD")
        .envs(env.iter().copied())
        .args(["--url", url, "web"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the queue binary runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // Notes (such as memory://'s) may come first.
    let mut line = String::new();
    while !line.contains("dashboard on http://") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "queue web ended without listening"
        );
    }
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address announced: {line:?}"))
        .to_string();
    Web { child, addr }
}

/// `GET path` on `addr`: the status and the body.
fn get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_redis_queue_and_no_password() {
    let server = RedisServer::start_with(&["--requirepass", PASSWORD]);
    let url = format!("redis://:{PASSWORD}@127.0.0.1:{}/0", server.port());
    let queue = Queue::connect(&url).await.unwrap();
    queue
        .dispatch_named("send_mail", json!({"to": "a@example.com"}))
        .queue("mail")
        .await
        .unwrap();
    let web = start(&url, &["--listen", "127.0.0.1:0"], &[]);
    let (status, page) = get(&web.addr, "/", None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("href=\"/queues/mail\""), "{page}");
    let (status, api) = get(&web.addr, "/api/queues/mail", None);
    assert_eq!(status, 200);
    // Chunked or not, the JSON object is the body's one line starting with `{`.
    let json: Value =
        serde_json::from_str(api.lines().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(json["counts"]["ready"], 1);
    for path in [
        "/",
        "/queues/mail",
        "/queues/mail/jobs?state=ready",
        "/workers",
        "/queues/x%7By%7D",
    ] {
        let (_, body) = get(&web.addr, path, None);
        assert!(!body.contains(PASSWORD), "{path} shows the password");
    }
}

#[test]
fn listening_beyond_loopback_needs_credentials() {
    let output = Command::new(env!("CARGO_BIN_EXE_queue"))
        .env_remove("QUEUE_WEB_TOKEN")
        .env_remove("QUEUE_WEB_USER")
        .env_remove("QUEUE_WEB_PASSWORD")
        .args(["--url", "memory://", "web", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("error: refusing to listen on 0.0.0.0:0 without credentials"),
        "{stderr}"
    );
    assert!(stderr.contains("QUEUE_WEB_TOKEN"), "{stderr}");
}

#[test]
fn credentials_from_the_environment_are_required() {
    let web = start(
        "memory://",
        &["--listen", "127.0.0.1:0", "--read-only"],
        &[("QUEUE_WEB_TOKEN", "t0ken")],
    );
    assert_eq!(get(&web.addr, "/", None).0, 401);
    assert_eq!(get(&web.addr, "/", Some("Bearer wrong")).0, 401);
    let (status, page) = get(&web.addr, "/", Some("Bearer t0ken"));
    assert_eq!(status, 200);
    assert!(page.contains("read-only"), "{page}");
}
