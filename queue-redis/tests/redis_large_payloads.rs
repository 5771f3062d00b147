//! Large payloads stored beside their records (`RedisOptions::large_payload`), read back from a
//! real server: where they live, that they leave with their jobs on every path that ends a
//! job for good, compression, and a server that forgot its scripts.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use queue_core::{Completion, Driver, Failure, JobId, JobState, Keep, Lane, NewJob, ReservedJob};
use queue_redis::RedisDriver;
use redis::aio::MultiplexedConnection;
use support::RedisServer;

const LEASE: Duration = Duration::from_secs(30);

async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn connect(server: &RedisServer, query: &str) -> Arc<dyn Driver> {
    Arc::new(
        RedisDriver::connect(&format!("{}?{query}", server.url()))
            .await
            .unwrap(),
    )
}

/// A compressible JSON payload of about `len` bytes, different for each `seed`.
fn text(seed: usize, len: usize) -> Bytes {
    let body = format!("{seed:08} lorem ipsum dolor sit amet ").repeat(len / 36 + 1);
    Bytes::from(format!("{{\"t\":\"{}\"}}", &body[..len]))
}

fn new_job(lane: &Lane, payload: &Bytes) -> NewJob {
    NewJob::named(lane.job(), payload.clone()).queue(lane.queue())
}

/// Dispatches `jobs`; returns their ids.
async fn dispatch(driver: &Arc<dyn Driver>, jobs: Vec<NewJob>) -> Vec<JobId> {
    let sent = driver.enqueue(jobs).await.unwrap();
    sent.into_iter().map(|d| d.id).collect()
}

async fn body_fields(conn: &mut MultiplexedConnection, queue: &str) -> usize {
    redis::cmd("HLEN")
        .arg(format!("{{queue:{queue}}}:body"))
        .query_async(conn)
        .await
        .unwrap()
}

async fn reserve_all(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) -> Vec<ReservedJob> {
    let jobs = driver.reserve(lane, n, LEASE).await.unwrap().jobs;
    assert_eq!(jobs.len(), n);
    jobs
}

fn leases(jobs: &[ReservedJob]) -> Vec<queue_core::Lease> {
    jobs.iter().map(ReservedJob::lease).collect()
}

/// Numbered jobs with payloads at or above the threshold keep them in the body hash and an
/// empty payload in their envelopes; small jobs and jobs with chosen ids keep theirs inline;
/// an ack deletes the bodies with the jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_payloads_live_beside_their_records_and_leave_with_their_jobs() {
    let server = RedisServer::start();
    let driver = connect(&server, "large_payload=1000").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("big", "work").unwrap();
    let sent = [text(1, 900), text(2, 992), text(3, 50_000)];
    let mut jobs: Vec<NewJob> = sent.iter().map(|p| new_job(&lane, p)).collect();
    jobs.push(new_job(&lane, &text(4, 5000)).id(JobId::from("chosen")));
    let ids: Vec<JobId> = dispatch(&driver, jobs).await;
    assert_eq!(
        body_fields(&mut conn, "big").await,
        2,
        "the two numbered large ones"
    );
    let envelope: Vec<u8> = redis::cmd("HGET")
        .arg("{queue:big}:data")
        .arg(ids[2].as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        envelope.ends_with(b"|work|"),
        "{:?}",
        String::from_utf8_lossy(&envelope)
    );
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg("{queue:big}:body")
        .arg(ids[2].as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored[0], b'=', "stored as it is");
    assert_eq!(&stored[1..], &sent[2][..]);

    let taken = reserve_all(&driver, &lane, 4).await;
    for (job, id) in taken.iter().zip(&ids) {
        assert_eq!(&job.id, id);
    }
    for (job, payload) in taken.iter().zip(&sent) {
        assert_eq!(&job.payload, payload);
    }
    assert_eq!(taken[3].payload, text(4, 5000));
    assert_eq!(driver.ack(&lane, &leases(&taken)).await.unwrap(), [true; 4]);
    assert_eq!(body_fields(&mut conn, "big").await, 0);
}

/// Kept completed jobs keep their bodies until they are trimmed or cleaned; failed jobs keep
/// theirs until cleaned; a cancelled waiting job and the failed list's trim let theirs go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_leave_with_trimmed_cleaned_and_cancelled_jobs() {
    let server = RedisServer::start();
    let driver = connect(&server, "large_payload=100").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("kept", "work").unwrap();
    let jobs = (0..3).map(|i| new_job(&lane, &text(i, 500))).collect();
    driver.enqueue(jobs).await.unwrap();
    let taken = reserve_all(&driver, &lane, 3).await;
    let keep = Keep {
        completed: 1,
        ..Keep::default()
    };
    let done: Vec<Completion> = taken
        .iter()
        .map(|j| Completion {
            lease: j.lease(),
            result: None,
        })
        .collect();
    let retention = driver.retention().unwrap();
    retention.complete(&lane, &done, &keep).await.unwrap();
    assert_eq!(body_fields(&mut conn, "kept").await, 1, "the one kept");
    let admin = driver.admin().unwrap();
    let kept = admin.job("kept", &taken[2].id).await.unwrap().unwrap();
    assert_eq!(kept.state, JobState::Completed);
    assert_eq!(kept.payload, text(2, 500));
    retention
        .clean("kept", JobState::Completed, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(body_fields(&mut conn, "kept").await, 0);

    let jobs = (0..2).map(|i| new_job(&lane, &text(10 + i, 500))).collect();
    let ids: Vec<JobId> = dispatch(&driver, jobs).await;
    let cancel = driver.cancel().unwrap();
    cancel.cancel("kept", &ids[1]).await.unwrap();
    assert_eq!(
        body_fields(&mut conn, "kept").await,
        1,
        "the cancelled one went"
    );
    let job = reserve_all(&driver, &lane, 1).await.remove(0);
    driver
        .fail(&lane, &job.lease(), Failure::fail("no"))
        .await
        .unwrap();
    assert_eq!(
        body_fields(&mut conn, "kept").await,
        1,
        "a failed job keeps it"
    );
    retention
        .clean("kept", JobState::Failed, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(body_fields(&mut conn, "kept").await, 0);
}

/// With `compress=lz4` a compressible body is stored compressed; a driver without the setting
/// reads it, and one with it reads bodies stored as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_are_read_by_every_worker() {
    let server = RedisServer::start();
    let packing = connect(&server, "compress=lz4").await;
    let plain = connect(&server, "").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("packed", "work").unwrap();
    let payload = text(7, 100_000);
    let id = packing
        .enqueue(vec![new_job(&lane, &payload)])
        .await
        .unwrap()[0]
        .id
        .clone();
    let stored: Vec<u8> = redis::cmd("HGET")
        .arg("{queue:packed}:body")
        .arg(id.as_str())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored[0], b'4', "stored compressed");
    assert!(stored.len() < 10_000, "{} bytes", stored.len());
    let job = reserve_all(&plain, &lane, 1).await.remove(0);
    assert_eq!(job.payload, payload);
    plain.ack(&lane, &[job.lease()]).await.unwrap();

    plain.enqueue(vec![new_job(&lane, &payload)]).await.unwrap();
    let job = reserve_all(&packing, &lane, 1).await.remove(0);
    assert_eq!(job.payload, payload);
}

/// A stored body that cannot be read fails its job with a message naming the problem, and
/// the other jobs of the reserve still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_body_fails_its_job_alone() {
    let server = RedisServer::start();
    let driver = connect(&server, "large_payload=100").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("broken", "work").unwrap();
    let jobs = (0..2).map(|i| new_job(&lane, &text(i, 500))).collect();
    let ids: Vec<JobId> = dispatch(&driver, jobs).await;
    let _: () = redis::cmd("HSET")
        .arg("{queue:broken}:body")
        .arg(ids[0].as_str())
        .arg("?garbage")
        .query_async(&mut conn)
        .await
        .unwrap();
    let taken = driver.reserve(&lane, 2, LEASE).await.unwrap().jobs;
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, ids[1]);
    assert_eq!(taken[0].payload, text(1, 500));
    let failed = driver
        .admin()
        .unwrap()
        .failed("broken", 0, 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let error = failed[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("malformed job") && error.contains("unknown form"),
        "{error}"
    );
}

/// A server that lost its script cache (a restart, `SCRIPT FLUSH`) gets the enqueue script
/// again inside a large batch's transaction, and the bodies sent with the refused attempt are
/// the ones stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_cache_is_refilled_for_large_batches() {
    let server = RedisServer::start();
    let driver = connect(&server, "large_payload=100").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("flushed", "work").unwrap();
    driver
        .enqueue(vec![new_job(&lane, &text(0, 500))])
        .await
        .unwrap();
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let sent: Vec<Bytes> = (1..4).map(|i| text(i, 500)).collect();
    driver
        .enqueue(sent.iter().map(|p| new_job(&lane, p)).collect())
        .await
        .unwrap();
    assert_eq!(body_fields(&mut conn, "flushed").await, 4);
    let taken = reserve_all(&driver, &lane, 4).await;
    let got: Vec<Bytes> = taken.iter().map(|j| j.payload.clone()).collect();
    assert_eq!(got[1..], sent[..]);
}

/// A dispatch of more payload bytes than one call carries goes in several transactions, in
/// order, each job once; `large_payload=0` keeps every payload in its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_batches_are_cut_by_bytes_and_the_threshold_can_be_off() {
    let server = RedisServer::start();
    let driver = connect(&server, "").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("many", "work").unwrap();
    let sent: Vec<Bytes> = (0..40).map(|i| text(i, 1 << 20)).collect();
    let ids = dispatch(&driver, sent.iter().map(|p| new_job(&lane, p)).collect()).await;
    let numbers: Vec<u64> = ids.iter().map(|id| id.as_str().parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert_eq!(body_fields(&mut conn, "many").await, 40);
    let taken = reserve_all(&driver, &lane, 40).await;
    for (job, payload) in taken.iter().zip(&sent) {
        assert!(job.payload == payload, "payload of {}", job.id);
    }
    driver.ack(&lane, &leases(&taken)).await.unwrap();

    let inline = connect(&server, "large_payload=0").await;
    let lane = Lane::new("inline", "work").unwrap();
    inline
        .enqueue(vec![new_job(&lane, &text(1, 100_000))])
        .await
        .unwrap();
    assert_eq!(body_fields(&mut conn, "inline").await, 0);
    let job = reserve_all(&inline, &lane, 1).await.remove(0);
    assert_eq!(job.payload, text(1, 100_000));
}

/// A body key another program wrote with another type refuses the dispatch with an error,
/// and nothing of it is stored: no job runs with an empty payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_key_of_another_type_refuses_the_dispatch_whole() {
    let server = RedisServer::start();
    let driver = connect(&server, "large_payload=100").await;
    let mut conn = raw(&server).await;
    let lane = Lane::new("clobbered", "work").unwrap();
    let _: () = redis::cmd("SET")
        .arg("{queue:clobbered}:body")
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    let error = driver
        .enqueue(vec![
            new_job(&lane, &text(1, 500)),
            new_job(&lane, &text(2, 50)),
        ])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
    let counts = driver.admin().unwrap().counts("clobbered").await.unwrap();
    assert_eq!((counts.ready, counts.scheduled), (0, 0), "{counts:?}");
    let reserved = driver.reserve(&lane, 10, LEASE).await.unwrap().jobs;
    assert!(reserved.is_empty());
}
