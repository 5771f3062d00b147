//! One blocking connection for many idle lanes of a driver: a single `BLPOP` on the wake keys of
//! the lanes waiting through it now, served by a task of its own (not on a cluster, whose keys of
//! different slots cannot share a command; there each wait has its own connection, see
//! [`crate::wait`]). A process spreads its lanes over a few of these ([`crate::wait_hubs`]).
//!
//! A wait registers its lane's wake key and sleeps until the task hands it a wake-up, or until
//! its own timer (the lane's next due time) ends it; no server round trip ends a wait early, so
//! due times are as precise as Tokio's timer. When a wait starts on a key the `BLPOP` in flight
//! does not name, the task lifts that block with `CLIENT UNBLOCK` and blocks again on the new
//! set of keys. The `BLPOP` names only keys some wait is on, so it never takes a wake-up that a
//! blocked worker of another process could use; one it pops for a key whose wait ended meanwhile
//! (by its timer) goes back into Redis at once (pushed only if the list is empty, as a dispatch
//! does), for whichever worker blocks on it next. Once every [`RECHECK_EVERY`] server timeouts
//! (a minute by default), whatever ended the blocks meanwhile, one script (`lua/lanes_due.lua`)
//! looks at every idle lane at once, and the waits of the lanes it finds work in (a ready job, a
//! delayed job due, a lease ended, a waiting keyed job) end, so their pools reserve: a wake-up
//! lost with a process that died holding it holds nobody up for longer than that. The script
//! is bounded by the response timeout; should it fail or not answer, the connection is dropped
//! and every wait ends, as when a block fails. A hub's idle lanes send one `BLPOP` per server
//! timeout between them and one script call per minute, whatever their number; a hub nobody
//! has waited through for [`CLOSE_IDLE_AFTER`] closes its connection.
//!
//! The blocking connection is bounded like every other: no answer within the server timeout plus
//! the response timeout (a silent cut) drops it, and every wait then ends; a connection that
//! fails ends every wait the same way, and the task connects again after a pause (logged as a
//! warning from the third failure in a row). The task is started by the first wait and again by
//! a later one if it ended (its runtime was shut down).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{RedisResult, Script, Value};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::wait::Waiter;
use crate::Inner;

/// Server timeouts of the `BLPOP` after which the idle lanes are looked at (a minute by
/// default), whatever ended the blocks meanwhile.
const RECHECK_EVERY: u32 = 6;

/// How long the blocking connection stays open with no lane waiting through it.
const CLOSE_IDLE_AFTER: Duration = Duration::from_secs(60);

/// `CLIENT UNBLOCK` answers of 0 in a row (the `BLPOP` not yet at the server) after which the
/// blocking connection is replaced rather than asked again.
const UNBLOCK_TRIES: u32 = 20;

/// Puts a wake-up back in a lane's wake list, unless one is pending already (as `wake` in
/// `lua/lib.lua` does).
const PUSH_BACK: &str =
    "if redis.call('LLEN', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[1], '1') end return 0";

/// Which idle lanes have work due (see the module's front page).
static LANES_DUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../lua/lanes_due.lua")));

/// The keys `lua/lanes_due.lua` reads of one lane: ready, prio, sched, leases, kjobs.
pub(crate) type DueCheck = [String; 5];

/// Waits sharing one blocking connection.
pub(crate) struct WaitHub {
    shared: Arc<Shared>,
    /// Stops the task when the driver is dropped.
    _stop: DropGuard,
    token: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for WaitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitHub")
            .field("waiting", &self.shared.state.lock().waiting.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Told when a wait starts on a key the `BLPOP` in flight does not name.
    changed: Notify,
}

/// The waits on one wake key, in the order they started (a number and where to send a
/// wake-up), and the keys that tell whether their lane has work due.
struct Waits {
    due_check: DueCheck,
    waits: Vec<(u64, oneshot::Sender<()>)>,
}

#[derive(Default)]
struct State {
    /// Per wake key, its waits.
    waiting: HashMap<String, Waits>,
    /// The keys of the `BLPOP` in flight, if one is.
    blocking: Option<HashSet<String>>,
    next: u64,
}

impl State {
    /// The keys to block on: those waited on.
    fn keys(&self) -> Vec<String> {
        self.waiting.keys().cloned().collect()
    }

    /// Whether a wait is on a key the `BLPOP` in flight does not name.
    fn outgrown(&self) -> bool {
        match &self.blocking {
            Some(keys) => self.waiting.keys().any(|k| !keys.contains(k)),
            None => false,
        }
    }

    /// Hands `key`'s wake-up to its oldest wait still listening; false when none is.
    fn deliver(&mut self, key: &str) -> bool {
        let Some(lane) = self.waiting.get_mut(key) else {
            return false;
        };
        let mut delivered = false;
        while !lane.waits.is_empty() && !delivered {
            let (_, tx) = lane.waits.remove(0);
            delivered = tx.send(()).is_ok();
        }
        if lane.waits.is_empty() {
            self.waiting.remove(key);
        }
        delivered
    }

    /// Ends every wait on `key` (its pools look at their lane again).
    fn end(&mut self, key: &str) {
        if let Some(lane) = self.waiting.remove(key) {
            for (_, tx) in lane.waits {
                let _ = tx.send(());
            }
        }
    }

    /// Ends every wait (each pool looks at its lane again).
    fn end_all(&mut self) {
        for (_, lane) in self.waiting.drain() {
            for (_, tx) in lane.waits {
                let _ = tx.send(());
            }
        }
    }

    /// The wake keys waited on now, each with the keys that tell whether its lane has work.
    fn due_checks(&self) -> Vec<(String, DueCheck)> {
        self.waiting
            .iter()
            .map(|(key, lane)| (key.clone(), lane.due_check.clone()))
            .collect()
    }
}

/// Takes a wait off its key when it ends without a wake-up (its timer, or its future dropped).
struct Registered<'a> {
    shared: &'a Shared,
    key: &'a str,
    number: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        if let Some(lane) = state.waiting.get_mut(self.key) {
            lane.waits.retain(|(n, _)| *n != self.number);
            if lane.waits.is_empty() {
                state.waiting.remove(self.key);
            }
        }
    }
}

impl WaitHub {
    pub(crate) fn new() -> Self {
        let token = CancellationToken::new();
        Self {
            shared: Arc::default(),
            _stop: token.clone().drop_guard(),
            token,
            task: Mutex::new(None),
        }
    }

    /// Starts the task unless it runs.
    fn ensure_task(&self, inner: &Arc<Inner>) {
        let mut task = self.task.lock();
        if task.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        *task = Some(tokio::spawn(serve(
            self.shared.clone(),
            Arc::downgrade(inner),
            self.token.clone(),
        )));
    }

    /// Waits until `wake_key` yields a wake-up, `timeout` passes, the lane is found to have
    /// work by the keys of `due_check` (see [`RECHECK_EVERY`]), or the blocking connection
    /// fails; `inner` is the driver's.
    pub(crate) async fn wait(
        &self,
        wake_key: &str,
        due_check: DueCheck,
        timeout: Option<Duration>,
        inner: &Arc<Inner>,
    ) {
        if timeout.is_some_and(|t| t < Duration::from_millis(1)) {
            return;
        }
        self.ensure_task(inner);
        let (tx, rx) = oneshot::channel();
        let (number, outgrown) = {
            let mut state = self.shared.state.lock();
            let number = state.next;
            state.next += 1;
            state
                .waiting
                .entry(wake_key.to_string())
                .or_insert_with(|| Waits {
                    due_check,
                    waits: Vec::new(),
                })
                .waits
                .push((number, tx));
            let named = state
                .blocking
                .as_ref()
                .is_some_and(|k| k.contains(wake_key));
            (number, !named)
        };
        let _registered = Registered {
            shared: &self.shared,
            key: wake_key,
            number,
        };
        if outgrown {
            self.shared.changed.notify_one();
        }
        match timeout {
            Some(t) => drop(tokio::time::timeout(t, rx).await),
            None => drop(rx.await),
        }
    }
}

/// The task: blocks on the keys waited on, hands out wake-ups, reblocks when the keys change.
async fn serve(shared: Arc<Shared>, inner: Weak<Inner>, stop: CancellationToken) {
    let mut conn: Option<Waiter> = None;
    let mut failures = 0u32;
    let mut checked = Instant::now();
    loop {
        let keys: Vec<String> = {
            let mut state = shared.state.lock();
            let keys = state.keys();
            state.blocking = (!keys.is_empty()).then(|| keys.iter().cloned().collect());
            keys
        };
        if keys.is_empty() {
            // Nobody waits: the connection goes once nobody has for a while.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.changed.notified() => {}
                _ = tokio::time::sleep(CLOSE_IDLE_AFTER), if conn.is_some() => conn = None,
            }
            continue;
        }
        let Some(driver) = inner.upgrade() else {
            return;
        };
        let (block, margin) = (driver.waiters.max_block(), driver.waiters.margin());
        let waiter = match conn.take() {
            Some(waiter) => waiter,
            None => match driver.waiters.connect(None, &driver.conn).await {
                Ok(waiter) => waiter,
                Err(error) => {
                    driver.conn.blocking_failed(&error, None, None).await;
                    drop(driver);
                    failures += 1;
                    if !failed(&shared, &stop, failures, &error).await {
                        return;
                    }
                    continue;
                }
            },
        };
        drop(driver);
        let error = match block_once(&shared, &inner, &stop, &waiter, &keys, block, margin).await {
            Blocked::Stopped => return,
            Blocked::Woke(key) => {
                let delivered = shared.state.lock().deliver(&key);
                if delivered {
                    None
                } else {
                    // Bounded as every other step: a connection cut silently right after the
                    // pop would otherwise hold up every lane of this hub.
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        pushed = tokio::time::timeout(margin, push_back(&waiter, &key)) => match pushed {
                            Ok(pushed) => pushed.err(),
                            Err(_) => Some(crate::wait::timed_out()),
                        },
                    }
                }
            }
            Blocked::Lifted | Blocked::TimedOut => None,
            Blocked::Failed(error) => Some(error),
        };
        // Whatever ended the block (a busy lane on this connection lifts it often), the idle
        // lanes are looked at once every RECHECK_EVERY server timeouts.
        let error = match error {
            None if checked.elapsed() >= block * RECHECK_EVERY => {
                checked = Instant::now();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    looked = tokio::time::timeout(margin, end_due(&shared, &waiter)) => match looked {
                        Ok(looked) => looked.err(),
                        Err(_) => Some(crate::wait::timed_out()),
                    },
                }
            }
            error => error,
        };
        match error {
            None => {
                failures = 0;
                conn = Some(waiter);
            }
            Some(error) => {
                // The connection is dropped and every wait ends (its lanes are looked at
                // again), then a pause before the next connection.
                if let Some(driver) = inner.upgrade() {
                    driver.conn.blocking_failed(&error, None, None).await;
                }
                failures += 1;
                if !failed(&shared, &stop, failures, &error).await {
                    return;
                }
            }
        }
    }
}

/// Ends the waits of the lanes that have work due, found by one `lua/lanes_due.lua` call
/// through `waiter` (idle between its blocks).
async fn end_due(shared: &Shared, waiter: &Waiter) -> RedisResult<()> {
    let lanes = shared.state.lock().due_checks();
    if lanes.is_empty() {
        return Ok(());
    }
    let mut call = LANES_DUE.prepare_invoke();
    for (_, keys) in &lanes {
        call.key(keys.as_slice());
    }
    let mut conn = waiter.conn.clone();
    let due: Vec<usize> = call.invoke_async(&mut conn).await?;
    let mut state = shared.state.lock();
    for number in due {
        if let Some((key, _)) = number.checked_sub(1).and_then(|i| lanes.get(i)) {
            state.end(key);
        }
    }
    Ok(())
}

/// Puts a wake-up popped for `key`, whose wait had ended, back into Redis.
async fn push_back(waiter: &Waiter, key: &str) -> RedisResult<()> {
    let mut conn = waiter.conn.clone();
    redis::cmd("EVAL")
        .arg(PUSH_BACK)
        .arg(1)
        .arg(key)
        .query_async::<i64>(&mut conn)
        .await
        .map(drop)
}

/// How one `BLPOP` ended.
enum Blocked {
    /// The driver was dropped.
    Stopped,
    /// A wake-up of this key.
    Woke(String),
    /// The block was lifted to change the keys.
    Lifted,
    /// The server timeout passed with nothing popped.
    TimedOut,
    /// The connection failed or did not answer in time; it is dropped.
    Failed(redis::RedisError),
}

/// One `BLPOP` on `keys` through `waiter`, lifted when a wait starts on another key.
async fn block_once(
    shared: &Shared,
    inner: &Weak<Inner>,
    stop: &CancellationToken,
    waiter: &Waiter,
    keys: &[String],
    block: Duration,
    margin: Duration,
) -> Blocked {
    let mut blpop = redis::cmd("BLPOP");
    for key in keys {
        blpop.arg(key);
    }
    blpop.arg(block.as_secs_f64());
    let mut conn = waiter.conn.clone();
    let blocked = blpop.query_async::<Value>(&mut conn);
    tokio::pin!(blocked);
    let bound = tokio::time::sleep(block + margin);
    tokio::pin!(bound);
    let mut lifted = false;
    let mut unanswered = 0u32;
    let reply: RedisResult<Value> = loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Blocked::Stopped,
            reply = &mut blocked => break reply,
            _ = &mut bound => return Blocked::Failed(crate::wait::timed_out()),
            _ = shared.changed.notified() => {
                if !shared.state.lock().outgrown() {
                    continue;
                }
                let Some(driver) = inner.upgrade() else {
                    return Blocked::Stopped;
                };
                match driver.conn.unblock(waiter.id, None).await {
                    // Lifted: the reply is on its way.
                    Ok(1) => {
                        lifted = true;
                        match tokio::time::timeout(margin, &mut blocked).await {
                            Ok(reply) => break reply,
                            Err(_) => return Blocked::Failed(crate::wait::timed_out()),
                        }
                    }
                    // The BLPOP has not reached the server yet: ask again shortly, then give
                    // the connection up (behind Sentinel the command connection may already be
                    // on another server, where the id means nothing).
                    Ok(_) => {
                        drop(driver);
                        unanswered += 1;
                        if unanswered >= UNBLOCK_TRIES {
                            return Blocked::Failed(crate::wait::timed_out());
                        }
                        // Not asleep meanwhile: a wake-up the BLPOP pops in this
                        // millisecond is handed on at once.
                        tokio::select! {
                            biased;
                            reply = &mut blocked => break reply,
                            _ = tokio::time::sleep(Duration::from_millis(1)) => {
                                shared.changed.notify_one();
                            }
                        }
                    }
                    Err(error) => return Blocked::Failed(error),
                }
            }
        }
    };
    match reply {
        Ok(Value::Array(mut popped)) if popped.len() == 2 => match popped.swap_remove(0) {
            Value::BulkString(key) => Blocked::Woke(String::from_utf8_lossy(&key).into_owned()),
            Value::SimpleString(key) => Blocked::Woke(key),
            _ => Blocked::Lifted,
        },
        Ok(_) if lifted => Blocked::Lifted,
        Ok(_) => Blocked::TimedOut,
        Err(error) => Blocked::Failed(error),
    }
}

/// After a failure of the blocking connection: ends every wait, then pauses before the next
/// try. False when the driver was dropped meanwhile.
async fn failed(
    shared: &Shared,
    stop: &CancellationToken,
    failures: u32,
    error: &redis::RedisError,
) -> bool {
    shared.state.lock().end_all();
    let pause = Duration::from_millis(50u64 << failures.min(7)).min(Duration::from_secs(5));
    if failures >= 3 {
        tracing::warn!(%error, failures, retry_in = ?pause, "the blocking connection for idle lanes keeps failing");
    } else {
        tracing::debug!(%error, retry_in = ?pause, "blocking connection for idle lanes failed");
    }
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(pause) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits on a key, with no keys to check.
    fn waits(waits: Vec<(u64, oneshot::Sender<()>)>) -> Waits {
        Waits {
            due_check: Default::default(),
            waits,
        }
    }

    #[test]
    fn a_wake_up_nobody_waits_for_is_not_taken() {
        let mut state = State::default();
        assert!(!state.deliver("k"), "it goes back to Redis");
        let (gone, _) = oneshot::channel();
        state.waiting.insert("k".into(), waits(vec![(0, gone)]));
        assert!(
            !state.deliver("k"),
            "a wait whose receiver is gone takes nothing"
        );
        assert!(state.waiting.is_empty());
    }

    #[test]
    fn a_wake_up_goes_to_the_oldest_wait_still_listening() {
        let mut state = State::default();
        let (gone, _) = oneshot::channel();
        let (old, mut old_rx) = oneshot::channel();
        let (young, mut young_rx) = oneshot::channel();
        state
            .waiting
            .insert("k".into(), waits(vec![(0, gone), (1, old), (2, young)]));
        assert!(state.deliver("k"));
        assert!(
            old_rx.try_recv().is_ok(),
            "the oldest listening wait is woken"
        );
        assert!(young_rx.try_recv().is_err());
        assert_eq!(state.waiting["k"].waits.len(), 1);
        assert_eq!(state.keys(), ["k"], "the young wait still blocks on it");
    }

    #[test]
    fn a_wait_on_a_key_the_block_does_not_name_outgrows_it() {
        let mut state = State::default();
        let (tx, _rx) = oneshot::channel();
        state.waiting.insert("a".into(), waits(vec![(0, tx)]));
        assert!(!state.outgrown(), "nothing in flight");
        state.blocking = Some(HashSet::from(["a".to_string()]));
        assert!(!state.outgrown());
        let (tx, _rx) = oneshot::channel();
        state.waiting.insert("b".into(), waits(vec![(1, tx)]));
        assert!(state.outgrown());
    }

    #[test]
    fn ending_every_wait_wakes_them_all() {
        let mut state = State::default();
        let (a, mut a_rx) = oneshot::channel();
        let (b, mut b_rx) = oneshot::channel();
        state.waiting.insert("a".into(), waits(vec![(0, a)]));
        state.waiting.insert("b".into(), waits(vec![(1, b)]));
        state.end_all();
        assert!(a_rx.try_recv().is_ok() && b_rx.try_recv().is_ok());
        assert!(state.keys().is_empty());
    }
}
