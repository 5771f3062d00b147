//! A real Redis Cluster for tests (include with `#[path = "support/cluster.rs"] mod cluster;`
//! next to `mod support;`): six `redis-server`s (three primaries, three replicas) on
//! free ports, joined with `redis-cli --cluster create`, ready once every node says
//! `cluster_state:ok`; optionally TLS only (`tls-cluster` too) and with credentials (see
//! [`Security`]).
#![allow(dead_code, unreachable_pub)]

#[path = "node.rs"]
mod node;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{find_binary, free_port, query_string, RedisServer, Security};

/// A running cluster owned by the test; its servers stop when it is dropped.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// TLS and the credentials the nodes require.
    security: Security,
}

fn cli() -> String {
    if let Ok(path) = std::env::var("REDIS_CLI") {
        return path;
    }
    find_binary("redis-cli").unwrap_or_else(|| {
        panic!(
            "redis-cli not found: the cluster tests join their servers with it. Install it \
             (Debian/Ubuntu: `sudo apt-get install redis-tools`, macOS: `brew install redis`) \
             or set REDIS_CLI=/path/to/redis-cli"
        )
    })
}

/// `CLUSTER INFO` of the node on `port`, or `None` while it does not answer.
fn cluster_info(port: u16, security: &Security) -> Option<String> {
    node::query(security, port, redis::cmd("CLUSTER").arg("INFO")).ok()
}

impl RedisCluster {
    /// Starts three primaries with one replica each and waits until the cluster is up.
    pub fn start() -> Self {
        Self::start_with_password(None)
    }

    /// A cluster node on a free port, not yet part of a cluster.
    fn node(security: &Security) -> RedisServer {
        let port = free_port();
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
            // The tests write with fsync always; a cluster test needs no restart.
            "--appendonly",
            "no",
        ];
        if security.tls.is_some() {
            args.extend(["--tls-cluster", "yes"]);
        }
        let secured = security.server_args(port);
        args.extend(secured.iter().map(String::as_str));
        RedisServer::start_on(port, &args)
    }

    /// Starts a cluster of one primary holding every slot, no replica (`redis-cli --cluster
    /// create` wants three primaries, so the slots are assigned by hand).
    pub fn start_single_primary() -> Self {
        let security = Security::default();
        let node = Self::node(&security);
        let mut conn = node::connect(&security, node.port()).expect("connect to the node");
        let _: () = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(0)
            .arg(16383)
            .query(&mut conn)
            .expect("CLUSTER ADDSLOTSRANGE");
        let cluster = Self {
            nodes: vec![node],
            security,
        };
        cluster.wait_until_ok();
        cluster
    }

    /// Starts the cluster; with a password, every node requires it (`requirepass`, and
    /// `masterauth` for the replicas).
    pub fn start_with_password(password: Option<&str>) -> Self {
        Self::start_sized(3, 1, Security::password(password))
    }

    /// Starts three primaries with one replica each, secured as `security` says: TLS only
    /// (between the nodes too: `tls-cluster`, `tls-replication`) and its credentials.
    pub fn start_secured(security: Security) -> Self {
        Self::start_sized(3, 1, security)
    }

    /// [`start_secured`](Self::start_secured) off the async runtime's threads (it waits on
    /// processes), checking that its URL is a TLS one naming the ACL user `user`.
    pub async fn start_tls_for(security: Security, user: &str) -> Self {
        let cluster = tokio::task::spawn_blocking(move || Self::start_secured(security))
            .await
            .expect("the cluster starts");
        let expected = format!("rediss+cluster://{user}:");
        assert!(cluster.url().starts_with(&expected), "{}", cluster.url());
        cluster
    }

    /// Starts three primaries and no replica (nothing but the primaries' own work).
    pub fn start_without_replicas() -> Self {
        Self::start_sized(3, 0, Security::default())
    }

    /// Starts `primaries` primaries (at least 3) with `replicas` replicas each.
    fn start_sized(primaries: usize, replicas: usize, security: Security) -> Self {
        let cli = cli();
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| Self::node(&security))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = Command::new(&cli)
            .args(security.cli_args())
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("could not run redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Self { nodes, security };
        cluster.wait_until_ok();
        cluster
    }

    /// Waits until every node says `cluster_state:ok` and knows all the nodes.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let known = format!("cluster_known_nodes:{}", self.nodes.len());
        for node in &self.nodes {
            loop {
                let info = cluster_info(node.port(), &self.security).unwrap_or_default();
                if info.contains("cluster_state:ok") && info.contains(&known) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not come up on port {}: {info}",
                    node.port()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `redis[s]+cluster://[user:password@]` with two of the nodes (or the only one) as
    /// seeds, and the TLS parameters ([`Security::tls_params`]).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .take(2)
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!(
            "{}://{}{}/{}",
            self.security.scheme("redis+cluster"),
            self.security.userinfo(),
            seeds.join(","),
            query_string(&self.security.tls_params())
        )
    }

    /// [`url`](Self::url) with the query parameters `params` (`a=1&b=2`) added.
    pub fn url_with(&self, params: &str) -> String {
        let url = self.url();
        let joint = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joint}{params}")
    }

    /// TLS and the credentials the nodes require.
    pub fn security(&self) -> &Security {
        &self.security
    }

    /// A connection to the node on `port`.
    pub fn connect(&self, port: u16) -> redis::Connection {
        node::connect(&self.security, port)
            .unwrap_or_else(|e| panic!("connect to the cluster node on {port}: {e}"))
    }

    /// `INFO <section>` of the node on `port`.
    pub fn info(&self, port: u16, section: &str) -> String {
        redis::cmd("INFO")
            .arg(section)
            .query(&mut self.connect(port))
            .unwrap_or_else(|e| panic!("INFO {section} of the node on {port}: {e}"))
    }

    /// How many clients are blocked in `BLPOP` on the node on `port`.
    pub fn blocked_on(&self, port: u16) -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut self.connect(port))
            .expect("CLIENT LIST");
        list.lines().filter(|l| l.contains("cmd=blpop")).count()
    }

    /// The ports of the primaries serving slots, as the cluster says now (a replica that has
    /// just joined may still be listed as a primary without slots).
    pub fn primary_ports(&self) -> Vec<u16> {
        let mut conn = self.connect(self.nodes[0].port());
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut conn)
            .expect("CLUSTER NODES");
        nodes
            .lines()
            .filter(|line| line.contains("master") && line.split_whitespace().count() > 8)
            .filter_map(|line| {
                let addr = line.split_whitespace().nth(1)?;
                addr.split(['@', ','])
                    .next()?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// The port of the primary serving `key`.
    pub fn port_of(&self, key: &str) -> u16 {
        let mut conn = self.connect(self.nodes[0].port());
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .expect("CLUSTER KEYSLOT");
        let slots: redis::Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut conn)
            .expect("CLUSTER SLOTS");
        let redis::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS answered {slots:?}")
        };
        for range in ranges {
            let redis::Value::Array(parts) = range else {
                continue;
            };
            let num = |v: &redis::Value| match v {
                redis::Value::Int(n) => *n,
                _ => -1,
            };
            if num(&parts[0]) <= i64::from(slot) && i64::from(slot) <= num(&parts[1]) {
                if let redis::Value::Array(primary) = &parts[2] {
                    return num(&primary[1]) as u16;
                }
            }
        }
        panic!("no node serves slot {slot}")
    }

    /// `CLUSTER NODES` as the node on `port` sees it.
    fn nodes_seen_by(&self, port: u16) -> String {
        redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.connect(port))
            .expect("CLUSTER NODES")
    }

    /// The port of the replica of the primary on `primary`.
    pub fn replica_of(&self, primary: u16) -> u16 {
        let nodes = self.nodes_seen_by(primary);
        let fields = |line: &str| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let port_of = |addr: &str| -> u16 {
            addr.split(['@', ','])
                .next()
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| p.parse().ok())
                .expect("a node's port")
        };
        let id = nodes
            .lines()
            .map(fields)
            .find(|f| f[2].contains("myself"))
            .map(|f| f[0].clone())
            .expect("the node itself");
        nodes
            .lines()
            .map(fields)
            .find(|f| f[2].contains("slave") && f[3] == id)
            .map(|f| port_of(&f[1]))
            .unwrap_or_else(|| panic!("no replica of {primary}: {nodes}"))
    }

    /// Kills the node on `port` (SIGKILL).
    pub fn kill(&mut self, port: u16) {
        self.node_mut(port).stop();
    }

    /// Starts the node on `port` again with its cluster configuration: it rejoins the cluster
    /// (as a replica, when its replica was promoted meanwhile), with no data of its own.
    pub fn restart(&mut self, port: u16) {
        self.node_mut(port).restart();
    }

    fn node_mut(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    /// Promotes the replica on `replica` at once, without its primary's agreement
    /// (`CLUSTER FAILOVER TAKEOVER`), and waits until it says it is a primary.
    pub fn take_over(&self, replica: u16) {
        let mut conn = self.connect(replica);
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .arg("TAKEOVER")
            .query(&mut conn)
            .expect("CLUSTER FAILOVER TAKEOVER");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self
            .nodes_seen_by(replica)
            .lines()
            .any(|l| l.contains("myself,master"))
        {
            assert!(
                Instant::now() < deadline,
                "the replica on {replica} was not promoted"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every node but those on `down` says `cluster_state:ok`.
    pub fn wait_until_ok_without(&self, down: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in self.nodes.iter().filter(|n| !down.contains(&n.port())) {
            loop {
                let info = cluster_info(node.port(), &self.security).unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not recover on port {}: {info}",
                    node.port()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The slot of `key`.
    pub fn slot_of(&self, key: &str) -> u16 {
        let mut conn = self.connect(self.nodes[0].port());
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .expect("CLUSTER KEYSLOT")
    }

    /// Starts a node and joins it to the cluster as a primary serving no slot (as when a
    /// cluster grows, before slots move to it); returns its port. Plain clusters only.
    pub fn add_primary(&mut self) -> u16 {
        let node = Self::node(&self.security);
        let port = node.port();
        let _: () = node::query(
            &self.security,
            port,
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(self.nodes[0].port()),
        )
        .expect("CLUSTER MEET");
        self.nodes.push(node);
        self.wait_until_ok();
        port
    }

    /// Moves `slot` from the primary on `from` to the primary on `to` by hand, as
    /// `redis-cli --cluster reshard` does: marks it importing and migrating, moves its keys
    /// one `MIGRATE` at a time with `pause` between them (so clients meet the slot half
    /// moved: `ASK` and `TRYAGAIN`), then assigns it to `to` on every primary.
    pub fn migrate_slot(&self, slot: u16, from: u16, to: u16, pause: Duration) {
        self.migrate_slot_holding(slot, from, to, pause, Duration::ZERO);
    }

    /// [`migrate_slot`](Self::migrate_slot), waiting `hold` once the last key moved before
    /// assigning the slot: meanwhile the source answers `ASK` to every command on the slot
    /// (none of its keys are left there).
    pub fn migrate_slot_holding(
        &self,
        slot: u16,
        from: u16,
        to: u16,
        pause: Duration,
        hold: Duration,
    ) {
        let conn = |port: u16| self.connect(port);
        let (mut source, mut target) = (conn(from), conn(to));
        let id = |c: &mut redis::Connection| -> String {
            redis::cmd("CLUSTER")
                .arg("MYID")
                .query(c)
                .expect("CLUSTER MYID")
        };
        let (from_id, to_id) = (id(&mut source), id(&mut target));
        let setslot = |c: &mut redis::Connection, how: &str, node: &str| {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(how)
                .arg(node)
                .query(c)
                .unwrap_or_else(|e| panic!("CLUSTER SETSLOT {slot} {how}: {e}"));
        };
        setslot(&mut target, "IMPORTING", &from_id);
        setslot(&mut source, "MIGRATING", &to_id);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(1)
                .query(&mut source)
                .expect("CLUSTER GETKEYSINSLOT");
            let Some(key) = keys.first() else { break };
            let mut migrate = redis::cmd("MIGRATE");
            migrate.arg("127.0.0.1").arg(to).arg("").arg(0).arg(5000);
            match (&self.security.user, &self.security.password) {
                (Some(user), Some(pw)) => {
                    migrate.arg("AUTH2").arg(user).arg(pw);
                }
                (None, Some(pw)) => {
                    migrate.arg("AUTH").arg(pw);
                }
                _ => {}
            }
            let _: redis::Value = migrate
                .arg("KEYS")
                .arg(key)
                .query(&mut source)
                .unwrap_or_else(|e| panic!("MIGRATE {key}: {e}"));
            std::thread::sleep(pause);
        }
        std::thread::sleep(hold);
        setslot(&mut target, "NODE", &to_id);
        setslot(&mut source, "NODE", &to_id);
        for port in self.primary_ports() {
            if port != from && port != to {
                setslot(&mut conn(port), "NODE", &to_id);
            }
        }
    }
}
