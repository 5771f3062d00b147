//! Redis answering with errors that pass by themselves: `READONLY` after a failover, `BUSY`
//! while a script runs, a server stalled past the response timeout, `OOM` at `maxmemory`. No
//! job acknowledged to its dispatcher is lost, none runs twice at once, and the worker recovers.

#[path = "support/runs.rs"]
mod runs;
mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use queue_core::{Error, Queue};
use runs::{queue_with, quick_options, record, Work, Worker};
use support::proxy::FaultProxy;
use support::RedisServer;

/// A connection without a response timeout (a stalling command may take seconds).
async fn conn(url: &str) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap()
}

async fn info_field(url: &str, section: &str, field: &str) -> Option<String> {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut conn(url).await)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// How many times the server answered with error `code`, from INFO errorstats.
async fn error_count(url: &str, code: &str) -> u64 {
    info_field(url, "errorstats", &format!("errorstat_{code}"))
        .await
        .and_then(|v| v.strip_prefix("count=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Dispatches jobs `range` of `tag` one by one (each with a chosen id, so a retry after an
/// unknown outcome stores nothing twice), retrying retryable errors; returns the numbers whose
/// dispatch was acknowledged.
async fn dispatch_all(
    queue: Queue,
    tag: &'static str,
    range: std::ops::Range<u64>,
    acked: Arc<Mutex<Vec<u64>>>,
) {
    for n in range {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match record::dispatch(&queue, Work::new(tag, n, 5))
                .id(format!("{tag}-{n}"))
                .await
            {
                Ok(_) => break,
                Err(e) if e.is_retryable() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("dispatch of job {n} failed: {e}"),
            }
        }
        acked.lock().unwrap().push(n);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A failover behind a stable address: the old primary turns replica and answers `READONLY`
/// on the connections still open to it; the driver retries and reconnects to the new primary,
/// and every job whose dispatch was acknowledged runs, none twice at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_readonly_is_retried_and_nothing_acknowledged_is_lost() {
    let primary = RedisServer::start();
    let replica_of = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &replica_of]);
    runs::eventually("the replica syncs", Duration::from_secs(20), || async {
        info_field(&replica.url(), "replication", "master_link_status")
            .await
            .as_deref()
            == Some("up")
    })
    .await;
    let proxy = FaultProxy::start(primary.port());
    let queue = queue_with(&proxy.url(), quick_options()).await;
    let tag = "failover";
    let worker = Worker::start(&queue, Duration::from_secs(5));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let dispatcher = tokio::spawn(dispatch_all(queue.clone(), tag, 0..400, acked.clone()));
    runs::eventually(
        "jobs run before the failover",
        Duration::from_secs(20),
        || async { runs::ran(tag).len() >= 100 },
    )
    .await;

    // A manual failover: writes paused on the primary until the replica caught up, roles
    // swapped, the address moved to the new primary.
    let mut old = conn(&primary.url()).await;
    let mut new = conn(&replica.url()).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .query_async(&mut old)
        .await
        .unwrap();
    let offset: u64 = info_field(&primary.url(), "replication", "master_repl_offset")
        .await
        .unwrap()
        .parse()
        .unwrap();
    runs::eventually(
        "the replica catches up",
        Duration::from_secs(10),
        || async {
            let got = info_field(&replica.url(), "replication", "slave_repl_offset").await;
            got.and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|v| v >= offset)
        },
    )
    .await;
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut new)
        .await
        .unwrap();
    proxy.retarget(replica.port());
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(replica.port())
        .query_async(&mut old)
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut old)
        .await
        .unwrap();

    tokio::time::timeout(Duration::from_secs(60), dispatcher)
        .await
        .expect("every dispatch is acknowledged")
        .unwrap();
    let acked: HashSet<u64> = acked.lock().unwrap().iter().copied().collect();
    assert_eq!(acked.len(), 400);
    runs::wait_until_ran(tag, &acked, Duration::from_secs(30)).await;
    runs::assert_no_overlap(tag);
    assert!(
        error_count(&primary.url(), "READONLY").await > 0,
        "the old primary never answered READONLY: the failover was not exercised"
    );
    worker.stop().await;
}

/// A bulk dispatch whose calls go out together in one transaction, on a connection to a
/// primary that a failover demoted: each call is refused with `READONLY`, having stored
/// nothing, and the connection is replaced as after one refused call, so the dispatch sent
/// again reaches the new primary behind the same address and stores every job once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_dispatch_refused_by_a_demoted_primary_is_sent_again_to_the_new_one() {
    let primary = RedisServer::start();
    let replica_of = primary.port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &replica_of]);
    let synced = |url: String| async move {
        info_field(&url, "replication", "master_link_status")
            .await
            .as_deref()
            == Some("up")
    };
    runs::eventually("the replica syncs", Duration::from_secs(20), || {
        synced(replica.url())
    })
    .await;
    let proxy = FaultProxy::start(primary.port());
    let queue = queue_with(&proxy.url(), quick_options()).await;
    let tag = "bulk-readonly";
    // One dispatch first: the connection is open and the queue's name is noted, so the bulk
    // dispatch below sends nothing but its transaction.
    record::dispatch(&queue, Work::new(tag, 0, 0))
        .await
        .expect("a dispatch before the failover");

    // The replica takes over behind the proxy's address; the old primary follows it. The
    // connection open through the proxy still reaches the old primary.
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut conn(&replica.url()).await)
        .await
        .unwrap();
    proxy.retarget(replica.port());
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(replica.port())
        .query_async(&mut conn(&primary.url()).await)
        .await
        .unwrap();
    runs::eventually("the old primary follows", Duration::from_secs(20), || {
        synced(primary.url())
    })
    .await;

    let jobs = || (1..=3_000).map(|n| record::job(Work::new(tag, n, 0)));
    let readonly_before = error_count(&primary.url(), "READONLY").await;
    let refused = queue
        .dispatch_bulk(jobs())
        .await
        .expect_err("the demoted primary refuses the dispatch");
    assert!(refused.is_retryable(), "{refused}");
    assert!(
        !matches!(refused, Error::PartlyStored { .. }),
        "a refused call stores nothing: {refused}"
    );
    assert!(
        error_count(&primary.url(), "READONLY").await >= readonly_before + 3,
        "the calls of one transaction were each refused with READONLY"
    );
    let sent_again = queue
        .dispatch_bulk(jobs())
        .await
        .expect("the dispatch sent again reaches the new primary");
    assert_eq!(sent_again.len(), 3_000);
    assert!(sent_again.iter().all(|d| d.created));
    let counts = queue.counts("conn").await.unwrap();
    assert_eq!(
        counts.ready, 3_001,
        "every job stored once, the first one too"
    );
}

/// How the server is kept from answering for 3 s.
enum Stall {
    /// A script that runs 3 s: other clients get `BUSY` replies meanwhile.
    Script,
    /// `DEBUG SLEEP 3`: nothing answers, every command times out.
    Sleep,
}

async fn stall_while_running(stall: Stall, tag: &'static str) {
    let server = RedisServer::start_with(&[
        "--busy-reply-threshold",
        "100",
        "--enable-debug-command",
        "yes",
    ]);
    let queue = queue_with(&server.url(), quick_options()).await;
    let jobs: Vec<_> = (0..300)
        .map(|n| record::job(Work::new(tag, n, 10)))
        .collect();
    queue.dispatch_bulk(jobs).await.unwrap();
    let worker = Worker::start(&queue, Duration::from_secs(8));
    runs::eventually(
        "jobs run before the stall",
        Duration::from_secs(20),
        || async { runs::ran(tag).len() >= 30 },
    )
    .await;
    let mut staller = conn(&server.url()).await;
    match &stall {
        Stall::Script => {
            let script = "local function us() local t = redis.call('TIME') \
                          return t[1] * 1000000 + t[2] end \
                          local s = us() while us() - s < 3000000 do end return 1";
            let _: i64 = redis::cmd("EVAL")
                .arg(script)
                .arg(0)
                .query_async(&mut staller)
                .await
                .unwrap();
            assert!(
                error_count(&server.url(), "BUSY").await > 0,
                "no BUSY reply was sent"
            );
        }
        Stall::Sleep => {
            let _: () = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(3)
                .query_async(&mut staller)
                .await
                .unwrap();
        }
    }
    let all: HashSet<u64> = (0..300).collect();
    runs::wait_until_ran(tag, &all, Duration::from_secs(40)).await;
    runs::eventually("the queue drains", Duration::from_secs(30), || async {
        queue
            .counts("conn")
            .await
            .is_ok_and(|c| c.pending() == 0 && c.failed == 0)
    })
    .await;
    runs::assert_no_overlap(tag);
    if matches!(stall, Stall::Script) {
        // `BUSY` refuses a command without running it, so retrying it runs nothing twice: a
        // settlement dropped instead would have run its job again.
        let again: Vec<_> = runs::runs(tag)
            .into_iter()
            .filter(|(_, r)| r.len() > 1)
            .map(|(n, _)| n)
            .collect();
        assert!(again.is_empty(), "jobs ran again: {again:?}");
    }
    // The worker still takes new work.
    record::dispatch(&queue, Work::new(tag, 1000, 0))
        .await
        .unwrap();
    runs::wait_until_ran(tag, &HashSet::from([1000]), Duration::from_secs(10)).await;
    worker.stop().await;
}

/// A script running past the busy threshold while a worker runs jobs: the `BUSY` replies are
/// retried, nothing is lost, nothing runs twice at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_script_loses_no_job() {
    stall_while_running(Stall::Script, "busy-script").await;
}

/// The server stalled three times the response timeout: commands time out, connections are
/// replaced, and the worker carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_debug_sleep_loses_no_job() {
    stall_while_running(Stall::Sleep, "busy-sleep").await;
}

fn big(tag: &str, n: u64) -> Work {
    // ~4 KB of payload per job, so a few MB fill the server.
    Work {
        tag: format!("{tag}{}", " ".repeat(4000)),
        n,
        ms: 0,
    }
}

/// At `maxmemory`: dispatch fails with a retryable error naming the cause, and a worker still
/// drains and acknowledges what is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_dispatch_fails_clearly_and_workers_still_drain() {
    let server = RedisServer::start_with(&["--maxmemory", "4mb"]);
    let queue = queue_with(&server.url(), quick_options()).await;
    let tag = "oom-drain";
    let padded = big(tag, 0).tag;
    let mut stored = HashSet::new();
    let error = loop {
        let n = stored.len() as u64;
        match record::dispatch(&queue, big(tag, n)).await {
            Ok(_) => {
                stored.insert(n);
            }
            Err(e) => break e,
        }
        assert!(n < 10_000, "never ran out of memory");
    };
    assert!(error.is_retryable(), "{error}");
    assert!(
        error.to_string().contains("redis is out of memory"),
        "{error}"
    );
    assert!(!stored.is_empty());

    let worker = Worker::start(&queue, Duration::from_secs(10));
    runs::wait_until_ran(&padded, &stored, Duration::from_secs(30)).await;
    runs::eventually(
        "the acks free the queue",
        Duration::from_secs(20),
        || async { queue.counts("conn").await.is_ok_and(|c| c.pending() == 0) },
    )
    .await;
    // Memory is free again: dispatch works.
    let n = stored.len() as u64;
    record::dispatch(&queue, big(tag, n)).await.unwrap();
    runs::wait_until_ran(&padded, &HashSet::from([n]), Duration::from_secs(10)).await;
    worker.stop().await;
}

/// A primary with fewer replicas than `min-replicas-to-write` refuses writes with `NOREPLICAS`
/// until they are back: a dispatch meanwhile fails retryably, and the worker keeps retrying the
/// ack of a job that ended meanwhile instead of dropping it (which would run the job again once
/// its lease ran out), so the job runs once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_for_want_of_replicas_are_retried() {
    let server = RedisServer::start();
    let queue = queue_with(&server.url(), quick_options()).await;
    let tag = "noreplicas";
    record::dispatch(&queue, Work::new(tag, 0, 300))
        .await
        .unwrap();
    let worker = Worker::start(&queue, Duration::from_secs(2));
    runs::eventually("the job starts", Duration::from_secs(10), || async {
        queue.counts("conn").await.is_ok_and(|c| c.active == 1)
    })
    .await;
    let min_replicas = |n: u32| {
        let url = server.url();
        async move {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("min-replicas-to-write")
                .arg(n)
                .query_async(&mut conn(&url).await)
                .await
                .unwrap();
        }
    };
    min_replicas(1).await;
    let refused = record::dispatch(&queue, Work::new(tag, 1, 0))
        .await
        .expect_err("a dispatch without enough replicas is refused");
    assert!(refused.is_retryable(), "{refused}");
    runs::wait_until_ran(tag, &HashSet::from([0]), Duration::from_secs(10)).await;
    let refusals = error_count(&server.url(), "NOREPLICAS").await;
    runs::eventually(
        "the ack is refused again",
        Duration::from_secs(10),
        || async { error_count(&server.url(), "NOREPLICAS").await > refusals },
    )
    .await;
    min_replicas(0).await;
    runs::eventually("the ack lands", Duration::from_secs(10), || async {
        queue.counts("conn").await.is_ok_and(|c| c.pending() == 0)
    })
    .await;
    worker.stop().await;
    assert_eq!(runs::runs(tag)[&0].len(), 1, "the job ran once");
}

/// At `maxmemory` under `noeviction`, a worker still holds and settles the jobs it runs:
/// renewals keep their leases, failures are recorded (retried and failed for good), jobs are
/// requeued, show progress, are completed and kept, acked, and expired leases are reaped;
/// only dispatches are refused. Each of those scripts writes before anything that may grow
/// memory, which Redis lets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_hold_and_settle_their_jobs_at_maxmemory() {
    use queue_core::{Admin, Completion, Driver, Failure, Keep, Retention};
    use queue_redis::RedisDriver;

    let server = RedisServer::start();
    let driver = RedisDriver::connect(&server.url()).await.expect("connect");
    let tag = "oom-settle";
    let jobs: Vec<_> = (0..8).map(|n| record::job(Work::new(tag, n, 0))).collect();
    let lane = jobs[0].lane().unwrap();
    let queue = lane.queue().to_string();
    driver
        .enqueue(jobs)
        .await
        .expect("dispatch before the limit");
    let lease = Duration::from_secs(30);
    let held: Vec<_> = driver
        .reserve(&lane, 7, lease)
        .await
        .unwrap()
        .jobs
        .iter()
        .map(|job| job.lease())
        .collect();
    assert_eq!(held.len(), 7);
    // The last job's lease ends at once, for the reaper.
    let expiring = driver
        .reserve(&lane, 1, Duration::from_millis(1))
        .await
        .unwrap()
        .jobs[0]
        .lease();

    let mut admin = conn(&server.url()).await;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .query_async(&mut admin)
        .await
        .unwrap();
    let refused = driver
        .enqueue(vec![record::job(Work::new(tag, 8, 0))])
        .await
        .expect_err("a dispatch at maxmemory is refused");
    assert!(refused.to_string().contains("out of memory"), "{refused}");

    let ooms = error_count(&server.url(), "OOM").await;
    assert_eq!(
        driver.renew(&lane, &held[..2], lease).await.unwrap(),
        [true, true]
    );
    assert!(driver
        .fail(
            &lane,
            &held[2],
            Failure::retry("boom", Duration::from_secs(60))
        )
        .await
        .unwrap());
    assert!(driver
        .fail(&lane, &held[3], Failure::fail("boom for good"))
        .await
        .unwrap());
    assert_eq!(driver.requeue(&lane, &held[4..5]).await.unwrap(), [true]);
    assert!(driver
        .progress(&lane, &held[5], serde_json::json!({"done": 50}))
        .await
        .unwrap());
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    let done = [Completion {
        lease: held[6].clone(),
        result: None,
    }];
    assert_eq!(driver.complete(&lane, &done, &keep).await.unwrap(), [true]);
    assert_eq!(driver.ack(&lane, &held[..1]).await.unwrap(), [true]);
    runs::eventually(
        "the expired lease is reaped",
        Duration::from_secs(5),
        || {
            let (driver, lane) = (&driver, &lane);
            async move { driver.reap(lane).await.unwrap() == 1 }
        },
    )
    .await;
    assert_eq!(
        error_count(&server.url(), "OOM").await,
        ooms,
        "no settlement was refused"
    );

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(0)
        .query_async(&mut admin)
        .await
        .unwrap();
    let counts = driver.counts(&queue).await.unwrap();
    assert_eq!(counts.failed, 1, "{counts:?}");
    assert_eq!(counts.scheduled, 1, "the retried job waits: {counts:?}");
    assert_eq!(counts.completed, 1, "{counts:?}");
    assert_eq!(
        counts.active, 2,
        "the renewed job and the one with progress: {counts:?}"
    );
    assert_eq!(
        counts.ready, 2,
        "the requeued job and the reaped one: {counts:?}"
    );
    let shown = driver.job(&queue, &held[5].id).await.unwrap().unwrap();
    assert!(shown.progress.is_some(), "{shown:?}");
    assert_eq!(
        expiring.id,
        driver.job(&queue, &expiring.id).await.unwrap().unwrap().id
    );
}

/// At `maxmemory`, a job whose payload is stored beside its record (a transaction of the
/// payload's `HSET` and the script) is refused as a whole: `EXEC` answers `EXECABORT` for the
/// `OOM` of a queued command. That is retryable and names the cause like any other `OOM`, and
/// nothing of the refused job is left behind: once memory is free, dispatching it again stores
/// it once, with its payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_refuses_a_payload_stored_beside_its_record_whole_and_retryably() {
    let server = RedisServer::start_with(&["--maxmemory", "6mb"]);
    let queue = queue_with(&server.url(), quick_options()).await;
    let mut admin = conn(&server.url()).await;
    let tag = "oom-beside";
    // 20 KB: above the default `large_payload` (8 KiB), so stored in the body hash.
    let padded = format!("{tag}{}", "y".repeat(20_000));
    let work = |n| Work {
        tag: padded.clone(),
        n,
        ms: 0,
    };
    let mut stored = HashSet::new();
    let aborts_before = error_count(&server.url(), "EXECABORT").await;
    let error = loop {
        let n = stored.len() as u64;
        match record::dispatch(&queue, work(n)).await {
            Ok(_) => {
                stored.insert(n);
            }
            Err(e) => break e,
        }
        assert!(n < 10_000, "never ran out of memory");
    };
    assert!(
        error_count(&server.url(), "EXECABORT").await > aborts_before,
        "the refusal was not an aborted transaction: {error}"
    );
    assert!(error.is_retryable(), "{error}");
    assert!(
        error.to_string().contains("redis is out of memory"),
        "{error}"
    );
    assert!(!stored.is_empty());
    let bodies = |admin: &mut redis::aio::MultiplexedConnection| {
        let mut admin = admin.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*body*")
                .query_async(&mut admin)
                .await
                .unwrap();
            let mut fields = 0u64;
            for key in keys {
                let n: u64 = redis::cmd("HLEN")
                    .arg(&key)
                    .query_async(&mut admin)
                    .await
                    .unwrap();
                fields += n;
            }
            fields
        }
    };
    assert_eq!(
        bodies(&mut admin).await,
        stored.len() as u64,
        "one stored payload per stored job, none of the refused one"
    );

    // Memory freed: the refused job goes in whole.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query_async(&mut admin)
        .await
        .unwrap();
    let refused = stored.len() as u64;
    record::dispatch(&queue, work(refused)).await.unwrap();
    stored.insert(refused);
    assert_eq!(bodies(&mut admin).await, stored.len() as u64);
    let worker = Worker::start(&queue, Duration::from_secs(10));
    runs::wait_until_ran(&padded, &stored, Duration::from_secs(30)).await;
    worker.stop().await;
    let runs = runs::runs(&padded);
    assert_eq!(runs.len(), stored.len());
    assert!(
        runs.values().all(|each| each.len() == 1),
        "a job ran more than once"
    );
}

/// A bulk dispatch that runs out of memory part way says which jobs were stored and hands back
/// the others; dispatching those again once memory is free stores each job exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_bulk_dispatch_reports_what_was_stored() {
    let server = RedisServer::start();
    let queue = queue_with(&server.url(), quick_options()).await;
    let mut admin = conn(&server.url()).await;
    let used: u64 = info_field(&server.url(), "memory", "used_memory")
        .await
        .unwrap()
        .parse()
        .unwrap();
    // 13 calls of 1000 jobs of ~1 KB go in transactions of four calls (4 MB of payloads
    // queued at once): room for the first transaction's, not for the second one's as well.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 6_500_000)
        .query_async(&mut admin)
        .await
        .unwrap();
    let tag = "oom-bulk";
    let padded = format!("{tag}{}", " ".repeat(1000));
    let jobs: Vec<_> = (0..13_000)
        .map(|n| {
            record::job(Work {
                tag: padded.clone(),
                n,
                ms: 0,
            })
        })
        .collect();
    let Err(Error::PartlyStored {
        stored,
        not_stored,
        source,
    }) = queue.dispatch_bulk(jobs).await
    else {
        panic!("the bulk dispatch did not report a partial store");
    };
    assert!(source.is_retryable());
    assert!(
        source.to_string().contains("redis is out of memory"),
        "{source}"
    );
    assert!(!stored.is_empty() && !not_stored.is_empty());
    assert_eq!(stored.len() + not_stored.len(), 13_000);
    let indices: Vec<usize> = stored.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        (0..stored.len()).collect::<Vec<_>>(),
        "what was stored is the dispatch's beginning: no hole in the lane"
    );
    let counts = queue.counts("conn").await.unwrap();
    assert_eq!(
        counts.ready,
        stored.len() as u64,
        "exactly the reported jobs are stored"
    );
    for (_, dispatched) in stored.iter().step_by(97) {
        assert!(queue.job("conn", &dispatched.id).await.unwrap().is_some());
    }

    let worker = Worker::start(&queue, Duration::from_secs(10));
    let first: HashSet<u64> = stored.iter().map(|(i, _)| *i as u64).collect();
    runs::wait_until_ran(&padded, &first, Duration::from_secs(30)).await;
    runs::eventually("the acks free memory", Duration::from_secs(20), || async {
        queue.counts("conn").await.is_ok_and(|c| c.pending() == 0)
    })
    .await;
    // Memory is back: send the rest, in pieces that fit.
    let mut rest: Vec<u64> = not_stored.iter().map(|(i, _)| *i as u64).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rest.is_empty() {
        let mut piece: Vec<u64> = rest.drain(..rest.len().min(1000)).collect();
        loop {
            let jobs = piece.iter().map(|&n| {
                record::job(Work {
                    tag: padded.clone(),
                    n,
                    ms: 0,
                })
            });
            match queue.dispatch_bulk(jobs).await {
                Ok(_) => break,
                Err(Error::PartlyStored { not_stored, .. }) => {
                    piece = not_stored.iter().map(|(i, _)| piece[*i]).collect();
                }
                // Refused whole: nothing of it was stored.
                Err(e) if e.is_retryable() => {}
                Err(e) => panic!("{e}"),
            }
            assert!(Instant::now() < deadline, "memory never freed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let all: HashSet<u64> = (0..13_000).collect();
    runs::wait_until_ran(&padded, &all, Duration::from_secs(60)).await;
    worker.stop().await;
    let runs = runs::runs(&padded);
    let twice: Vec<_> = runs
        .iter()
        .filter(|(_, r)| r.len() > 1)
        .map(|(n, _)| n)
        .collect();
    assert!(twice.is_empty(), "jobs stored twice: {twice:?}");
}
