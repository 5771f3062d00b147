//! Redis-specific behaviour: idle cost, malformed data, authentication, unreachable servers.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use queue_core::{job, Error, JobContext, JobError, JobState, Queue};
use queue_redis::RedisDriver;
use support::RedisServer;
use tokio_util::sync::CancellationToken;

static SEEN: AtomicU32 = AtomicU32::new(0);

#[job(queue = "faults")]
async fn count(n: u32, _ctx: JobContext) -> Result<(), JobError> {
    SEEN.fetch_add(n, Ordering::SeqCst);
    Ok(())
}

/// The `count` handler running in the background until stopped.
struct Worker {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<queue_core::Result<()>>,
}

impl Worker {
    fn start(queue: &Queue) -> Self {
        let stop = CancellationToken::new();
        let signal = stop.clone().cancelled_owned();
        let handle = tokio::spawn(queue.worker().handlers(["count"]).run_until(signal));
        Self { stop, handle }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.handle.await.unwrap().unwrap();
    }
}

async fn redis_queue(url: &str) -> Queue {
    Queue::new(Arc::new(RedisDriver::connect(url).await.expect("connect")))
}

fn raw(server: &RedisServer) -> redis::Client {
    redis::Client::open(server.url()).unwrap()
}

/// Total commands the server has processed, from INFO commandstats.
async fn commands_processed(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_sends_almost_no_commands() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    let worker = Worker::start(&queue);
    // Let it start and go idle, proven by one job running through it.
    count::dispatch(&queue, 1).await.unwrap();
    for _ in 0..500 {
        if queue.counts("faults").await.unwrap().pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut probe = raw(&server)
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let before = commands_processed(&mut probe).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = commands_processed(&mut probe).await;
    // The probe's own INFO call is one of them.
    let idle = after - before - 1;
    assert!(idle <= 3, "an idle worker sent {idle} commands in 3 s");
    // And it still wakes at once for new work.
    let started = std::time::Instant::now();
    count::dispatch(&queue, 2).await.unwrap();
    while queue.counts("faults").await.unwrap().pending() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the idle worker did not wake"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_entries_written_by_another_program_end_in_the_failed_list() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    let mut conn = raw(&server)
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ready = "{queue:faults}:lane:count:ready";
    // An id with no record, records that are garbage (one the script spots, one only the
    // client does), a record of another job in this lane, and a payload that is not a number.
    let data = "{queue:faults}:data";
    redis::pipe()
        .cmd("RPUSH")
        .arg(ready)
        .arg("ghost-1")
        .cmd("HSET")
        .arg(data)
        .arg("junk-2")
        .arg("not a record")
        .cmd("HSET")
        .arg(data)
        .arg("junk-3")
        .arg("0|zero but no record")
        .cmd("HSET")
        .arg(data)
        .arg("stray-4")
        .arg("0|0|1|0|1700000000000|1700000000000|0|0|other|7")
        .cmd("RPUSH")
        .arg(ready)
        .arg("junk-2")
        .arg("junk-3")
        .arg("stray-4")
        .cmd("SADD")
        .arg("{queue:faults}:lanes")
        .arg("count")
        .exec_async(&mut conn)
        .await
        .unwrap();
    let bad_payload = queue
        .driver()
        .enqueue(vec![queue_core::NewJob::named(
            "count",
            b"\"seven\"".to_vec(),
        )
        .queue("faults")])
        .await
        .unwrap()[0]
        .id
        .clone();
    let good = count::dispatch(&queue, 5).await.unwrap().id;

    let worker = Worker::start(&queue);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let c = queue.counts("faults").await.unwrap();
        if c.failed == 5 && c.pending() == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stuck at {c:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.stop().await;
    assert!(
        queue.job("faults", &good).await.unwrap().is_none(),
        "the good job ran and was acked: the worker kept going"
    );

    let failed = queue.failed("faults", 0, 10).await.unwrap();
    let errors: Vec<String> = failed
        .iter()
        .map(|f| f.last_error.clone().unwrap_or_default())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("no job record for id `ghost-1`")),
        "{errors:?}"
    );
    for id in ["junk-2", "junk-3"] {
        let why = format!("malformed job: unreadable job record for id `{id}`");
        assert!(errors.iter().any(|e| e.contains(&why)), "{errors:?}");
    }
    assert!(
        errors
            .iter()
            .any(|e| e
                .contains("job `stray-4` is named `other` but was found in lane `faults/count`")),
        "{errors:?}"
    );
    // The unreadable record is kept whole for inspection.
    let junk = queue
        .job("faults", &"junk-2".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(junk.state, JobState::Failed);
    assert_eq!(&junk.payload[..], b"not a record");
    let bad = queue.job("faults", &bad_payload).await.unwrap().unwrap();
    assert_eq!(bad.state, JobState::Failed);
    assert!(bad.last_error.unwrap().contains("does not decode as `u32`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_acl_users_authenticate_and_never_show() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret-pass"]);
    let port = server.port();
    // requirepass (default user)
    let url = format!("redis://:s3cret-pass@127.0.0.1:{port}/0");
    let driver = RedisDriver::connect(&url).await.expect("password accepted");
    assert!(!format!("{driver:?}").contains("s3cret"), "{driver:?}");
    let queue = Queue::new(Arc::new(driver));
    count::dispatch(&queue, 1).await.unwrap();
    assert_eq!(queue.counts("faults").await.unwrap().ready, 1);

    // An ACL user.
    let mut admin = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("jobs")
        .arg("on")
        .arg(">user-pass")
        .arg("~*")
        .arg("+@all")
        .query_async(&mut admin)
        .await
        .unwrap();
    let acl = redis_queue(&format!("redis://jobs:user-pass@127.0.0.1:{port}/0")).await;
    assert_eq!(acl.counts("faults").await.unwrap().ready, 1);

    // A wrong password is a clear error without the password.
    let err = RedisDriver::connect(&format!("redis://jobs:wrong-pass@127.0.0.1:{port}/0"))
        .await
        .unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains("wrong-pass"), "{shown}");
    assert!(shown.contains("redis://jobs:***@127.0.0.1"), "{shown}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://app:hunter2@127.0.0.1:{port}/0");
    let started = std::time::Instant::now();
    let err = Queue::connect(&url).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "connecting gave up in time"
    );
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "storage unavailable at `redis://app:***@127.0.0.1:{port}/0`"
        )),
        "{shown}"
    );
    assert!(!format!("{err:?}").contains("hunter2"));
}

/// A reserve whose batch holds a record the client cannot read still hands out the batch's
/// good jobs, even when failing that record fails too (here its error hash was overwritten with
/// a string by another program): the bad job stays leased and, once the hash is repaired and its
/// lease expires, the reaper moves it to the failed list, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_hands_out_its_good_jobs_when_a_bad_record_cannot_be_failed() {
    let server = RedisServer::start();
    let driver: Arc<dyn queue_core::Driver> =
        Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let lane = queue_core::Lane::new("leased", "work").unwrap();
    let mut conn = raw(&server)
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // A record that passes the script's check (it starts with "0") but not the client's.
    redis::pipe()
        .cmd("HSET")
        .arg("{queue:leased}:data")
        .arg("junk-1")
        .arg("0|not a header")
        .cmd("RPUSH")
        .arg("{queue:leased}:lane:work:ready")
        .arg("junk-1")
        .cmd("SET")
        .arg("{queue:leased}:err")
        .arg("not a hash")
        .exec_async(&mut conn)
        .await
        .unwrap();
    let good: Vec<_> = driver
        .enqueue(
            (0..3)
                .map(|n| queue_core::testing::job(&lane, serde_json::json!({ "n": n })))
                .collect(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    let lease = Duration::from_millis(300);
    let r = driver
        .reserve(&lane, 10, lease)
        .await
        .expect("the good jobs come back though the bad one could not be failed");
    let got: Vec<_> = r.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(got, good);
    let junk = queue_core::JobId::from("junk-1");
    let c = driver.admin().unwrap().counts("leased").await.unwrap();
    assert_eq!((c.active, c.failed), (4, 0), "the bad job stays leased");
    let leases: Vec<_> = r.jobs.iter().map(|j| j.lease()).collect();

    // Repaired, the reaper takes it once its lease is over; the good jobs' acks ride along.
    let _: () = redis::cmd("DEL")
        .arg("{queue:leased}:err")
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let (acked, _) = driver
        .ack_and_reserve(&lane, &leases, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(acked, [true, true, true]);
    let c = driver.admin().unwrap().counts("leased").await.unwrap();
    assert_eq!((c.pending(), c.failed), (0, 1));
    let failed = driver
        .admin()
        .unwrap()
        .job("leased", &junk)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(&failed.payload[..], b"0|not a header");
}

/// A job stored by a build from before the envelope kept its ready time and run starts (seven
/// fields), with an error history from then, is read, run and failed like any other: nothing
/// stored before an upgrade is lost, and its history keeps its old entries.
#[tokio::test]
async fn jobs_stored_by_an_earlier_build_still_run() {
    let server = RedisServer::start();
    let queue = redis_queue(&server.url()).await;
    let mut conn = raw(&server)
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::pipe()
        .cmd("HSET")
        .arg("{queue:upgrade}:data")
        .arg("old-1")
        .arg("0|1|3|0|1700000000000|count|5")
        .cmd("HSET")
        .arg("{queue:upgrade}:errs")
        .arg("old-1")
        .arg("1:1700000000500:4:boom")
        .cmd("RPUSH")
        .arg("{queue:upgrade}:lane:count:ready")
        .arg("old-1")
        .cmd("SADD")
        .arg("{queue:upgrade}:lanes")
        .arg("count")
        .exec_async(&mut conn)
        .await
        .unwrap();
    let lane = queue_core::Lane::new("upgrade", "count").unwrap();
    let got = queue
        .driver()
        .reserve(&lane, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got.jobs.len(), 1, "the old job is handed out");
    let job = &got.jobs[0];
    assert_eq!((job.id.as_str(), &job.payload[..]), ("old-1", &b"5"[..]));
    assert_eq!((job.attempt, job.max_attempts), (2, 3));
    assert!(queue
        .driver()
        .fail(
            &lane,
            &job.lease(),
            queue_core::Failure::retry("again", Duration::from_secs(60))
        )
        .await
        .unwrap());
    let info = queue
        .job("upgrade", &job.id)
        .await
        .unwrap()
        .expect("the job is kept");
    assert_eq!(info.state, JobState::Scheduled);
    let errors: Vec<(u32, &str)> = info
        .errors
        .iter()
        .map(|e| (e.attempt, e.error.as_str()))
        .collect();
    assert_eq!(errors, [(1, "boom"), (2, "again")]);
    assert!(info.errors[0].started_at.is_none());
    assert!(info.errors[1].started_at.is_some());
}
