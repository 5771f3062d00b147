//! Idle lanes share one blocking connection: a worker running many handlers holds a fixed
//! number of connections to Redis however many lanes it waits on, and a job dispatched to any
//! of them wakes its pool. Once in a while one script call looks at every idle lane: a job
//! whose wake-up was taken by someone else (a process that died holding it) still runs, and
//! lanes with nothing to do are not asked to reserve.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::{job, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Which handlers of queue `hub` ran, by name.
static RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
/// Which handlers of queue `idle` ran, by name.
static IDLE_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
/// Which handlers of queue `busy` ran, by name.
static BUSY_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
/// Which handlers of queue `broken` ran, by name.
static BROKEN_RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Handlers of queue `$queue` that record their runs in `$ran`; `$names` lists them.
macro_rules! handlers {
    ($queue:literal, $ran:ident, $names:ident: $($name:ident)*) => {
        $(
            #[job(queue = $queue)]
            async fn $name(_n: u32) -> Result<(), JobError> {
                $ran.lock().unwrap().push(stringify!($name));
                Ok(())
            }
        )*
        /// Every handler's name.
        const $names: &[&str] = &[$(stringify!($name)),*];
    };
}

handlers!("hub", RAN, NAMES:
    h00 h01 h02 h03 h04 h05 h06 h07 h08 h09 h10 h11 h12 h13 h14 h15 h16 h17 h18 h19
    h20 h21 h22 h23 h24 h25 h26 h27 h28 h29 h30 h31 h32 h33 h34 h35 h36 h37 h38 h39
);
handlers!("idle", IDLE_RAN, IDLE_NAMES:
    i00 i01 i02 i03 i04 i05 i06 i07 i08 i09 i10 i11 i12 i13 i14 i15 i16 i17 i18 i19
);
// As many as share one blocking connection.
handlers!("busy", BUSY_RAN, BUSY_NAMES:
    b00 b01 b02 b03 b04 b05 b06 b07 b08 b09 b10 b11 b12 b13 b14 b15
);

handlers!("broken", BROKEN_RAN, BROKEN_NAMES:
    k00 k01 k02 k03 k04 k05 k06 k07 k08 k09 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19
);

/// Lanes that share a blocking connection before the next one opens (`src/wait_hubs.rs`).
const LANES_PER_CONNECTION: usize = 16;

/// The blocking connections of a worker whose `lanes` all wait.
fn blocking_connections(lanes: usize) -> u64 {
    lanes.div_ceil(LANES_PER_CONNECTION).min(8) as u64
}

/// Clients connected to the server now, other than the one asking.
async fn clients(raw: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(raw)
        .await
        .unwrap();
    list.lines().count() - 1
}

/// Calls of `command` the server has served so far.
async fn calls(raw: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(raw)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Clients blocked in a command now.
async fn blocked(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(raw)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} within 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_lanes_share_one_blocking_connection() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let before = clients(&mut raw).await;

    let queue = Queue::new(Arc::new(RedisDriver::connect(&server.url()).await.unwrap()));
    let stop = CancellationToken::new();
    let worker = queue.worker().handlers(NAMES.iter().copied());
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));

    // Every pool idles: a few clients are blocked, each on the wake keys of up to 16 lanes.
    let hubs = blocking_connections(NAMES.len());
    assert_eq!(hubs, 3);
    eventually("three blocked clients", || async {
        blocked(&mut raw.clone()).await == hubs
    })
    .await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw)
        .await
        .unwrap();
    let worker_clients = clients(&mut raw).await - before;
    assert!(
        worker_clients as u64 == 1 + hubs,
        "{} handlers hold {worker_clients} connections:\n{list}",
        NAMES.len()
    );

    // A job for each lane, one at a time: each wakes its own pool.
    let dispatcher = Queue::new(Arc::new(RedisDriver::connect(&server.url()).await.unwrap()));
    for (i, name) in NAMES.iter().enumerate() {
        dispatcher.dispatch_named(name, i as u32).await.unwrap();
        eventually(&format!("{name} runs"), || async {
            RAN.lock().unwrap().len() == i + 1
        })
        .await;
        assert_eq!(RAN.lock().unwrap()[i], *name);
    }
    // Then all at once.
    for (i, name) in NAMES.iter().enumerate() {
        dispatcher.dispatch_named(name, i as u32).await.unwrap();
    }
    eventually("every lane's second job runs", || async {
        RAN.lock().unwrap().len() == 2 * NAMES.len()
    })
    .await;
    let ran: HashSet<&str> = RAN.lock().unwrap().iter().copied().collect();
    assert_eq!(ran.len(), NAMES.len());
    eventually("the pools idle again on the same connections", || async {
        blocked(&mut raw.clone()).await == hubs
    })
    .await;
    let dispatcher_clients = 1;
    assert_eq!(
        (clients(&mut raw).await - before) as u64,
        1 + hubs + dispatcher_clients
    );

    stop.cancel();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_wake_up_is_found_by_the_recheck_and_idle_lanes_are_not_reserved() {
    lost_wake_up_is_found("idle", IDLE_NAMES, &IDLE_RAN, Meanwhile::Nothing).await;
}

/// One lane's key holding a value of another type makes that lane's check fail, not the
/// whole recheck: the other idle lanes are not woken (nor asked to reserve) at every recheck,
/// and are still looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_another_type_fails_only_its_own_lane_in_the_recheck() {
    lost_wake_up_is_found("broken", BROKEN_NAMES, &BROKEN_RAN, Meanwhile::BrokenKey).await;
}

/// A lane kept busy on the same blocking connection lifts its block again and again, so the
/// server timeout seldom passes: the recheck still comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_wake_up_is_found_while_a_busy_lane_keeps_lifting_the_block() {
    lost_wake_up_is_found("busy", BUSY_NAMES, &BUSY_RAN, Meanwhile::Busy).await;
}

/// What happens on the blocking connection while a wake-up is lost.
#[derive(Clone, Copy, PartialEq)]
enum Meanwhile {
    /// Nothing: the idle lanes' rechecks are counted.
    Nothing,
    /// A job for `names[3]` is dispatched every 20 ms.
    Busy,
    /// `names[5]`'s delayed-jobs key holds a string; the rechecks are counted (that lane's
    /// pool wakes and its reserves fail, the others stay idle).
    BrokenKey,
}

/// The wake-up of a job for `names[7]` (queue `queue`, runs recorded in `ran`) is taken by
/// another client; the worker's recheck finds the job, whatever happens `meanwhile`.
async fn lost_wake_up_is_found(
    queue_name: &str,
    names: &'static [&'static str],
    ran: &'static Mutex<Vec<&'static str>>,
    meanwhile: Meanwhile,
) {
    let busy = meanwhile == Meanwhile::Busy;
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let (victim, busy_lane) = (names[7], names[3]);
    let victim_key = format!("{{queue:{queue_name}}}:lane:{victim}:wake");

    // Someone else blocks on the victim's wake key first: the wake-up of the job dispatched
    // below is theirs, as if a process had taken it and died.
    let thief = tokio::task::spawn_blocking({
        let (client, key) = (client.clone(), victim_key.clone());
        move || {
            let mut conn = client.get_connection().unwrap();
            let popped: Option<(String, String)> = redis::cmd("BLPOP")
                .arg(key)
                .arg(60)
                .query(&mut conn)
                .unwrap();
            popped
        }
    });
    eventually("the thief blocks", || async {
        blocked(&mut raw.clone()).await == 1
    })
    .await;

    // Short server timeouts, so the recheck (every sixth) comes within a second.
    let mut options = RedisOptions::default();
    options.block_timeout = Duration::from_millis(100);
    let driver = RedisDriver::connect_with(&server.url(), options)
        .await
        .unwrap();
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = queue.worker().handlers(names.iter().copied());
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    eventually(
        "the worker's pools idle on their blocked connections",
        || async { blocked(&mut raw.clone()).await == 1 + blocking_connections(names.len()) },
    )
    .await;

    if meanwhile == Meanwhile::BrokenKey {
        let broken = format!("{{queue:{queue_name}}}:lane:{}:sched", names[5]);
        let _: () = redis::cmd("SET")
            .arg(&broken)
            .arg("not a sorted set")
            .query_async(&mut raw)
            .await
            .unwrap();
    }
    if meanwhile != Meanwhile::Busy {
        // Idle for a while: each recheck looks at a blocking connection's lanes with one
        // script call, where asking each lane to reserve would cost one call per lane.
        let scripts_before = calls(&mut raw, "evalsha").await + calls(&mut raw, "eval").await;
        let blocks_before = calls(&mut raw, "blpop").await;
        eventually("three rechecks' worth of server timeouts", || async {
            calls(&mut raw.clone(), "blpop").await >= blocks_before + 25
        })
        .await;
        let scripts =
            calls(&mut raw, "evalsha").await + calls(&mut raw, "eval").await - scripts_before;
        assert!(
            scripts < names.len() as u64,
            "{scripts} script calls in 25 server timeouts (two rechecks of each connection) of {} idle lanes",
            names.len()
        );
        assert!(ran.lock().unwrap().is_empty());
    }

    let dispatcher = Queue::new(Arc::new(RedisDriver::connect(&server.url()).await.unwrap()));
    let traffic = busy.then(|| {
        let dispatcher = dispatcher.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(20));
            loop {
                every.tick().await;
                dispatcher.dispatch_named(busy_lane, 3).await.unwrap();
            }
        })
    });
    dispatcher.dispatch_named(victim, 7).await.unwrap();
    let (key, _) = thief.await.unwrap().expect("the thief took the wake-up");
    assert_eq!(key, victim_key);
    eventually("the job whose wake-up was lost runs", || async {
        ran.lock().unwrap().contains(&victim)
    })
    .await;
    if let Some(traffic) = traffic {
        traffic.abort();
        assert!(
            ran.lock()
                .unwrap()
                .iter()
                .filter(|n| **n == busy_lane)
                .count()
                > 10,
            "the busy lane ran meanwhile"
        );
    } else {
        assert_eq!(*ran.lock().unwrap(), [victim]);
    }

    stop.cancel();
    handle.await.unwrap().unwrap();
}

/// A wake-up the shared blocking connection popped for a lane whose wait had just ended goes
/// back into Redis; should the connection be cut silently right then (the proxy stops
/// forwarding after that reply and never forwards on it again), putting it back gives up within
/// the response timeout like every other step, the connection is dropped, and the other lanes
/// sharing it are not left waiting: a lane waiting with no timeout is woken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_while_a_wake_up_goes_back_holds_up_no_lane() {
    use queue_core::{Driver, Lane};

    let server = RedisServer::start();
    let proxy = support::proxy::FaultProxy::start(server.port());
    let mut options = RedisOptions::default();
    options.response_timeout = Duration::from_secs(1);
    options.block_timeout = Duration::from_secs(2);
    let driver = Arc::new(
        RedisDriver::connect_with(&proxy.url(), options)
            .await
            .expect("connect"),
    );
    let (a, b) = (
        Lane::new("pushback", "a").unwrap(),
        Lane::new("pushback", "b").unwrap(),
    );
    let waiting = tokio::spawn({
        let (driver, b) = (driver.clone(), b.clone());
        async move { driver.wait(&b, None).await }
    });
    driver
        .wait(&a, Some(Duration::from_millis(300)))
        .await
        .expect("lane a's wait ends by its timer");
    // Lane a's wake-up, popped by the connection that still blocks on its key with no one
    // waiting: the proxy goes silent right after forwarding it.
    let wake_a = "{queue:pushback}:lane:a:wake";
    proxy.partition_after_reply_with(wake_a.as_bytes());
    let mut direct = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg(wake_a)
        .arg(1)
        .query_async(&mut direct)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections go through; the one cut stays silent for good.
    proxy.heal_dropping_open();
    let _: () = redis::cmd("RPUSH")
        .arg("{queue:pushback}:lane:b:wake")
        .arg(1)
        .query_async(&mut direct)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), waiting)
        .await
        .expect("lane b's wait ended")
        .unwrap()
        .expect("the wait itself never fails");
}
