//! The Redis layout's performance-relevant properties, read back from a real server.

#[path = "support/client.rs"]
mod client;
mod support;

use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::{
    Completion, Driver, Failure, JobId, JobQuery, JobState, Keep, Lane, Order, ReservedJob,
};
use queue_redis::RedisDriver;
use serde_json::json;
use support::RedisServer;

/// A server, a driver on it, and lane `work` of `queue`.
async fn lane_on_a_server(queue: &str) -> (RedisServer, Arc<dyn Driver>, Lane) {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    (server, driver, Lane::new(queue, "work").unwrap())
}

/// Keeping the last `completed` completed jobs, nothing else.
fn keeping(completed: usize) -> Keep {
    Keep {
        completed,
        ..Keep::default()
    }
}

/// The completions of `jobs`' runs, without results.
fn completions(jobs: &[ReservedJob]) -> Vec<Completion> {
    jobs.iter()
        .map(|j| Completion {
            lease: j.lease(),
            result: None,
        })
        .collect()
}

/// A server, a driver on it, and lane `work` of `queue` with three jobs dispatched, `take` of
/// them reserved (returned).
async fn three_jobs_taking(
    queue: &str,
    take: usize,
) -> (RedisServer, Arc<dyn Driver>, Lane, Vec<ReservedJob>) {
    let (server, driver, lane) = lane_on_a_server(queue).await;
    let jobs = (0..3).map(|n| job(&lane, json!({ "n": n }))).collect();
    driver.enqueue(jobs).await.unwrap();
    let taken = driver
        .reserve(&lane, take, Duration::from_secs(30))
        .await
        .unwrap()
        .jobs;
    (server, driver, lane, taken)
}

/// Every entry of list `key`, from its head.
async fn whole_list(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap()
}

/// How Redis stores `key` (`OBJECT ENCODING`).
async fn encoding(server: &RedisServer, key: &str) -> String {
    let mut conn = client::connection(server).await;
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// An active set that Redis stores as a flat listpack makes every lease cost a scan of all of
/// it; the sentinel keeps it a skiplist, and counts ignore it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_set_stays_a_skiplist_that_counts_do_not_see() {
    let (server, driver, lane, taken) = three_jobs_taking("layout", 2).await;
    assert_eq!(taken.len(), 2);

    assert_eq!(
        encoding(&server, "{queue:layout}:lane:work:active").await,
        "skiplist"
    );
    let counts = driver.admin().unwrap().counts("layout").await.unwrap();
    assert_eq!((counts.active, counts.ready), (2, 1));
    let leases: Vec<_> = taken.iter().map(|j| j.lease()).collect();
    assert_eq!(driver.ack(&lane, &leases).await.unwrap(), [true, true]);
    assert_eq!(
        driver
            .admin()
            .unwrap()
            .counts("layout")
            .await
            .unwrap()
            .active,
        0
    );
}

/// Scheduled jobs keep their envelopes out of the hash that reserve and ack read, so a large
/// backlog of delayed jobs does not slow down draining ready ones; they move in when due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_envelopes_wait_outside_the_hot_hash() {
    let (server, driver, lane) = lane_on_a_server("later").await;
    let delayed = job(&lane, json!({"n": 1})).delay(Duration::from_millis(30));
    let id = driver.enqueue(vec![delayed]).await.unwrap()[0].id.clone();
    let conn = client::connection(&server).await;
    let (data, later) = ("{queue:later}:data", "{queue:later}:later");
    let held = |key: &'static str| {
        let mut conn = conn.clone();
        let id = id.to_string();
        async move {
            redis::cmd("HEXISTS")
                .arg(key)
                .arg(id)
                .query_async::<bool>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!((held(data).await, held(later).await), (false, true));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let taken = driver
        .reserve(&lane, 1, Duration::from_secs(30))
        .await
        .unwrap()
        .jobs;
    assert_eq!(taken.len(), 1, "due by now");
    assert_eq!((held(data).await, held(later).await), (true, false));
}

/// The error histories' hash is written only by failures and the reaper: jobs that never fail
/// leave no key behind. A history goes with its job: at an ack, a kept completion, a delete;
/// a retry from the failed list keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_histories_exist_only_for_jobs_that_failed() {
    let (server, driver, lane) = lane_on_a_server("errs").await;
    let mut conn = client::connection(&server).await;
    let errs = "{queue:errs}:errs";
    let lease = Duration::from_secs(30);
    let ids_in = async |conn: &mut redis::aio::MultiplexedConnection| {
        let mut ids: Vec<String> = redis::cmd("HKEYS")
            .arg(errs)
            .query_async(conn)
            .await
            .unwrap();
        ids.sort();
        ids
    };

    // Dispatched, taken and acked without a failure: nothing written.
    let jobs = (0..4)
        .map(|n| job(&lane, json!({ "n": n })).attempts(2))
        .collect();
    let ids: Vec<String> = driver
        .enqueue(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id.to_string())
        .collect();
    let taken = driver.reserve(&lane, 1, lease).await.unwrap().jobs;
    assert_eq!(
        driver.ack(&lane, &[taken[0].lease()]).await.unwrap(),
        [true]
    );
    assert!(ids_in(&mut conn).await.is_empty());

    // Three fail once (retried right away): each has a history.
    let taken = driver.reserve(&lane, 3, lease).await.unwrap().jobs;
    for j in &taken {
        let failure = Failure::retry(format!("flaky {}", j.id), Duration::ZERO);
        assert!(driver.fail(&lane, &j.lease(), failure).await.unwrap());
    }
    assert_eq!(ids_in(&mut conn).await, ids[1..].to_vec());
    let again = driver.reserve(&lane, 3, lease).await.unwrap().jobs;
    assert_eq!(again.len(), 3);
    // One succeeds (ack), one completes kept (the retention path), one fails for good.
    assert_eq!(
        driver.ack(&lane, &[again[0].lease()]).await.unwrap(),
        [true]
    );
    let keep = keeping(10);
    let done = Completion {
        lease: again[1].lease(),
        result: None,
    };
    let retention = driver.retention().unwrap();
    assert_eq!(
        retention.complete(&lane, &[done], &keep).await.unwrap(),
        [true]
    );
    let failure = Failure::fail("gave up");
    assert!(driver
        .fail(&lane, &again[2].lease(), failure)
        .await
        .unwrap());
    let failed_id = again[2].id.clone();
    assert_eq!(ids_in(&mut conn).await, [failed_id.to_string()]);

    // A retry from the failed list keeps it; a delete removes it, and the key with it.
    let admin = driver.admin().unwrap();
    assert_eq!(
        admin.retry_failed("errs", Some(&failed_id)).await.unwrap(),
        1
    );
    assert_eq!(ids_in(&mut conn).await, [failed_id.to_string()]);
    let info = admin.job("errs", &failed_id).await.unwrap().unwrap();
    let history: Vec<(u32, &str)> = info
        .errors
        .iter()
        .map(|e| (e.attempt, e.error.as_str()))
        .collect();
    assert_eq!(
        history,
        [(1, format!("flaky {failed_id}").as_str()), (2, "gave up")]
    );
    assert!(admin.delete("errs", &failed_id).await.unwrap());
    let exists: bool = redis::cmd("EXISTS")
        .arg(errs)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!exists, "the last history went with its job");
}

/// The kept completed jobs' times hash is hashed from the first completion, whatever how few
/// are kept: stored flat (Redis's listpack, up to 512 fields), every completion and trim would
/// scan all of it. Its sentinel counts as no completed job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_completed_times_stay_hashed_and_counts_do_not_see_the_sentinel() {
    let (server, driver, lane, taken) = three_jobs_taking("kept", 3).await;
    let keep = keeping(2);
    let done = completions(&taken);
    let retention = driver.retention().unwrap();
    assert_eq!(
        retention.complete(&lane, &done, &keep).await.unwrap(),
        [true, true, true]
    );
    assert_eq!(
        encoding(&server, "{queue:kept}:donetime").await,
        "hashtable"
    );
    let admin = driver.admin().unwrap();
    assert_eq!(admin.counts("kept").await.unwrap().completed, 2);
    // The two kept are the newest; deleting them leaves none counted.
    for j in &taken[1..] {
        assert!(admin.delete("kept", &j.id).await.unwrap());
    }
    assert_eq!(admin.counts("kept").await.unwrap().completed, 0);
}

/// The sentinel of `lua/lib.lua`, which marks a kept list as oldest first.
const SENTINEL: &str = "sentinel: keeps this key in the hashed encoding (queue-redis lua/lib.lua)";

/// Reserves `n` jobs of `lane` and completes them in one call, keeping what `keep` says.
async fn complete_next(driver: &Arc<dyn Driver>, lane: &Lane, n: usize, keep: &Keep) {
    let taken = driver
        .reserve(lane, n, Duration::from_secs(30))
        .await
        .unwrap()
        .jobs;
    assert_eq!(taken.len(), n);
    let done = completions(&taken);
    let held = driver
        .retention()
        .unwrap()
        .complete(lane, &done, keep)
        .await
        .unwrap();
    assert!(held.iter().all(|&h| h));
}

/// Rewrites queue `queue`'s kept jobs as the earlier version kept them: the newest at the
/// list's head, no mark in the times hash. Returns the list as it was, oldest first.
async fn as_before(conn: &mut redis::aio::MultiplexedConnection, queue: &str) -> Vec<String> {
    let (list, times) = (
        format!("{{queue:{queue}}}:donelist"),
        format!("{{queue:{queue}}}:donetime"),
    );
    let oldest_first = whole_list(conn, &list).await;
    let _: () = redis::pipe()
        .cmd("DEL")
        .arg(&list)
        .cmd("LPUSH")
        .arg(&list)
        .arg(&oldest_first)
        .cmd("HDEL")
        .arg(&times)
        .arg(SENTINEL)
        .query_async(conn)
        .await
        .unwrap();
    oldest_first
}

/// The ids of `queue`'s completed jobs in a page of ten in `order`, and the next page's cursor.
async fn completed_page(
    driver: &Arc<dyn Driver>,
    queue: &str,
    order: Order,
    cursor: Option<String>,
) -> (Vec<JobId>, Option<String>) {
    let mut query = JobQuery::new(JobState::Completed).order(order).limit(10);
    if let Some(cursor) = cursor {
        query = query.cursor(cursor);
    }
    let page = driver
        .admin()
        .unwrap()
        .list_jobs(queue, &query)
        .await
        .unwrap();
    (page.jobs.into_iter().map(|j| j.id).collect(), page.next)
}

/// Dispatches `n` jobs to `lane`; their ids.
async fn dispatch(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) -> Vec<JobId> {
    let jobs = (0..n).map(|k| job(lane, json!({ "k": k }))).collect();
    driver
        .enqueue(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// Kept completed jobs as an earlier version left them (the newest at the list's head, no mark
/// in the times hash) read in completion order, and the first completion or clean turns the
/// list around, so the trim and the clean take the oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_list_of_an_earlier_version_is_read_and_turned_in_order() {
    let (server, driver, lane) = lane_on_a_server("upgrade").await;
    let keep = keeping(4);
    let mut conn = client::connection(&server).await;
    let newest_first = || async {
        completed_page(&driver, "upgrade", Order::Newest, None)
            .await
            .0
    };
    // Completed one per call, so in dispatch order.
    let mut ids = dispatch(&driver, &lane, 5).await;
    for _ in 0..3 {
        complete_next(&driver, &lane, 1, &keep).await;
    }
    let oldest_first = as_before(&mut conn, "upgrade").await;
    let as_text: Vec<String> = ids[..3].iter().map(|id| id.to_string()).collect();
    assert_eq!(oldest_first, as_text, "kept oldest first at the tail");
    let expected: Vec<JobId> = ids[..3].iter().rev().cloned().collect();
    assert_eq!(newest_first().await, expected, "the earlier order read");

    // Two more: the list is turned before they are pushed, and the oldest one is trimmed.
    for _ in 0..2 {
        complete_next(&driver, &lane, 1, &keep).await;
    }
    let expected: Vec<JobId> = ids[1..].iter().rev().cloned().collect();
    assert_eq!(newest_first().await, expected);
    let raw = whole_list(&mut conn, "{queue:upgrade}:donelist").await;
    let oldest_first: Vec<String> = ids[1..].iter().map(|id| id.to_string()).collect();
    assert_eq!(raw, oldest_first);
    let admin = driver.admin().unwrap();
    assert_eq!(admin.counts("upgrade").await.unwrap().completed, 4);

    // Clean turns an earlier list as well, and takes the oldest.
    as_before(&mut conn, "upgrade").await;
    let removed = driver
        .retention()
        .unwrap()
        .clean("upgrade", JobState::Completed, Duration::ZERO, 1)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    ids.remove(0);
    let expected: Vec<JobId> = ids[1..].iter().rev().cloned().collect();
    assert_eq!(newest_first().await, expected);
    let marked: bool = redis::cmd("HEXISTS")
        .arg("{queue:upgrade}:donetime")
        .arg(SENTINEL)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(marked, "the clean marked the list it turned");
}

/// A list of the earlier order longer than one turning chunk (1,000 ids) is turned whole, and a
/// cursor taken from it before the turn goes on after it: positions count back from the newest
/// in both orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_of_an_earlier_list_goes_on_after_the_turn() {
    let (server, driver, lane) = lane_on_a_server("long").await;
    let keep = keeping(5000);
    // 1,001 jobs completed 100 to a call, in dispatch order, then one more later.
    let ids = dispatch(&driver, &lane, 1002).await;
    for _ in 0..10 {
        complete_next(&driver, &lane, 100, &keep).await;
    }
    complete_next(&driver, &lane, 1, &keep).await;
    let mut conn = client::connection(&server).await;
    as_before(&mut conn, "long").await;
    // Read the earlier way: the newest ten, and the oldest ten.
    let (first, cursor) = completed_page(&driver, "long", Order::Newest, None).await;
    let newest: Vec<JobId> = ids[991..1001].iter().rev().cloned().collect();
    assert_eq!(first, newest);
    let (oldest, _) = completed_page(&driver, "long", Order::Oldest, None).await;
    assert_eq!(oldest, ids[..10].to_vec());

    // One more completion turns all 1,001 (two chunks) and pushes the 1,002nd at the tail.
    complete_next(&driver, &lane, 1, &keep).await;
    let raw = whole_list(&mut conn, "{queue:long}:donelist").await;
    let in_order: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(raw, in_order);
    // The cursor taken before the turn goes on with the next ten.
    let (next, _) = completed_page(&driver, "long", Order::Newest, cursor).await;
    let following: Vec<JobId> = ids[981..991].iter().rev().cloned().collect();
    assert_eq!(next, following);
    let (newest, _) = completed_page(&driver, "long", Order::Newest, None).await;
    let expected: Vec<JobId> = ids[992..1002].iter().rev().cloned().collect();
    assert_eq!(newest, expected);
    let counts = driver.admin().unwrap().counts("long").await.unwrap();
    assert_eq!(counts.completed, 1002);
}
