#![doc = include_str!("../README.md")]

mod admin;
mod bodies;
mod cluster_send;
mod coalesce;
mod connection;
mod driver;
mod durable;
mod errors;
mod event_log;
mod flows;
mod jobs;
mod keyed;
mod keys;
mod limits;
mod options;
mod presence;
mod record;
mod retention;
mod schedules;
mod script_call;
mod scripts;
mod stats;
mod topology;
mod unique;
mod wait;
mod wait_hub;
mod wait_hubs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use queue_core::{redact_url, validate_name, Driver, Error, Result};

use coalesce::Gatherer;
use connection::{open_link, Commands};
use keys::Keys;
use scripts::Scripts;
use wait::Waiters;
use wait_hubs::WaitHubs;

#[cfg(feature = "tls")]
pub use options::TlsClientCert;
pub use options::{Compression, RedisOptions};

/// Stores jobs in Redis (or a Redis-compatible server), with every multi-key step one Lua
/// script (a dispatch of large payloads adds one `HSET` in the script's `MULTI`, see
/// [`RedisOptions::large_payload`]). Cloning shares the connection.
///
/// Connect with `redis://[user:password@]host[:port][/db][?prefix=app]` or `rediss://...` (TLS,
/// with the `tls` feature); a Redis Cluster with
/// `redis+cluster://[user:password@]host:port,host:port/[?prefix=app]`; a primary watched by
/// Sentinel with `redis+sentinel://[user:password@]host:port,host:port/<primary-name>[/db]`
/// (`rediss+` for TLS; `?tls_ca_file=` trusts a private CA, `?tls_cert_file=` with
/// `?tls_key_file=` presents a client certificate, see the README's "TLS and ACL users");
/// `?durable_replicas=1&durable_timeout=100ms` asks for durable
/// dispatch ([`RedisOptions::durable_replicas`]); or through [`Queue::connect`](queue_core::Queue::connect).
#[derive(Clone)]
pub struct RedisDriver {
    inner: Arc<Inner>,
}

struct Inner {
    /// The command connection (its URL, redacted, names the server in errors).
    conn: Commands,
    options: RedisOptions,
    /// Key names, with each lane's key set cached.
    keys: Keys,
    scripts: Scripts,
    /// Queues noted in `<prefix>:queues`, and when (see [`jobs::NOTED_FOR`]).
    known_queues: Mutex<HashMap<String, Instant>>,
    /// Blocking connections (of idle workers on a cluster, and of event readers).
    waiters: Waiters,
    /// The few blocking connections of every idle lane off a cluster.
    hubs: WaitHubs,
    /// Lone dispatches gathering for one call (see [`coalesce`]).
    dispatches: Gatherer,
}

impl std::fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDriver")
            .field("url", &self.inner.conn.url())
            .field("prefix", &self.inner.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisDriver {
    /// Connects with default options; `?prefix=` in the URL sets the key prefix.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// The key prefix in use (from the options or the URL's `?prefix=`).
    pub fn prefix(&self) -> &str {
        &self.inner.options.prefix
    }

    /// Connects with `options`; a `?prefix=` in the URL overrides `options.prefix`.
    pub async fn connect_with(url: &str, mut options: RedisOptions) -> Result<Self> {
        let redacted = redact_url(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: redacted.clone(),
            reason,
        };
        let url = options.take_from_url(url).map_err(invalid)?;
        validate_name("key prefix", &options.prefix)?;
        let topology = topology::parse(&url).map_err(invalid)?;
        let setup = open_link(&topology, &options).map_err(|e| invalid(e.to_string()))?;
        let conn = Commands::connect(setup, &options, redacted.clone())
            .await
            .map_err(|e| errors::connect_failed(&redacted, e, options.sentinel_auth))?;
        // A cluster node reached as one server takes every lane's script (one hash tag each),
        // but not the idle lanes' shared wait, which names many queues: say so now.
        if matches!(topology, topology::Topology::Single(_)) && conn.is_cluster_node().await {
            return Err(invalid(
                "the server is a node of a Redis Cluster: connect with redis+cluster:// \
                 (rediss+cluster:// for TLS), listing one or more nodes as seeds"
                    .to_string(),
            ));
        }
        let waiters = Waiters::new(&options);
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                keys: Keys::new(&options.prefix),
                options,
                scripts: Scripts::new(),
                known_queues: Mutex::new(HashMap::new()),
                waiters,
                hubs: WaitHubs::new(),
                dispatches: Gatherer::default(),
            }),
        })
    }
}

fn connect(url: String) -> BoxFuture<'static, Result<Arc<dyn Driver>>> {
    Box::pin(async move { Ok(Arc::new(RedisDriver::connect(&url).await?) as Arc<dyn Driver>) })
}

queue_core::register_driver!(
    [
        "redis",
        "rediss",
        "redis+unix",
        "unix",
        "redis+cluster",
        "rediss+cluster",
        "redis+sentinel",
        "rediss+sentinel"
    ],
    connect
);
