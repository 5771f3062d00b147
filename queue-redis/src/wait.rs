//! Blocking until a lane has work: `BLPOP` on the lane's wake key, cut short by a local timer.
//!
//! Redis applies blocking-command timeouts only on its periodic tick (every 100 ms at the
//! default `hz 10`), so a due time measured by Redis would be up to 100 ms late. The waiter
//! therefore blocks with a long server timeout and, when the lane's next due time comes first,
//! ends the wait with `CLIENT UNBLOCK` from the command connection.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use queue_core::Lane;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, RedisResult};

/// Longest a `BLPOP` blocks server-side; an idle worker sends one every this often.
const SERVER_TIMEOUT_SECS: u64 = 30;

/// One blocking connection and its client id.
struct Waiter {
    conn: MultiplexedConnection,
    id: i64,
}

/// Blocking connections, kept per lane for reuse; concurrent waits each get their own.
pub(crate) struct Waiters {
    client: Client,
    idle: Mutex<HashMap<Lane, Vec<Waiter>>>,
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters").finish_non_exhaustive()
    }
}

impl Waiters {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            idle: Mutex::new(HashMap::new()),
        }
    }

    async fn connect(&self) -> RedisResult<Waiter> {
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(None)
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(Waiter { conn, id })
    }

    /// Blocks until the wake key yields a wake-up, the server timeout passes, or `timeout`
    /// passes (then the block is lifted with `CLIENT UNBLOCK` through `commands`).
    pub(crate) async fn wait(
        &self,
        lane: &Lane,
        wake_key: &str,
        timeout: Option<Duration>,
        commands: &ConnectionManager,
    ) -> RedisResult<()> {
        let reused = self.idle.lock().get_mut(lane).and_then(Vec::pop);
        let waiter = match reused {
            Some(w) => w,
            None => self.connect().await?,
        };
        if timeout.is_some_and(|t| t < Duration::from_millis(1)) {
            self.idle
                .lock()
                .entry(lane.clone())
                .or_default()
                .push(waiter);
            return Ok(());
        }
        let mut blpop = redis::cmd("BLPOP");
        blpop.arg(wake_key).arg(SERVER_TIMEOUT_SECS);
        // If this future is dropped mid-wait, `waiter` is dropped with it: its socket closes and
        // the server forgets the blocked client.
        let result: RedisResult<()> = {
            let mut conn = waiter.conn.clone();
            let blocked = blpop.query_async::<redis::Value>(&mut conn);
            tokio::pin!(blocked);
            match timeout {
                Some(t) if t < Duration::from_secs(SERVER_TIMEOUT_SECS) => {
                    tokio::select! {
                        r = &mut blocked => r.map(drop),
                        _ = tokio::time::sleep(t) => {
                            let mut commands = commands.clone();
                            let unblocked: RedisResult<i64> = redis::cmd("CLIENT")
                                .arg("UNBLOCK")
                                .arg(waiter.id)
                                .query_async(&mut commands)
                                .await;
                            match unblocked {
                                Ok(1) => (&mut blocked).await.map(drop),
                                // The BLPOP has not reached the server yet (or the block could
                                // not be lifted): give up this connection instead of waiting for
                                // its server timeout. Closing it ends any later block.
                                Ok(_) => return Ok(()),
                                Err(e) => Err(e),
                            }
                        }
                    }
                }
                _ => blocked.await.map(drop),
            }
        };
        if result.is_ok() {
            self.idle
                .lock()
                .entry(lane.clone())
                .or_default()
                .push(waiter);
        }
        result
    }
}
