//! A primary watched by Sentinel for tests (include with
//! `#[path = "support/sentinel.rs"] mod sentinel;` next to `mod support;`): a primary, a replica and three sentinels
//! (`redis-server --sentinel`, so no separate binary is needed) on free ports, ready once the
//! sentinels know the replica and each other.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{binary, free_port, RedisServer};

/// The name the sentinels know the primary by.
pub const SERVICE: &str = "mymaster";

/// One sentinel process, killed when dropped.
#[derive(Debug)]
struct Sentinel {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Sentinel {
    fn start(primary_port: u16, password: Option<&str>) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "queue-redis-sentinel-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile sentinel.log\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {SERVICE} 1000\n\
                 sentinel failover-timeout {SERVICE} 10000\n\
                 sentinel parallel-syncs {SERVICE} 1\n{auth}",
                dir = dir.display(),
                auth = password
                    .map(|pw| format!("sentinel auth-pass {SERVICE} {pw}\n"))
                    .unwrap_or_default(),
            ),
        )
        .expect("write sentinel.conf");
        // As for servers: the shell kills the sentinel when our end of its stdin closes.
        let child = Command::new("sh")
            .arg("-c")
            .arg("\"$0\" \"$@\" & pid=$!; read _unused; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0")
            .arg(binary())
            .arg(&conf)
            .arg("--sentinel")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("could not run sh to start redis-server --sentinel");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the sentinel did not start on port {port}; see {}",
                dir.join("sentinel.log").display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, port, dir }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A primary, its replica and three sentinels, owned by the test.
#[derive(Debug)]
pub struct SentinelSet {
    pub primary: RedisServer,
    pub replica: RedisServer,
    sentinels: Vec<Sentinel>,
    /// The data nodes' password, if they need one.
    password: Option<String>,
}

/// Sends `cmd` to the node on `port` (with `password` if it needs one).
fn query(port: u16, password: Option<&str>, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
    let url = match password {
        Some(pw) => format!("redis://:{pw}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    };
    let client = redis::Client::open(url)?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    cmd.query(&mut conn)
}

fn text(port: u16, password: Option<&str>, cmd: &redis::Cmd) -> String {
    match query(port, password, cmd) {
        Ok(v) => format!("{v:?}"),
        Err(e) => e.to_string(),
    }
}

impl SentinelSet {
    /// Starts them all and waits until the replica is in sync and every sentinel knows the
    /// replica and the two other sentinels.
    pub fn start() -> Self {
        Self::start_with_password(None)
    }

    /// Starts them all; with a password, the primary and the replica require it (and the
    /// sentinels and the replica use it).
    pub fn start_with_password(password: Option<&str>) -> Self {
        let mut args = vec!["--appendonly", "no"];
        if let Some(pw) = password {
            args.extend(["--requirepass", pw, "--masterauth", pw]);
        }
        let primary = RedisServer::start_with(&args);
        let port = primary.port().to_string();
        args.extend(["--replicaof", "127.0.0.1", &port]);
        let replica = RedisServer::start_with(&args);
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary.port(), password))
            .collect();
        let set = Self {
            primary,
            replica,
            sentinels,
            password: password.map(str::to_string),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut info = redis::cmd("INFO");
        info.arg("replication");
        while !text(set.replica.port(), password, &info).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(50));
        }
        for s in &set.sentinels {
            let mut sentinel_info = redis::cmd("INFO");
            sentinel_info.arg("sentinel");
            loop {
                let said = text(s.port, None, &sentinel_info);
                if said.contains("slaves=1,sentinels=3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "sentinel {} does not know the replica and the other sentinels: {said}",
                    s.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        set
    }

    /// `redis+sentinel://` listing the three sentinels.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let creds = match &self.password {
            Some(pw) => format!(":{pw}@"),
            None => String::new(),
        };
        format!("redis+sentinel://{creds}{}/{SERVICE}/0", hosts.join(","))
    }

    /// Waits (at most `within`) until the replica has every write the primary has
    /// (`WAIT 1`), failing otherwise.
    pub fn wait_replicated(&self, within: Duration) {
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(within.as_millis() as u64);
        let acked = query(self.primary.port(), self.password.as_deref(), &wait)
            .expect("WAIT on the primary");
        assert_eq!(acked, redis::Value::Int(1), "the replica did not catch up");
    }

    /// The port of the primary the sentinels name now.
    pub fn named_primary(&self) -> Option<u16> {
        let mut ask = redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(SERVICE);
        let reply = query(self.sentinels[0].port, None, &ask).ok()?;
        let redis::Value::Array(parts) = reply else {
            return None;
        };
        match parts.get(1)? {
            redis::Value::BulkString(port) => std::str::from_utf8(port).ok()?.parse().ok(),
            _ => None,
        }
    }
}
