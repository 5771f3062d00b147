//! Idle lanes share one blocking connection: a worker running many handlers holds a fixed
//! number of connections to Redis however many lanes it waits on, and a job dispatched to any
//! of them wakes its pool.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::{job, JobError, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

/// Which handlers ran, by name.
static RAN: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

macro_rules! handlers {
    ($($name:ident)*) => {
        $(
            #[job(queue = "hub")]
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
    h00 h01 h02 h03 h04 h05 h06 h07 h08 h09 h10 h11 h12 h13 h14 h15 h16 h17 h18 h19
    h20 h21 h22 h23 h24 h25 h26 h27 h28 h29 h30 h31 h32 h33 h34 h35 h36 h37 h38 h39
);

/// Clients connected to the server now, other than the one asking.
async fn clients(raw: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(raw)
        .await
        .unwrap();
    list.lines().count() - 1
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

    // Every pool idles: one client is blocked, on every lane's wake key at once.
    eventually("one blocked client", || async {
        blocked(&mut raw.clone()).await == 1
    })
    .await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw)
        .await
        .unwrap();
    let worker_clients = clients(&mut raw).await - before;
    assert!(
        worker_clients <= 3,
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
    eventually("the pools idle again on one connection", || async {
        blocked(&mut raw.clone()).await == 1
    })
    .await;
    assert!(clients(&mut raw).await - before <= 3);

    stop.cancel();
    handle.await.unwrap().unwrap();
}
