//! Blocking until a lane has work: `BLPOP` on the lane's wake key, cut short by a local timer.
//!
//! Redis applies blocking-command timeouts only on its periodic tick (every 100 ms at the
//! default `hz 10`), so a due time measured by Redis would be up to 100 ms late. The waiter
//! therefore blocks with a long server timeout ([`RedisOptions::block_timeout`]) and, when the
//! lane's next due time comes first, ends the wait with `CLIENT UNBLOCK` from the command
//! connection.
//!
//! A blocking connection whose peer went silent (a cut that reset nothing) would wait forever:
//! every wait is bounded on the client too, by the server timeout plus the response timeout.
//! Past that bound the connection is dropped (a fresh one serves the next wait) and the wait
//! fails with a timeout, so the worker looks at its lane again. Blocking connections also have
//! TCP keepalive (see [`connection`](crate::connection)).
//!
//! Blocking connections are not tied to a lane: an idle one serves the next wait of any lane
//! (on a cluster, of any lane whose key the same node owns). At most [`MAX_IDLE`] stay open
//! between waits, and one unused for [`IDLE_FOR`] is closed.
//!
//! On a cluster a blocking command goes to the node owning its key: the node the cluster named
//! last for the key's slot, else a seed node; a `MOVED` (or `ASK`) answer names the owner, and
//! the command is sent there once more. `CLIENT UNBLOCK` goes to the same node. Behind
//! Sentinel, blocking connections go to the primary the sentinels named last (idle ones to an
//! earlier primary are not reused), and a blocking command failing in a way a failover
//! explains makes the driver ask the sentinels again.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, RedisResult};

use crate::connection::{Commands, Request};
use crate::topology::Node;
use crate::RedisOptions;

/// Most blocking connections kept open between waits.
pub(crate) const MAX_IDLE: usize = 16;

/// A blocking connection unused this long is closed.
pub(crate) const IDLE_FOR: Duration = Duration::from_secs(60);

/// One blocking connection, its client id, and its cluster node (`None` off a cluster).
pub(crate) struct Waiter {
    pub(crate) conn: MultiplexedConnection,
    pub(crate) id: i64,
    node: Option<Node>,
}

/// Blocking connections; concurrent waits each get their own.
pub(crate) struct Waiters {
    /// Server-side `BLPOP` timeout.
    block: Duration,
    /// How long an answer may take beyond what the server was asked to wait.
    margin: Duration,
    connect_timeout: Duration,
    /// Connections between waits, each with when it was put back (newest last).
    idle: Mutex<Vec<(Waiter, Instant)>>,
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters")
            .field("idle", &self.idle.lock().len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn timed_out() -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "blocking connection did not answer in time; replaced",
    )
    .into()
}

impl Waiters {
    pub(crate) fn new(options: &RedisOptions) -> Self {
        Self {
            block: options.block_timeout.max(Duration::from_millis(100)),
            margin: options.response_timeout,
            connect_timeout: options.connect_timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// A new blocking connection to `node` (see [`Commands::node_for`]).
    pub(crate) async fn connect(
        &self,
        node: Option<Node>,
        commands: &Commands,
    ) -> RedisResult<Waiter> {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(self.connect_timeout));
        let opened = async {
            let mut conn = commands
                .blocking_client(node.as_ref())?
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let id: i64 = redis::cmd("CLIENT")
                .arg("ID")
                .query_async(&mut conn)
                .await?;
            Ok(Waiter { conn, id, node })
        };
        tokio::time::timeout(self.connect_timeout + self.margin, opened)
            .await
            .unwrap_or_else(|_| Err(timed_out()))
    }

    /// An idle connection to `node`, the latest put back.
    fn take(&self, node: &Option<Node>) -> Option<Waiter> {
        let mut idle = self.idle.lock();
        let now = Instant::now();
        idle.retain(|(_, since)| now.duration_since(*since) < IDLE_FOR);
        let at = idle.iter().rposition(|(w, _)| w.node == *node)?;
        Some(idle.remove(at).0)
    }

    /// An idle connection to `node`, or a new one.
    async fn get(&self, node: Option<Node>, commands: &Commands) -> RedisResult<Waiter> {
        match self.take(&node) {
            Some(w) => Ok(w),
            None => self.connect(node, commands).await,
        }
    }

    fn put_back(&self, waiter: Waiter) {
        let mut idle = self.idle.lock();
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push((waiter, Instant::now()));
    }

    /// Sends `cmd`, a blocking command on `key` the server holds at most `block` (at most
    /// [`RedisOptions::block_timeout`], see [`Waiters::max_block`]), on a blocking connection of
    /// its own, so the command connection is never held up. Fails with a timeout, dropping the
    /// connection, when no answer comes within `block` plus the response timeout.
    pub(crate) async fn blocking(
        &self,
        cmd: &redis::Cmd,
        key: &str,
        block: Duration,
        commands: &Commands,
    ) -> RedisResult<redis::Value> {
        self.send(Request::Cmd(cmd), key, block.min(self.block), commands)
            .await
    }

    /// Sends `request` on `key`, which the server holds at most `held`, on a blocking
    /// connection of its own to `key`'s node (following a cluster's `MOVED` once). Fails with a
    /// timeout, dropping the connection, when no answer comes within `held` plus the response
    /// timeout.
    async fn send<T: redis::FromRedisValue>(
        &self,
        request: Request<'_>,
        key: &str,
        held: Duration,
        commands: &Commands,
    ) -> RedisResult<T> {
        let node = commands.node_for(key);
        match self.send_to(request, held, node.clone(), commands).await {
            Err(e) => match moved_to(&e, key, commands) {
                Some(node) => self.send_to(request, held, Some(node), commands).await,
                None => {
                    commands.blocking_failed(&e, node.as_ref(), Some(key)).await;
                    Err(e)
                }
            },
            ok => ok,
        }
    }

    async fn send_to<T: redis::FromRedisValue>(
        &self,
        request: Request<'_>,
        held: Duration,
        node: Option<Node>,
        commands: &Commands,
    ) -> RedisResult<T> {
        let waiter = self.get(node, commands).await?;
        let mut conn = waiter.conn.clone();
        let result = match tokio::time::timeout(held + self.margin, request.send(&mut conn)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        };
        if result.is_ok() {
            self.put_back(waiter);
        }
        result
    }

    /// How long an answer may take beyond what the server was asked to wait.
    pub(crate) fn margin(&self) -> Duration {
        self.margin
    }

    /// The longest a blocking command is held by the server ([`RedisOptions::block_timeout`]).
    pub(crate) fn max_block(&self) -> Duration {
        self.block
    }

    /// Blocks until the wake key yields a wake-up, the server timeout passes, or `timeout`
    /// passes (then the block is lifted with `CLIENT UNBLOCK` through `commands`). Fails with a
    /// timeout when the blocking connection does not answer within its bound.
    pub(crate) async fn wait(
        &self,
        wake_key: &str,
        timeout: Option<Duration>,
        commands: &Commands,
    ) -> RedisResult<()> {
        if timeout.is_some_and(|t| t < Duration::from_millis(1)) {
            return Ok(());
        }
        let node = commands.node_for(wake_key);
        match self
            .wait_on(wake_key, timeout, node.clone(), commands)
            .await
        {
            Err(e) => match moved_to(&e, wake_key, commands) {
                Some(node) => self.wait_on(wake_key, timeout, Some(node), commands).await,
                None => {
                    commands
                        .blocking_failed(&e, node.as_ref(), Some(wake_key))
                        .await;
                    Err(e)
                }
            },
            ok => ok,
        }
    }

    async fn wait_on(
        &self,
        wake_key: &str,
        timeout: Option<Duration>,
        node: Option<Node>,
        commands: &Commands,
    ) -> RedisResult<()> {
        let waiter = self.get(node, commands).await?;
        let mut blpop = redis::cmd("BLPOP");
        blpop.arg(wake_key).arg(self.block.as_secs_f64());
        // If this future is dropped mid-wait, `waiter` is dropped with it: its socket closes and
        // the server forgets the blocked client. The same happens when the bound passes.
        let mut conn = waiter.conn.clone();
        let blocked = blpop.query_async::<redis::Value>(&mut conn);
        tokio::pin!(blocked);
        let bound = tokio::time::sleep(self.block + self.margin);
        tokio::pin!(bound);
        let result: RedisResult<()> = match timeout {
            Some(t) if t < self.block => {
                tokio::select! {
                    r = &mut blocked => r.map(drop),
                    _ = &mut bound => Err(timed_out()),
                    _ = tokio::time::sleep(t) => {
                        match commands.unblock(waiter.id, waiter.node.as_ref()).await {
                            // Lifted: the reply is on its way, unless this connection is the
                            // one that is cut.
                            Ok(1) => match tokio::time::timeout(self.margin, &mut blocked).await {
                                Ok(r) => r.map(drop),
                                Err(_) => Err(timed_out()),
                            },
                            // The BLPOP has not reached the server yet (or the block could not
                            // be lifted): give up this connection instead of waiting for its
                            // server timeout. Closing it ends any later block.
                            Ok(_) => return Ok(()),
                            Err(e) => Err(e),
                        }
                    }
                }
            }
            _ => tokio::select! {
                r = &mut blocked => r.map(drop),
                _ = &mut bound => Err(timed_out()),
            },
        };
        if result.is_ok() {
            self.put_back(waiter);
        }
        result
    }
}

impl Waiters {
    /// Writes `mark` and waits up to `timeout` for `replicas` replicas to confirm it (`SET`,
    /// then `WAIT`, in one request), on a blocking connection of this pool (to `mark`'s
    /// primary): how many did. Replicas take a primary's writes in order, so those that
    /// confirmed the mark hold every write the primary made before it. Not on the command
    /// connection: Redis holds a client's later commands while its `WAIT` waits, and that
    /// connection carries every call of the process (renewals among them).
    pub(crate) async fn confirm(
        &self,
        mark: &str,
        replicas: u32,
        timeout: Duration,
        commands: &Commands,
    ) -> RedisResult<u32> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(mark).arg(1).ignore();
        pipe.cmd("WAIT")
            .arg(replicas)
            .arg(timeout.as_millis().clamp(1, u128::from(u32::MAX)) as u64);
        let (confirmed,) = self
            .send::<(u32,)>(Request::Pipe(&pipe), mark, timeout, commands)
            .await?;
        Ok(confirmed)
    }
}

/// The node a cluster's `MOVED` or `ASK` answer `e` about `key` names (noted for the key), if
/// it is one; also when it stopped a pipeline (the first refused command's answer).
fn moved_to(e: &RedisError, key: &str, commands: &Commands) -> Option<Node> {
    if let Some((addr, _slot)) = e.redirect_node() {
        return commands.moved(key, addr);
    }
    let refused = e.clone().into_server_errors()?;
    let (_, first) = refused.first()?;
    if !matches!(first.code(), "MOVED" | "ASK") {
        return None;
    }
    // `<slot> <host>:<port>`
    let addr = first.details()?.split_whitespace().nth(1)?;
    commands.moved(key, addr)
}
