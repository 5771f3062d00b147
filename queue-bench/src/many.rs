//! The many-handlers phase (Redis): one worker process running 200 handlers that get a job now
//! and then. Measures the connections the worker holds to Redis, the commands it sends while
//! every lane is idle, and the pickup latency (dispatch to start) of jobs a pause apart, each
//! for the next handler, against the same trickle all for one handler in the same worker (the
//! two in alternating blocks).

use std::sync::Mutex;
use std::time::Duration;

use std::sync::Arc;

use queue_core::{Keep, Queue};
use queue_redis::RedisDriver;

use crate::jobs::{now_ns, BackgroundWorker, PINGED};
use crate::measurements::ManyHandlersRun;
use crate::phases::IDLE_GAP;
use crate::probe::{self, Percentiles};

/// How long the idle window lasts.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
/// How long the server must see no command but the phase's own before the idle window starts.
const SETTLE: Duration = Duration::from_millis(200);
/// Jobs of each pickup-latency part: each for the next handler in turn, and all for one.
const TRICKLE: usize = 400;
/// Jobs of one block of a part; the parts' blocks alternate.
const BLOCK: usize = 50;

/// Dispatch-to-start latencies recorded by the handlers.
static LATENCIES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// The handlers, dispatched by name (their generated dispatch functions go unused).
#[allow(dead_code)]
mod handlers {
    use super::record;
    use queue_core::{job, JobError};

    macro_rules! handlers {
        ($($name:ident)*) => {
            $(
                /// One of the many handlers: records how long after its dispatch it started.
                #[job(queue = "bench-many", attempts = 1)]
                pub(crate) async fn $name(sent_ns: u64) -> Result<(), JobError> {
                    record(sent_ns);
                    Ok(())
                }
            )*
            /// Every handler's name.
            pub(crate) const NAMES: &[&str] = &[$(stringify!($name)),*];
        };
    }

    handlers!(
        m000 m001 m002 m003 m004 m005 m006 m007 m008 m009 m010 m011 m012 m013 m014 m015 m016 m017 m018 m019
        m020 m021 m022 m023 m024 m025 m026 m027 m028 m029 m030 m031 m032 m033 m034 m035 m036 m037 m038 m039
        m040 m041 m042 m043 m044 m045 m046 m047 m048 m049 m050 m051 m052 m053 m054 m055 m056 m057 m058 m059
        m060 m061 m062 m063 m064 m065 m066 m067 m068 m069 m070 m071 m072 m073 m074 m075 m076 m077 m078 m079
        m080 m081 m082 m083 m084 m085 m086 m087 m088 m089 m090 m091 m092 m093 m094 m095 m096 m097 m098 m099
        m100 m101 m102 m103 m104 m105 m106 m107 m108 m109 m110 m111 m112 m113 m114 m115 m116 m117 m118 m119
        m120 m121 m122 m123 m124 m125 m126 m127 m128 m129 m130 m131 m132 m133 m134 m135 m136 m137 m138 m139
        m140 m141 m142 m143 m144 m145 m146 m147 m148 m149 m150 m151 m152 m153 m154 m155 m156 m157 m158 m159
        m160 m161 m162 m163 m164 m165 m166 m167 m168 m169 m170 m171 m172 m173 m174 m175 m176 m177 m178 m179
        m180 m181 m182 m183 m184 m185 m186 m187 m188 m189 m190 m191 m192 m193 m194 m195 m196 m197 m198 m199
    );
}

use handlers::NAMES;

fn record(sent_ns: u64) {
    let late = now_ns().saturating_sub(sent_ns);
    LATENCIES.lock().unwrap().push(Duration::from_nanos(late));
    PINGED.notify_one();
}

/// Runs the phase with a driver of its own connected to `url` (so that its connections can be
/// counted), reading the server through `client`.
pub(crate) async fn measure(url: &str, client: &redis::Client) -> ManyHandlersRun {
    let mut raw = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let before = clients(&mut raw).await;
    let driver = RedisDriver::connect(url).await.expect("connect to Redis");
    let queue = &Queue::new(Arc::new(driver));
    let worker = BackgroundWorker::start(queue, NAMES, Keep::default());
    // Every pool reaches its first wait: one client blocked on all their lanes, and the
    // server sees nothing but this loop's own INFO calls for a settle period (the first
    // blocked wait comes while other pools still make their first reserves).
    while blocked(&mut raw).await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let commands = |info: &str| probe::commands_total(info);
    let mut at_start = commands(
        &probe::info(&mut raw, "commandstats")
            .await
            .unwrap_or_default(),
    );
    // A worker that never goes quiet shows in the idle figure: settle for 10 s at most.
    let settling = std::time::Instant::now();
    while settling.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(SETTLE).await;
        let now = commands(
            &probe::info(&mut raw, "commandstats")
                .await
                .unwrap_or_default(),
        );
        let quiet = now.saturating_sub(at_start) <= 1;
        at_start = now;
        if quiet {
            break;
        }
    }
    let connections = clients(&mut raw).await.saturating_sub(before);
    // CLIENT LIST is counted in the window too.
    at_start += 1;
    tokio::time::sleep(IDLE_WINDOW).await;
    let at_end = commands(
        &probe::info(&mut raw, "commandstats")
            .await
            .unwrap_or_default(),
    );
    // The two INFO calls themselves are counted in the window; take them off.
    let idle = at_end.saturating_sub(at_start).saturating_sub(1);

    // Each job a pause after the last one started, so the pool that ran it is back waiting,
    // from a task of the runtime, as an application's dispatches come. Blocks of jobs each to
    // the next handler alternate with blocks all to one handler, so the machine's drift over
    // the phase falls on both alike.
    let trickle = queue.clone();
    let (latency, one_handler) = tokio::spawn(async move {
        let (mut each_next, mut one) = (Vec::new(), Vec::new());
        let mut next = 0;
        for _ in 0..TRICKLE / BLOCK {
            for to_one in [false, true] {
                for _ in 0..BLOCK {
                    let name = if to_one {
                        NAMES[0]
                    } else {
                        next += 1;
                        NAMES[next % NAMES.len()]
                    };
                    tokio::time::sleep(IDLE_GAP).await;
                    let pinged = PINGED.notified();
                    trickle
                        .dispatch_named(name, now_ns())
                        .await
                        .expect("dispatch");
                    pinged.await;
                }
                let block = std::mem::take(&mut *LATENCIES.lock().unwrap());
                if to_one { &mut one } else { &mut each_next }.extend(block);
            }
        }
        (Percentiles::of(each_next), Percentiles::of(one))
    })
    .await
    .expect("pickup task panicked");
    worker.stop().await;
    ManyHandlersRun {
        handlers: NAMES.len() as u64,
        connections: connections as u64,
        idle_commands_per_s: idle as f64 / IDLE_WINDOW.as_secs_f64(),
        pickups: TRICKLE as u64,
        pickup_latency: latency,
        one_handler_pickup_latency: one_handler,
    }
}

/// Clients blocked in a command now.
async fn blocked(raw: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info = probe::info(raw, "clients").await.unwrap_or_default();
    probe::info_field(&info, "blocked_clients").unwrap_or(0.0) as u64
}

/// Clients connected to the server, besides the one asking.
async fn clients(raw: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(raw)
        .await
        .expect("CLIENT LIST");
    list.lines().count().saturating_sub(1)
}
