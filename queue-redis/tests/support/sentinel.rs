//! A primary watched by Sentinel for tests (include with
//! `#[path = "support/sentinel.rs"] mod sentinel;` next to `mod support;`): a primary, a replica and three sentinels
//! (`redis-server --sentinel`, so no separate binary is needed) on free ports, ready once the
//! sentinels know the replica and each other; optionally all over TLS only and with the
//! data nodes requiring credentials (see [`Security`]; the sentinels too with
//! `sentinel_auth`).
#![allow(dead_code, unreachable_pub)]

#[path = "node.rs"]
mod node;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{binary, free_port, listening, query_string, RedisServer, Security};

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
    /// A sentinel monitoring the primary on `primary_port`, which requires `security`'s
    /// credentials (over TLS when it says so, the sentinel then taking only TLS too, and
    /// requiring the credentials too with `sentinel_auth`).
    fn start(primary_port: u16, security: &Security) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "queue-redis-sentinel-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let conf = dir.join("sentinel.conf");
        let mut text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile sentinel.log\n\
             sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n\
             sentinel down-after-milliseconds {SERVICE} 1000\n\
             sentinel failover-timeout {SERVICE} 10000\n\
             sentinel parallel-syncs {SERVICE} 1\n",
            dir = dir.display(),
        );
        for (name, value) in security.sentinel_settings(port) {
            text.push_str(&format!("{name} {value}\n"));
        }
        if let Some(user) = &security.user {
            text.push_str(&format!("sentinel auth-user {SERVICE} {user}\n"));
        }
        if let Some(pw) = &security.password {
            text.push_str(&format!("sentinel auth-pass {SERVICE} {pw}\n"));
        }
        std::fs::write(&conf, text).expect("write sentinel.conf");
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
        while !listening(port) {
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
    /// TLS, and the credentials the data nodes require.
    security: Security,
}

/// What the node on `port` answers to `cmd`, or its error, as text.
fn text(security: &Security, port: u16, cmd: &redis::Cmd) -> String {
    match node::query::<redis::Value>(security, port, cmd) {
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
        Self::start_secured(Security::password(password))
    }

    /// Starts them all secured as `security` says: TLS only (replication and the
    /// sentinels' links too), the data nodes (and with `sentinel_auth` the sentinels)
    /// requiring its credentials.
    pub fn start_secured(security: Security) -> Self {
        let data_node = |replica_of: Option<u16>| {
            let port = free_port();
            let mut args = security.server_args(port);
            args.extend(["--appendonly".to_string(), "no".into()]);
            if let Some(primary) = replica_of {
                args.extend([
                    "--replicaof".to_string(),
                    "127.0.0.1".into(),
                    primary.to_string(),
                ]);
            }
            RedisServer::start_on(port, &args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let primary = data_node(None);
        let replica = data_node(Some(primary.port()));
        let sentinels: Vec<Sentinel> = (0..3)
            .map(|_| Sentinel::start(primary.port(), &security))
            .collect();
        let set = Self {
            primary,
            replica,
            sentinels,
            security,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut info = redis::cmd("INFO");
        info.arg("replication");
        while !text(&set.security, set.replica.port(), &info).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(50));
        }
        for s in &set.sentinels {
            let mut sentinel_info = redis::cmd("INFO");
            sentinel_info.arg("sentinel");
            loop {
                let said = text(&set.security.for_sentinels(), s.port, &sentinel_info);
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

    /// `redis[s]+sentinel://[user:password@]` listing the three sentinels, with the TLS
    /// parameters ([`Security::tls_params`]) and `sentinel_auth=yes` when the sentinels
    /// require the credentials.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let mut params = self.security.tls_params();
        if self.security.sentinel_auth {
            params.push("sentinel_auth=yes".into());
        }
        format!(
            "{}://{}{}/{SERVICE}/0{}",
            self.security.scheme("redis+sentinel"),
            self.security.userinfo(),
            hosts.join(","),
            query_string(&params)
        )
    }

    /// Waits (at most `within`) until the replica has every write the primary has
    /// (`WAIT 1`), failing otherwise.
    pub fn wait_replicated(&self, within: Duration) {
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(within.as_millis() as u64);
        let acked: redis::Value =
            node::query(&self.security, self.primary.port(), &wait).expect("WAIT on the primary");
        assert_eq!(acked, redis::Value::Int(1), "the replica did not catch up");
    }

    /// The port of the primary the sentinels name now.
    pub fn named_primary(&self) -> Option<u16> {
        let mut ask = redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(SERVICE);
        let sentinel = self.security.for_sentinels();
        let reply = node::query(&sentinel, self.sentinels[0].port, &ask).ok()?;
        let redis::Value::Array(parts) = reply else {
            return None;
        };
        match parts.get(1)? {
            redis::Value::BulkString(port) => std::str::from_utf8(port).ok()?.parse().ok(),
            _ => None,
        }
    }
}
