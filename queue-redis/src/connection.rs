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
//! Every command, pipeline and script call of the driver goes through [`Commands`], which turns
//! a Redis error into the crate error (see [`errors`]) and replaces the
//! connection when the error calls for it.

use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
use redis::{
    Client, Cmd, FromRedisValue, IntoConnectionInfo, Pipeline, RedisError, RedisResult,
    ScriptInvocation, Value,
};

use crate::errors;
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

/// A client for `url` whose connections use [`tcp_settings`], trusting
/// `options.tls_root_cert` for `rediss://` when it is set.
pub(crate) fn open_client(url: &str, options: &RedisOptions) -> RedisResult<Client> {
    let info = url
        .into_connection_info()?
        .set_tcp_settings(tcp_settings(options));
    #[cfg(feature = "tls")]
    if let Some(root) = &options.tls_root_cert {
        return Client::build_with_tls(
            info,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            },
        );
    }
    Client::open(info)
}

/// The command connection, replaceable.
pub(crate) struct Commands {
    client: Client,
    config: ConnectionManagerConfig,
    /// The server's URL with any password redacted, for error messages.
    url: String,
    /// The manager in use and its number; numbers grow with each replacement.
    current: Mutex<(u64, ConnectionManager)>,
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
        client: Client,
        options: &RedisOptions,
        url: String,
    ) -> RedisResult<Self> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.connect_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let manager = client
            .get_connection_manager_with_config(config.clone())
            .await?;
        Ok(Self {
            client,
            config,
            url,
            current: Mutex::new((0, manager)),
        })
    }

    /// The connection to send on, with its number for [`replace`](Self::replace).
    pub(crate) fn get(&self) -> (u64, ConnectionManager) {
        let current = self.current.lock();
        (current.0, current.1.clone())
    }

    /// Replaces connection number `generation` by one that connects on its next use, unless it
    /// was replaced already (many calls failing on one connection replace it once).
    pub(crate) fn replace(&self, generation: u64) {
        let mut current = self.current.lock();
        if current.0 != generation {
            return;
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => *current = (generation + 1, fresh),
            // Only a configuration the first connection accepted can get here: keep the old one.
            Err(error) => tracing::warn!(%error, "could not replace the redis connection"),
        }
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
    async fn run<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> queue_core::Result<T>
    where
        F: std::future::Future<Output = RedisResult<T>>,
    {
        let (generation, conn) = self.get();
        call(conn).await.map_err(|e| {
            if errors::needs_new_connection(&e) {
                self.replace(generation);
            }
            self.error(e)
        })
    }

    /// Calls a script (`EVALSHA`, loading it on `NOSCRIPT`).
    pub(crate) async fn invoke(&self, inv: &ScriptInvocation<'_>) -> queue_core::Result<Value> {
        self.run(|mut conn| async move { inv.invoke_async(&mut conn).await })
            .await
    }

    /// Sends one command.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> queue_core::Result<T> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Sends a pipeline.
    pub(crate) async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> queue_core::Result<T> {
        self.run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }
}
