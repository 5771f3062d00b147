//! Idle lanes are looked at again once in a while by one script call for all of them: a job
//! whose wake-up was taken by someone else (a process that died holding it) still runs, and
//! lanes with nothing to do are not asked to reserve.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::{job, JobError, Queue};
use queue_redis::{RedisDriver, RedisOptions};
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Which handlers ran, by name.
static RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

macro_rules! handlers {
    ($($name:ident)*) => {
        $(
            #[job(queue = "idle")]
            async fn $name(_n: u32) -> Result<(), JobError> {
                RAN.lock().unwrap().push(stringify!($name));
                Ok(())
            }
        )*
        /// Every handler's name.
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

handlers!(
    i00 i01 i02 i03 i04 i05 i06 i07 i08 i09 i10 i11 i12 i13 i14 i15 i16 i17 i18 i19
);

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
async fn a_lost_wake_up_is_found_by_the_recheck_and_idle_lanes_are_not_reserved() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();

    // Someone else blocks on i07's wake key first: the wake-up of the job dispatched below is
    // theirs, as if a process had taken it and died.
    let thief = tokio::task::spawn_blocking({
        let client = client.clone();
        move || {
            let mut conn = client.get_connection().unwrap();
            let popped: Option<(String, String)> = redis::cmd("BLPOP")
                .arg("{queue:idle}:lane:i07:wake")
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

    // Short server timeouts, so the recheck (every sixth empty one) comes within a second.
    let mut options = RedisOptions::default();
    options.block_timeout = Duration::from_millis(100);
    let driver = RedisDriver::connect_with(&server.url(), options)
        .await
        .unwrap();
    let queue = Queue::new(Arc::new(driver));
    let stop = CancellationToken::new();
    let worker = queue.worker().handlers(NAMES.iter().copied());
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    eventually(
        "the worker's pools idle on one blocked connection",
        || async { blocked(&mut raw.clone()).await == 2 },
    )
    .await;

    // Idle for a while: the rechecks look at all twenty lanes with one script call each time,
    // where asking each lane to reserve would cost twenty.
    let scripts_before = calls(&mut raw, "evalsha").await + calls(&mut raw, "eval").await;
    let blocks_before = calls(&mut raw, "blpop").await;
    eventually("three rechecks' worth of server timeouts", || async {
        calls(&mut raw.clone(), "blpop").await >= blocks_before + 19
    })
    .await;
    let scripts = calls(&mut raw, "evalsha").await + calls(&mut raw, "eval").await - scripts_before;
    assert!(
        scripts < NAMES.len() as u64,
        "{scripts} script calls in 19 server timeouts (three rechecks) of {} idle lanes",
        NAMES.len()
    );
    assert!(RAN.lock().unwrap().is_empty());

    let dispatcher = Queue::new(Arc::new(RedisDriver::connect(&server.url()).await.unwrap()));
    dispatcher.dispatch_named("i07", 7).await.unwrap();
    let (key, _) = thief.await.unwrap().expect("the thief took the wake-up");
    assert_eq!(key, "{queue:idle}:lane:i07:wake");
    eventually("the job whose wake-up was lost runs", || async {
        RAN.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(*RAN.lock().unwrap(), ["i07"]);

    stop.cancel();
    handle.await.unwrap().unwrap();
}
