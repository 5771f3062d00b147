//! Sending on a Redis Cluster without ever sending a call again when it may have run.
//!
//! Left to itself, redis-rs's cluster connection sends a request again after its connection
//! dropped or timed out, though the server may have run it before the cut: a dispatch would
//! then be stored twice (under new numbers), a reserve would lease a second batch while the
//! first one's reply was lost. So the driver builds that connection with no retries of its own
//! (see [`connection`](crate::connection)), and sends again here only after the answers that
//! prove the call did not run:
//!
//! - `ASK` (a slot half moved): sent to the node named, after `ASKING` on the same connection
//!   (before each command of a pipeline, once before a transaction), on a connection of the
//!   driver's own ([`AskTargets`]): the importing node may serve no slot yet, and the cluster
//!   connection, which holds connections to the nodes serving slots, then has none to it (its
//!   routing by address never connects, and asking it to would make it start over from its
//!   seed nodes);
//! - `MOVED`, `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`, `READONLY`, no connection to
//!   the slot's node yet, or a refused connection: sent again, routed by the slot map (which
//!   the connection re-reads after a `MOVED`), after a pause that doubles;
//! - a transaction refused (`EXECABORT`) because its queued commands were all `MOVED`, or all
//!   `ASK` to one node: as those.
//!
//! Anything else, a reset or a timeout after the request went out above all, is the caller's
//! error: its outcome is unknown, as on one server, and the caller decides (a dispatch with a
//! chosen id can be sent again safely; settlements are fenced by their lease's token).
//!
//! A pipeline refused in part is sent again whole. The driver's transactions are refused whole
//! (`EXECABORT`), and its other pipelines are reads, or writes to one key, or writes that may
//! run twice.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, ErrorKind, Pipeline, RedisError, RedisResult,
    ServerError, ServerErrorKind, Value,
};

use crate::RedisOptions;

/// Sends after refusals, at most (the first send not counted).
const RESENDS: u32 = 12;
/// The first pause before sending again; each later one is twice the one before, up to
/// [`LONGEST_PAUSE`] (about 3 s in all).
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause before sending again.
const LONGEST_PAUSE: Duration = Duration::from_millis(500);

/// What to do after a failed send.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Send to this node (`host:port`) after `ASKING`.
    Ask { host: String, port: u16 },
    /// Send again as before, after a pause.
    Later,
    /// Give the error to the caller.
    Stop,
}

/// Where an `ASK` whose details are `details` (`<slot> <host>:<port>`) sends a call.
fn asked(details: Option<&str>) -> Next {
    let to = details.and_then(|details| {
        let addr = details.split_ascii_whitespace().nth(1)?;
        let (host, port) = addr.rsplit_once(':')?;
        Some((host.to_string(), port.parse().ok()?))
    });
    match to {
        Some((host, port)) => Next::Ask { host, port },
        // An `ASK` without a usable address: the source node will answer again.
        None => Next::Later,
    }
}

/// What a send that failed with `e` calls for.
fn next(e: &RedisError) -> Next {
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::Ask) => asked(e.detail()),
        // A transaction whose queued commands were redirected ran nothing (`EXECABORT`).
        ErrorKind::Server(ServerErrorKind::ExecAbort) => match e.clone().into_server_errors() {
            Some(queued) => transaction_next(queued.iter().map(|(_, error)| error)),
            None => Next::Stop,
        },
        ErrorKind::Server(
            ServerErrorKind::Moved
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::ReadOnly,
        )
        | ErrorKind::ClusterConnectionNotFound => Next::Later,
        _ if e.is_connection_refusal() => Next::Later,
        _ => Next::Stop,
    }
}

/// What a transaction refused for the errors of its queued commands, `queued`, calls for: it
/// follows them when they are all `MOVED`, or all `ASK` to one node.
fn transaction_next<'a>(mut queued: impl Iterator<Item = &'a ServerError>) -> Next {
    let next = |error: &ServerError| match error.kind() {
        Some(ServerErrorKind::Moved) => Next::Later,
        Some(ServerErrorKind::Ask) => asked(error.details()),
        _ => Next::Stop,
    };
    let Some(first) = queued.next().map(next) else {
        return Next::Stop;
    };
    if first != Next::Stop && queued.all(|error| next(error) == first) {
        first
    } else {
        Next::Stop
    }
}

/// The pause before send number `resend` (from 0) after refusals.
fn pause(resend: u32) -> Duration {
    FIRST_PAUSE
        .saturating_mul(1 << resend.min(16))
        .min(LONGEST_PAUSE)
}

/// Sends `cmd` on `conn` (a cluster connection with no retries of its own), following the
/// refusals that prove it did not run (see the module's notes); `ASK`s go through `asked`.
pub(crate) async fn command(
    conn: &mut ClusterConnection,
    targets: &AskTargets,
    cmd: &Cmd,
) -> RedisResult<Value> {
    let mut result = conn.req_packed_command(cmd).await;
    for resend in 0..RESENDS {
        let Err(e) = &result else { break };
        result = match next(e) {
            Next::Stop => break,
            Next::Ask { host, port } => {
                let mut asking = redis::pipe();
                asking.cmd("ASKING").add_command(cmd.clone());
                targets
                    .send(&host, port, &asking, 1, 1)
                    .await
                    .and_then(|mut replies| refusal_as_error(replies.pop().unwrap_or(Value::Nil)))
            }
            Next::Later => {
                tokio::time::sleep(pause(resend)).await;
                conn.req_packed_command(cmd).await
            }
        };
    }
    result
}

/// Sends `pipeline` on `conn` (a cluster connection with no retries of its own), reading
/// `count` replies after the first `offset`, following the refusals that prove it did not run
/// (see the module's notes); `ASK`s go through `targets`.
pub(crate) async fn pipeline(
    conn: &mut ClusterConnection,
    targets: &AskTargets,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
) -> RedisResult<Vec<Value>> {
    let mut result = conn.req_packed_commands(pipeline, offset, count).await;
    for resend in 0..RESENDS {
        let Err(e) = &result else { break };
        result = match next(e) {
            Next::Stop => break,
            Next::Ask { host, port } if pipeline.is_transaction() => {
                let asking = asking_first(pipeline);
                targets.send(&host, port, &asking, offset + 1, count).await
            }
            Next::Ask { host, port } => {
                // `ASKING` holds for one command outside a transaction: one before each.
                let asking = asking_first(pipeline);
                let n = pipeline.len();
                targets
                    .send(&host, port, &asking, 0, 2 * n)
                    .await
                    .map(|replies| {
                        let replies = replies.into_iter().skip(1).step_by(2);
                        replies.skip(offset).take(count).collect()
                    })
            }
            Next::Later => {
                tokio::time::sleep(pause(resend)).await;
                conn.req_packed_commands(pipeline, offset, count).await
            }
        };
    }
    result
}

/// `reply`, or the error it is when it is a refusal [`next`] acts on (the node an `ASK` sent a
/// call to may answer `TRYAGAIN`, or `MOVED` once the slot moved on).
fn refusal_as_error(reply: Value) -> RedisResult<Value> {
    match reply {
        Value::ServerError(error) => {
            let e = RedisError::from(error.clone());
            if next(&e) == Next::Stop {
                Ok(Value::ServerError(error))
            } else {
                Err(e)
            }
        }
        reply => Ok(reply),
    }
}

/// Most nodes [`AskTargets`] keeps a connection to (past it, it starts over).
const MAX_ASK_TARGETS: usize = 64;

/// How a client for a cluster node is made: from the seed node's settings, the node's host
/// and port, and the driver's options.
pub(crate) type NodeClient =
    fn(&ConnectionInfo, &str, u16, &RedisOptions) -> RedisResult<redis::Client>;

/// Connections of the driver's own to the nodes `ASK` answers name, one per node, opened on
/// first use with the seed node's settings (credentials, TLS) and the driver's timeouts.
pub(crate) struct AskTargets {
    seed: ConnectionInfo,
    options: RedisOptions,
    node_client: NodeClient,
    open: Mutex<HashMap<(String, u16), MultiplexedConnection>>,
}

impl AskTargets {
    /// No connection yet; `seed` is the first seed node's settings, `node_client` makes the
    /// clients.
    pub(crate) fn new(
        seed: ConnectionInfo,
        options: RedisOptions,
        node_client: NodeClient,
    ) -> Self {
        Self {
            seed,
            options,
            node_client,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `pipeline` to node `host:port`, reading `count` replies after the first `offset`.
    /// A connection that failed is dropped, for the next send to open another.
    async fn send(
        &self,
        host: &str,
        port: u16,
        pipeline: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let node = (host.to_string(), port);
        let cached = self.open.lock().get(&node).cloned();
        let mut conn = match cached {
            Some(conn) => conn,
            None => {
                let client = (self.node_client)(&self.seed, host, port, &self.options)?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.options.connect_timeout))
                    .set_response_timeout(Some(self.options.response_timeout));
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let mut open = self.open.lock();
                if open.len() >= MAX_ASK_TARGETS {
                    open.clear();
                }
                open.insert(node.clone(), conn.clone());
                conn
            }
        };
        let result = conn.req_packed_commands(pipeline, offset, count).await;
        if result.is_err() {
            self.open.lock().remove(&node);
        }
        result
    }
}

/// `pipeline` to send after an `ASK`: a transaction after one `ASKING` (which holds until
/// `EXEC`), its `MULTI` and `EXEC` written out; other pipelines with `ASKING` before each
/// command (it holds for the next command only).
fn asking_first(pipeline: &Pipeline) -> Pipeline {
    let mut asking = redis::pipe();
    if pipeline.is_transaction() {
        asking.cmd("ASKING").cmd("MULTI");
        for cmd in pipeline.cmd_iter() {
            asking.add_command(cmd.clone());
        }
        asking.cmd("EXEC");
    } else {
        for cmd in pipeline.cmd_iter() {
            asking.cmd("ASKING").add_command(cmd.clone());
        }
    }
    asking
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::server_error;

    #[test]
    fn an_ask_names_its_node_and_a_move_waits_for_the_slot_map() {
        assert_eq!(
            next(&server_error("ASK 3999 10.0.0.2:7000")),
            Next::Ask {
                host: "10.0.0.2".into(),
                port: 7000
            }
        );
        assert_eq!(
            next(&server_error("MOVED 3999 127.0.0.1:6381")),
            Next::Later
        );
    }

    #[test]
    fn refusals_are_sent_again_and_unknown_outcomes_are_not() {
        for refusal in [
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "LOADING Redis is loading the dataset in memory",
            "READONLY You can't write against a read only replica.",
        ] {
            assert_eq!(next(&server_error(refusal)), Next::Later, "{refusal}");
        }
        let refused: RedisError =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
        assert_eq!(next(&refused), Next::Later);
        for unknown in [
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            let e: RedisError = std::io::Error::new(unknown, "cut").into();
            assert_eq!(next(&e), Next::Stop, "{unknown:?}");
        }
        assert_eq!(
            next(&server_error("ERR wrong number of arguments")),
            Next::Stop
        );
        assert_eq!(next(&server_error("OOM command not allowed")), Next::Stop);
    }

    #[test]
    fn pauses_double_up_to_the_longest() {
        assert_eq!(pause(0), FIRST_PAUSE);
        assert_eq!(pause(1), FIRST_PAUSE * 2);
        assert_eq!(pause(RESENDS), LONGEST_PAUSE);
        let total: Duration = (0..RESENDS).map(pause).sum();
        assert!(total < Duration::from_secs(4), "{total:?}");
    }

    #[test]
    fn asking_goes_before_a_transaction() {
        let mut tx = redis::pipe();
        tx.atomic().cmd("SET").arg("k").arg(1).cmd("GET").arg("k");
        let asking = asking_first(&tx);
        let mut expected = redis::pipe();
        expected
            .cmd("ASKING")
            .cmd("MULTI")
            .cmd("SET")
            .arg("k")
            .arg(1)
            .cmd("GET")
            .arg("k")
            .cmd("EXEC");
        assert_eq!(asking.get_packed_pipeline(), expected.get_packed_pipeline());
        assert!(!asking.is_transaction());

        let mut plain = redis::pipe();
        plain.cmd("GET").arg("a").cmd("GET").arg("b");
        let mut expected = redis::pipe();
        expected
            .cmd("ASKING")
            .cmd("GET")
            .arg("a")
            .cmd("ASKING")
            .cmd("GET")
            .arg("b");
        assert_eq!(
            asking_first(&plain).get_packed_pipeline(),
            expected.get_packed_pipeline()
        );
    }

    #[test]
    fn a_transaction_refused_for_redirects_follows_them() {
        let queued = |texts: &[&str]| -> Vec<ServerError> {
            texts
                .iter()
                .map(|t| ServerError::try_from(server_error(t)).unwrap())
                .collect()
        };
        let moved = queued(&["MOVED 5 10.0.0.2:7000", "MOVED 5 10.0.0.4:7000"]);
        assert_eq!(transaction_next(moved.iter()), Next::Later);
        let asked = queued(&["ASK 5 10.0.0.3:7001", "ASK 5 10.0.0.3:7001"]);
        assert_eq!(
            transaction_next(asked.iter()),
            Next::Ask {
                host: "10.0.0.3".into(),
                port: 7001
            }
        );
        for mixed in [
            queued(&["MOVED 5 10.0.0.2:7000", "ASK 5 10.0.0.2:7000"]),
            queued(&["ASK 5 10.0.0.2:7000", "ASK 5 10.0.0.4:7000"]),
            queued(&["MOVED 5 10.0.0.2:7000", "ERR unknown command"]),
            queued(&["OOM command not allowed"]),
            Vec::new(),
        ] {
            assert_eq!(transaction_next(mixed.iter()), Next::Stop, "{mixed:?}");
        }
    }
}
