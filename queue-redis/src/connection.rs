//! The command connection: one auto-reconnecting multiplexed connection, replaced when it can no
//! longer be trusted.
//!
//! redis-rs's `ConnectionManager` reconnects only when the connection reports itself closed. A
//! peer that went silent without a reset (a NAT or firewall that forgot the connection, a
//! partition) makes every command time out instead, and the manager keeps the connection: each
//! later command waits its full response timeout too. (Replies are not mismatched: a timed-out
//! request keeps its place in the connection's queue, so its late reply is matched to it and
//! dropped.) After a failover the old primary answers `READONLY` on a connection that is alive,
//! and a new connection to the same address (a DNS name or proxy) may reach the new primary.
//! So after a timeout or `READONLY`, [`Commands`] swaps in a fresh manager that connects on its
//! next use; the old one closes once the calls still holding it finish.
//!
//! Every connection, blocking ones included, is opened with TCP keepalive (and, on Linux, a TCP
//! user timeout), so the kernel notices a dead peer even while nothing is sent.
//!
//! The deployment is chosen at connect (see [`topology`](crate::topology)): one server uses
//! the manager above; a cluster uses the client library's cluster connection, which routes
//! each command by its key's slot and follows the cluster's changes itself (sending a call
//! again only after a refusal that proves it did not run: see
//! [`cluster_send`](crate::cluster_send)); behind Sentinel,
//! the manager is pointed at the primary the sentinels name, and is replaced by one pointed at
//! the current primary whenever a call fails in a way a failover explains (connection refused
//! or dropped, timeout, `READONLY`).
//!
//! Every command, pipeline and script call of the driver goes through [`Commands`], which turns
//! a Redis error into the crate error (see [`errors`]) and replaces the
//! connection when the error calls for it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo, Pipeline,
    RedisError, RedisFuture, RedisResult, TlsMode, Value,
};

use crate::cluster_send::{self, AskTargets};
use crate::errors;
use crate::script_call::ScriptCall;
use crate::topology::{Node, SentinelTarget, Topology};
use crate::RedisOptions;

/// Keepalive probes sent before the kernel gives a silent connection up.
const KEEPALIVE_PROBES: u32 = 3;

/// The TCP settings of every connection: no Nagle delay, keepalive probes after
/// `options.tcp_keepalive` of silence, then every third of it.
fn tcp_settings(options: &RedisOptions) -> TcpSettings {
    let settings = TcpSettings::default().set_nodelay(true);
    let Some(idle) = options.tcp_keepalive else {
        return settings;
    };
    let idle = idle.max(Duration::from_secs(1));
    let interval = (idle / 3).max(Duration::from_secs(1));
    let keepalive = TcpKeepalive::new().with_time(idle).with_interval(interval);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    let keepalive = keepalive.with_retries(KEEPALIVE_PROBES);
    let settings = settings.set_keepalive(keepalive);
    // Unacknowledged data to a dead peer fails the connection as soon as keepalive would.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    let settings = settings.set_user_timeout(idle + interval * KEEPALIVE_PROBES);
    settings
}

/// The certificates of TLS connections: `options.tls_root_cert` to trust and
/// `options.tls_client_cert` to present, or `None` when neither is set (the public roots, no
/// client certificate).
#[cfg(feature = "tls")]
fn tls_certificates(options: &RedisOptions) -> Option<redis::TlsCertificates> {
    if options.tls_root_cert.is_none() && options.tls_client_cert.is_none() {
        return None;
    }
    Some(redis::TlsCertificates {
        client_tls: options
            .tls_client_cert
            .as_ref()
            .map(|c| redis::ClientTlsConfig {
                client_cert: c.cert_pem.clone(),
                client_key: c.key_pem.clone(),
            }),
        root_cert: options.tls_root_cert.clone(),
    })
}

/// A client for `url` whose connections use [`tcp_settings`], and for `rediss://` the
/// [`tls_certificates`] when set.
pub(crate) fn open_client(url: &str, options: &RedisOptions) -> RedisResult<Client> {
    open_client_info(url.into_connection_info()?, options)
}

/// A client for `info` whose connections use [`tcp_settings`], and for TLS the
/// [`tls_certificates`] when set.
pub(crate) fn open_client_info(
    info: ConnectionInfo,
    options: &RedisOptions,
) -> RedisResult<Client> {
    let info = info.set_tcp_settings(tcp_settings(options));
    #[cfg(feature = "tls")]
    if let Some(certs) = tls_certificates(options) {
        return Client::build_with_tls(info, certs);
    }
    Client::open(info)
}

/// A client for cluster node `host:port`, with the settings of the seed node `seed`
/// (credentials, TLS).
pub(crate) fn node_client(
    seed: &ConnectionInfo,
    host: &str,
    port: u16,
    options: &RedisOptions,
) -> RedisResult<Client> {
    let addr = match seed.addr() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => ConnectionAddr::Tcp(host.to_string(), port),
    };
    open_client_info(seed.clone().set_addr(addr), options)
}

/// Most keys whose cluster node blocking connections remember.
const MAX_OWNERS: usize = 4096;

/// A connection to send on: to one server (directly or found through Sentinel) or to a
/// cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server.
    Single(ConnectionManager),
    /// A cluster, routing each command by its keys' slot, and the connections to the nodes
    /// `ASK` answers name.
    Cluster(ClusterConnection, Arc<AskTargets>),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c, asked) => Box::pin(cluster_send::command(c, asked, cmd)),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c, asked) => {
                Box::pin(cluster_send::pipeline(c, asked, pipeline, offset, count))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c, _) => c.get_db(),
        }
    }
}

/// How the deployment is reached, and what blocking connections need to reach it too.
enum Link {
    /// One server: the client of every connection.
    Single(Box<Client>),
    /// A cluster.
    Cluster(Box<ClusterLink>),
    /// A primary found through sentinels.
    Sentinel(Box<SentinelLink>),
}

/// What blocking connections to a cluster's nodes need.
struct ClusterLink {
    /// The first seed node's settings (credentials, TLS), readdressed for each node.
    seed: ConnectionInfo,
    /// The node owning each key a blocking command was sent for, as the cluster last said (at
    /// most [`MAX_OWNERS`] keys; past it the map starts over).
    owners: Mutex<HashMap<String, Node>>,
}

/// The sentinels, and the primary they named last.
struct SentinelLink {
    /// Asked again for the primary after a call fails in a way a failover explains; one
    /// question at a time.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// A client of the primary named last.
    primary: Mutex<Client>,
}

/// Opens the client side of `topology` (no connection yet): fails on a malformed address.
pub(crate) fn open_link(topology: &Topology, options: &RedisOptions) -> RedisResult<LinkSetup> {
    Ok(LinkSetup(match topology {
        Topology::Single(url) => Setup::Single(Box::new(open_client(url, options)?)),
        Topology::Cluster(urls) => {
            let seed = urls[0].as_str().into_connection_info()?;
            let builder = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                .tcp_settings(tcp_settings(options))
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.response_timeout)
                // It would send a call again after a reset, though it may have run: only
                // `cluster_send` sends again, after refusals that prove the call did not run.
                .retries(0);
            #[cfg(feature = "tls")]
            let builder = match tls_certificates(options) {
                Some(certs) => builder.certs(certs),
                None => builder,
            };
            Setup::Cluster(Box::new((builder.build()?, seed)))
        }
        Topology::Sentinel(target) => Setup::Sentinel(Box::new(sentinel_client(target, options)?)),
    }))
}

/// A deployment's client, ready to connect (see [`open_link`]).
pub(crate) struct LinkSetup(Setup);

enum Setup {
    Single(Box<Client>),
    Cluster(Box<(ClusterClient, ConnectionInfo)>),
    Sentinel(Box<SentinelClient>),
}

/// A client asking `target`'s sentinels for its primary.
fn sentinel_client(target: &SentinelTarget, options: &RedisOptions) -> RedisResult<SentinelClient> {
    let template = target.template.as_str().into_connection_info()?;
    let settings = template.redis_settings();
    let addrs = target.sentinels.iter().map(|(host, port)| {
        if target.tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut builder =
        SentinelClientBuilder::new(addrs, &target.service, SentinelServerType::Master)?
            .set_client_to_redis_db(settings.db())
            .set_client_to_redis_tcp_settings(tcp_settings(options))
            .set_client_to_sentinel_tcp_settings(tcp_settings(options));
    if let Some(user) = settings.username() {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = settings.password() {
        builder = builder.set_client_to_redis_password(password);
    }
    if options.sentinel_auth {
        let Some(password) = settings.password() else {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "`sentinel_auth` sends the URL's credentials to the sentinels, and the URL has none",
            )));
        };
        builder = builder.set_client_to_sentinel_password(password);
        if let Some(user) = settings.username() {
            builder = builder.set_client_to_sentinel_username(user);
        }
    }
    if target.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
    }
    #[cfg(feature = "tls")]
    if let Some(certs) = tls_certificates(options).filter(|_| target.tls) {
        builder = builder
            .set_client_to_redis_certificates(certs.clone())
            .set_client_to_sentinel_certificates(certs);
    }
    builder.build()
}

/// The command connection, replaceable.
pub(crate) struct Commands {
    link: Link,
    config: ConnectionManagerConfig,
    /// For the clients of blocking connections to cluster nodes.
    options: RedisOptions,
    /// The server's URL with any password redacted, for error messages.
    url: String,
    /// The connection in use and its number; numbers grow with each replacement.
    current: Mutex<(u64, Conn)>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("generation", &self.current.lock().0)
            .finish_non_exhaustive()
    }
}

impl Commands {
    /// Connects (waiting for the first connection, so a bad address fails here); `url` (with
    /// any password redacted) names the server in errors.
    pub(crate) async fn connect(
        setup: LinkSetup,
        options: &RedisOptions,
        url: String,
    ) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connect_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let (link, conn) = match setup.0 {
            Setup::Single(client) => {
                let manager = client
                    .get_connection_manager_with_config(config.clone())
                    .await?;
                (Link::Single(client), Conn::Single(manager))
            }
            Setup::Cluster(cluster) => {
                let (client, seed) = *cluster;
                let conn = client.get_async_connection().await?;
                let asked = Arc::new(AskTargets::new(seed.clone(), options.clone(), node_client));
                let link = ClusterLink {
                    seed,
                    owners: Mutex::new(HashMap::new()),
                };
                (Link::Cluster(Box::new(link)), Conn::Cluster(conn, asked))
            }
            Setup::Sentinel(sentinels) => {
                let mut sentinels = *sentinels;
                let primary = bounded(options, sentinels.async_get_client()).await?;
                let manager = primary
                    .get_connection_manager_with_config(config.clone())
                    .await?;
                let link = SentinelLink {
                    sentinels: tokio::sync::Mutex::new(sentinels),
                    primary: Mutex::new(primary),
                };
                (Link::Sentinel(Box::new(link)), Conn::Single(manager))
            }
        };
        Ok(Self {
            link,
            config,
            options: options.clone(),
            url,
            current: Mutex::new((0, conn)),
        })
    }

    /// The connection to send on, with its number for [`replace`](Self::replace).
    pub(crate) fn get(&self) -> (u64, Conn) {
        let current = self.current.lock();
        (current.0, current.1.clone())
    }

    /// Replaces connection number `generation` by one that connects on its next use, unless it
    /// was replaced already (many calls failing on one connection replace it once). Behind
    /// Sentinel, the new one goes to the primary the sentinels name now. A cluster connection
    /// follows the cluster by itself and is kept.
    pub(crate) async fn replace(&self, generation: u64) {
        match &self.link {
            Link::Single(client) => {
                let mut current = self.current.lock();
                if current.0 != generation {
                    return;
                }
                match ConnectionManager::new_lazy_with_config(
                    (**client).clone(),
                    self.config.clone(),
                ) {
                    Ok(fresh) => *current = (generation + 1, Conn::Single(fresh)),
                    // Only a configuration the first connection accepted can get here: keep
                    // the old one.
                    Err(error) => tracing::warn!(%error, "could not replace the redis connection"),
                }
            }
            Link::Cluster(_) => {}
            // Boxed: asking the sentinels is a deep future, and only failures get here.
            Link::Sentinel(link) => Box::pin(self.ask_sentinels(link, generation)).await,
        }
    }

    /// Replaces connection number `generation` by one to the primary the sentinels name now
    /// (see [`replace`](Self::replace)).
    async fn ask_sentinels(&self, link: &SentinelLink, generation: u64) {
        let mut sentinels = link.sentinels.lock().await;
        if self.current.lock().0 != generation {
            return;
        }
        let fresh = bounded(&self.options, sentinels.async_get_client())
            .await
            .and_then(|primary| {
                let manager =
                    ConnectionManager::new_lazy_with_config(primary.clone(), self.config.clone())?;
                Ok((primary, manager))
            });
        match fresh {
            Ok((primary, manager)) => {
                *link.primary.lock() = primary;
                *self.current.lock() = (generation + 1, Conn::Single(manager));
            }
            Err(error) => tracing::warn!(%error, "the sentinels named no reachable primary"),
        }
    }

    /// Whether a call that failed with `e` should replace the connection: after a timeout or
    /// `READONLY`, and behind Sentinel after any error a failover explains (not the refusals
    /// of a healthy primary: `OOM`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`, `MISCONF`, which would
    /// only have the sentinels asked, and a new connection made, on every call while they
    /// last).
    fn needs_new_connection(&self, e: &RedisError) -> bool {
        errors::needs_new_connection(e)
            || (matches!(self.link, Link::Sentinel(_))
                && errors::is_transient(e)
                && !errors::is_healthy_refusal(e))
    }

    /// Whether the server says it runs in cluster mode (`INFO cluster`); false when it cannot
    /// say (a user not allowed `INFO`, say).
    pub(crate) async fn is_cluster_node(&self) -> bool {
        let mut info = redis::cmd("INFO");
        info.arg("cluster");
        self.query::<String>(&info)
            .await
            .is_ok_and(|info| info.lines().any(|l| l.trim() == "cluster_enabled:1"))
    }

    /// Whether this is a Redis Cluster (whose keys of different slots cannot share a command).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    /// The node a blocking command on `key` should go to: `None` for one server (the one
    /// [`blocking_client`](Self::blocking_client) reaches), the primary named last behind
    /// Sentinel (so connections to an earlier primary are not reused), the slot's owner on a
    /// cluster.
    pub(crate) fn node_for(&self, key: &str) -> Option<Node> {
        match &self.link {
            Link::Single(_) => None,
            Link::Sentinel(link) => tcp_node(link.primary.lock().get_connection_info().addr()),
            Link::Cluster(link) => {
                if let Some(node) = link.owners.lock().get(key) {
                    return Some(node.clone());
                }
                tcp_node(link.seed.addr())
            }
        }
    }

    /// A blocking command sent to `node` (on `key`, when it names one) failed with `e`, an idle
    /// worker sending nothing else that would find out why. Behind Sentinel, when `node` is
    /// the primary named last and a failover explains `e`, the sentinels are asked again. On a
    /// cluster, when `e` says the node was not reached (down, or gone), the cluster connection,
    /// which follows the slot map, is asked where `key`'s primary is now, and the next blocking
    /// command goes there; otherwise the node last named (the first seed, or a `MOVED`
    /// answer's) would be tried for as long as the process runs.
    pub(crate) async fn blocking_failed(
        &self,
        e: &RedisError,
        node: Option<&Node>,
        key: Option<&str>,
    ) {
        match &self.link {
            Link::Sentinel(_) if self.needs_new_connection(e) => {
                let generation = self.current.lock().0;
                if node.is_some() && node.cloned() == self.node_for("") {
                    self.replace(generation).await;
                }
            }
            Link::Cluster(_) if errors::is_transient(e) => {
                let Some(key) = key else { return };
                if let Some(node) = self.locate(key).await {
                    tracing::info!(key, node = ?node, "the node serving a blocking wait's key, asked again");
                }
            }
            _ => {}
        }
    }

    /// The primary serving `key`'s slot, as the cluster connection routes to it (the address
    /// that node's `CLIENT INFO` gives for the connection), noted for the next blocking command.
    async fn locate(&self, key: &str) -> Option<Node> {
        let Conn::Cluster(mut conn, _) = self.get().1 else {
            return None;
        };
        let route = Route::with_key(key, SlotAddr::Master);
        let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
        let mut info = redis::cmd("CLIENT");
        info.arg("INFO");
        let info = bounded(&self.options, conn.route_command(info, to))
            .await
            .ok()?;
        let info: String = redis::from_redis_value(info).ok()?;
        let addr = info
            .split_whitespace()
            .find_map(|field| field.strip_prefix("laddr="))?;
        self.moved(key, addr)
    }

    /// Notes that the cluster said `key` is served by `addr` (`host:port`), returning that
    /// node, or `None` when this is no cluster or `addr` is not `host:port`.
    pub(crate) fn moved(&self, key: &str, addr: &str) -> Option<Node> {
        let Link::Cluster(link) = &self.link else {
            return None;
        };
        let (host, port) = addr.rsplit_once(':')?;
        let node = (host.to_string(), port.parse().ok()?);
        let mut owners = link.owners.lock();
        if owners.len() >= MAX_OWNERS {
            owners.clear();
        }
        owners.insert(key.to_string(), node.clone());
        Some(node)
    }

    /// A client for a blocking connection to `node` (from [`node_for`](Self::node_for)): the
    /// server's, the current primary's, or the cluster node's.
    pub(crate) fn blocking_client(&self, node: Option<&Node>) -> RedisResult<Client> {
        match (&self.link, node) {
            (Link::Single(client), _) => Ok((**client).clone()),
            (Link::Sentinel(link), _) => Ok(link.primary.lock().clone()),
            (Link::Cluster(link), Some((host, port))) => {
                node_client(&link.seed, host, *port, &self.options)
            }
            (Link::Cluster(_), None) => Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a cluster node has no TCP address",
            ))),
        }
    }

    /// Lifts the block of client `id` (on `node`, for a cluster): `CLIENT UNBLOCK`, replacing
    /// the command connection when the error calls for it.
    pub(crate) async fn unblock(&self, id: i64, node: Option<&Node>) -> RedisResult<i64> {
        let (generation, conn) = self.get();
        let mut unblock = redis::cmd("CLIENT");
        unblock.arg("UNBLOCK").arg(id);
        let result = match (conn, node) {
            (Conn::Cluster(mut conn, _), Some((host, port))) => {
                let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                match conn.route_command(unblock, to).await {
                    Ok(v) => redis::from_redis_value(v).map_err(RedisError::from),
                    Err(e) => Err(e),
                }
            }
            (mut conn, _) => unblock.query_async(&mut conn).await,
        };
        if let Err(e) = &result {
            if self.needs_new_connection(e) {
                self.replace(generation).await;
            }
        }
        result
    }

    /// The server's URL with any password redacted.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The crate error for `e`, naming this server.
    pub(crate) fn error(&self, e: RedisError) -> queue_core::Error {
        errors::classify(&self.url, e)
    }

    /// Runs `call` on the connection; a connection that failed in a way that makes it
    /// untrustworthy is replaced for later calls.
    async fn run<T, F>(&self, call: impl FnOnce(Conn) -> F) -> queue_core::Result<T>
    where
        F: std::future::Future<Output = RedisResult<T>>,
    {
        self.run_checked(call, |_| false).await
    }

    /// [`run`](Self::run), where a reply `untrusted` finds fault with (an error it carries, as
    /// a pipeline's per-command replies do) replaces the connection as a thrown error would.
    async fn run_checked<T, F>(
        &self,
        call: impl FnOnce(Conn) -> F,
        untrusted: impl FnOnce(&T) -> bool,
    ) -> queue_core::Result<T>
    where
        F: std::future::Future<Output = RedisResult<T>>,
    {
        let (generation, conn) = self.get();
        match call(conn).await {
            Ok(v) => {
                if untrusted(&v) {
                    self.replace(generation).await;
                }
                Ok(v)
            }
            Err(e) => {
                if self.needs_new_connection(&e) {
                    self.replace(generation).await;
                }
                Err(self.error(e))
            }
        }
    }

    /// The number of the connection in use (see [`replace`](Self::replace)).
    pub(crate) fn generation(&self) -> u64 {
        self.current.lock().0
    }

    /// Calls a script (`EVALSHA`, loading it on `NOSCRIPT`).
    pub(crate) async fn invoke(&self, call: &ScriptCall<'_>) -> queue_core::Result<Value> {
        let cmd = call.command();
        self.loading(Request::Cmd(&cmd), call.script()).await
    }

    /// Sends one command.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> queue_core::Result<T> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Sends a pipeline that calls `script` with `EVALSHA`; when the server does not know the
    /// script (`NOSCRIPT`, after a restart), loads it and sends the pipeline again. The
    /// pipeline's other commands must be safe to run twice.
    pub(crate) async fn pipe_loading<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
        script: &redis::Script,
    ) -> queue_core::Result<T> {
        self.loading(Request::Pipe(pipe), script).await
    }

    /// Sends `request`, which calls `script` with `EVALSHA`; on `NOSCRIPT` loads the script and
    /// sends the request once more.
    async fn loading<T: FromRedisValue>(
        &self,
        request: Request<'_>,
        script: &redis::Script,
    ) -> queue_core::Result<T> {
        self.run(|mut conn| async move {
            match request.send(&mut conn).await {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    script.load_async(&mut conn).await?;
                    request.send(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }

    /// Loads `script` into the server's script cache.
    pub(crate) async fn load(&self, script: &redis::Script) -> queue_core::Result<()> {
        self.run(|mut conn| async move { script.load_async(&mut conn).await.map(|_| ()) })
            .await
    }

    /// Sends a pipeline.
    pub(crate) async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> queue_core::Result<T> {
        self.run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }

    /// Sends a pipeline whose commands answer one by one, an error being the reply of the
    /// command it stopped (`ignore_errors`). A reply that makes the connection untrustworthy
    /// (`READONLY`: a script's write refused by a server demoted to a replica) replaces the
    /// connection the pipeline went out on, as the same error of one command would, so what is
    /// sent again reaches the primary.
    pub(crate) async fn pipe_each(&self, pipe: &Pipeline) -> queue_core::Result<Vec<Value>> {
        self.run_checked(
            |mut conn| async move { pipe.query_async::<Vec<Value>>(&mut conn).await },
            |replies| {
                replies.iter().any(|reply| {
                    matches!(reply, Value::ServerError(e) if self.needs_new_connection(&e.clone().into()))
                })
            },
        )
        .await
    }
}

/// A command or a pipeline, sent as one request.
#[derive(Clone, Copy)]
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

impl Request<'_> {
    /// Sends it on `conn` and reads its reply.
    pub(crate) async fn send<T: FromRedisValue>(
        self,
        conn: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        match self {
            Request::Cmd(cmd) => cmd.query_async(conn).await,
            Request::Pipe(pipe) => pipe.query_async(conn).await,
        }
    }
}

/// The host and port of a TCP address.
fn tcp_node(addr: &ConnectionAddr) -> Option<Node> {
    match addr {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

/// `fut` (a question to the sentinels), bounded by the connect and response timeouts.
async fn bounded<T>(
    options: &RedisOptions,
    fut: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    match tokio::time::timeout(options.connect_timeout + options.response_timeout, fut).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the sentinels did not answer in time",
        )
        .into()),
    }
}
