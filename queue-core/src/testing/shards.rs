//! Conformance cases of sharded lanes ([`Queue::shard`], `#[job(shards = n)]`): a lane split
//! into storage queues of its own, dispatched in turn or by key, each keeping the lane's order
//! (FIFO, priority, delays), and a queue's inspection and administration, statistics and event
//! log covering its shards.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::unique_queue;
use crate::driver::Driver;
use crate::error::Error;
use crate::job::{
    parse_shard_queue, shard_queue, unix_minute, Failure, JobId, JobQuery, JobState, Lane, NewJob,
    ReservedJob, RunCounts,
};
use crate::observe::events::{Event, EventKind};
use crate::queue::Queue;

const LEASE: Duration = Duration::from_secs(30);
const SHARDS: u16 = 3;

fn sharded(driver: &Arc<dyn Driver>) -> Queue {
    Queue::new(driver.clone())
        .shard("work", SHARDS)
        .expect("three shards")
}

fn job(queue: &str, payload: serde_json::Value) -> NewJob {
    NewJob::named("work", serde_json::to_vec(&payload).expect("json")).queue(queue)
}

fn shard_lane(queue: &str, index: u16) -> Lane {
    Lane::new(&shard_queue(queue, index, SHARDS), "work").expect("a shard's lane")
}

async fn take_all(driver: &Arc<dyn Driver>, lane: &Lane) -> Vec<ReservedJob> {
    driver
        .reserve(lane, 100, LEASE)
        .await
        .expect("reserve")
        .jobs
}

fn payloads(jobs: &[ReservedJob]) -> Vec<serde_json::Value> {
    jobs.iter()
        .map(|j| serde_json::from_slice(&j.payload).expect("json payload"))
        .collect()
}

pub(super) async fn a_sharded_lane_spreads_jobs_and_keeps_order_per_shard(driver: Arc<dyn Driver>) {
    let queue = sharded(&driver);
    let q = unique_queue("shards");
    let mut shard_of = Vec::new();
    for i in 0..9 {
        let d = queue.dispatch(job(&q, json!(i))).await.unwrap();
        assert!(d.created);
        shard_of.push(d.id);
    }
    // In turn: each shard holds every third job, in dispatch order; each generated id names
    // its shard.
    let mut seen = BTreeSet::new();
    for index in 0..SHARDS {
        let got = take_all(&driver, &shard_lane(&q, index)).await;
        assert_eq!(got.len(), 3, "shard {index} holds a third of the jobs");
        let values: Vec<i64> = payloads(&got).iter().map(|v| v.as_i64().unwrap()).collect();
        assert!(
            values.windows(2).all(|w| w[1] == w[0] + SHARDS as i64),
            "shard {index} keeps dispatch order: {values:?}"
        );
        for j in &got {
            assert!(j.id.as_str().starts_with(&format!("s{index}.")), "{}", j.id);
            seen.insert(j.id.clone());
        }
    }
    assert_eq!(seen.len(), 9, "ids are unique across shards");

    // By key: the same key always lands on the same shard, FIFO; priority and delays keep
    // their meaning there.
    let mut ids = Vec::new();
    for i in 0..4 {
        let d = queue
            .dispatch(job(&q, json!(i)))
            .shard_key("user-7")
            .await
            .unwrap();
        ids.push(d.id);
    }
    queue
        .dispatch(job(&q, json!("urgent")))
        .shard_key("user-7")
        .priority(5)
        .await
        .unwrap();
    queue
        .dispatch(job(&q, json!("later")))
        .shard_key("user-7")
        .delay(Duration::from_secs(60))
        .await
        .unwrap();
    let index = ids[0].as_str()[1..2].parse::<u16>().unwrap();
    assert!(ids
        .iter()
        .all(|id| id.as_str().starts_with(&format!("s{index}."))));
    let got = payloads(&take_all(&driver, &shard_lane(&q, index)).await);
    assert_eq!(
        got,
        [json!("urgent"), json!(0), json!(1), json!(2), json!(3)]
    );
    let counts = queue.counts(&q).await.unwrap();
    assert_eq!(counts.scheduled, 1, "the delayed job waits in its shard");

    // A chosen id picks its shard, so a second dispatch with it is a duplicate.
    let first = queue
        .dispatch(job(&q, json!(1)).id("order-1"))
        .await
        .unwrap();
    let again = queue
        .dispatch(job(&q, json!(2)).id("order-1"))
        .await
        .unwrap();
    assert!(first.created && !again.created);
    let info = queue
        .job(&q, &JobId::from("order-1"))
        .await
        .unwrap()
        .unwrap();
    assert!(parse_shard_queue(&info.queue).is_some_and(|(base, _, n)| base == q && n == SHARDS));
}

pub(super) async fn a_sharded_queue_is_inspected_and_administered_as_one(driver: Arc<dyn Driver>) {
    let queue = sharded(&driver);
    let q = unique_queue("shards-admin");
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(queue.dispatch(job(&q, json!(i))).await.unwrap().id);
    }
    // Counts add up; the queue is listed once, its shards not on their own.
    assert_eq!(queue.counts(&q).await.unwrap().ready, 6);
    let names = queue.queues().await.unwrap();
    assert!(names.contains(&q), "{names:?}");
    assert!(
        names.iter().all(|n| parse_shard_queue(n).is_none()),
        "{names:?}"
    );
    // Each job is found by its id, in the shard that holds it.
    for id in &ids {
        let info = queue
            .job(&q, id)
            .await
            .unwrap()
            .expect("found in its shard");
        assert_eq!(&info.id, id);
        assert!(parse_shard_queue(&info.queue).is_some());
    }
    assert!(queue
        .job(&q, &JobId::from("s1.0000000000000000"))
        .await
        .unwrap()
        .is_none());
    // A listing pages through every shard, each job once.
    let mut listed = Vec::new();
    let mut query = JobQuery::new(JobState::Ready).limit(2);
    loop {
        let page = queue.jobs(&q, query.clone()).await.unwrap();
        listed.extend(page.jobs.into_iter().map(|j| j.id));
        match page.next {
            Some(next) => query = query.cursor(next),
            None => break,
        }
    }
    listed.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(listed, expected);

    // Pausing covers every shard.
    queue.pause(&q).await.unwrap();
    assert!(queue.counts(&q).await.unwrap().paused);
    for index in 0..SHARDS {
        assert!(take_all(&driver, &shard_lane(&q, index)).await.is_empty());
    }
    queue.resume(&q).await.unwrap();

    // Failures of every shard are listed together, retried one by one or all at once.
    for index in 0..SHARDS {
        let lane = shard_lane(&q, index);
        for j in take_all(&driver, &lane).await {
            let failure = Failure::fail(format!("bad {}", j.id));
            assert!(driver.fail(&lane, &j.lease(), failure).await.unwrap());
        }
    }
    assert_eq!(queue.counts(&q).await.unwrap().failed, 6);
    assert_eq!(queue.failed(&q, 0, 100).await.unwrap().len(), 6);
    assert_eq!(queue.failed(&q, 4, 100).await.unwrap().len(), 2);
    queue.retry_failed(&q, &ids[4]).await.unwrap();
    assert_eq!(queue.retry_all_failed(&q).await.unwrap(), 5);
    assert_eq!(queue.counts(&q).await.unwrap().ready, 6);

    // Deleting by id finds the shard; purging empties them all.
    assert!(queue.delete(&q, &ids[2]).await.unwrap());
    assert!(!queue.delete(&q, &ids[2]).await.unwrap());
    assert_eq!(queue.counts(&q).await.unwrap().ready, 5);
    queue.purge(&q).await.unwrap();
    let counts = queue.counts(&q).await.unwrap();
    assert_eq!(counts.pending() + counts.failed, 0);
}

pub(super) async fn a_sharded_job_is_cancelled_and_cleaned_in_its_shard(driver: Arc<dyn Driver>) {
    let queue = sharded(&driver);
    let q = unique_queue("shards-cancel");
    // Found through its chosen id, and through the shard its generated id names.
    queue
        .dispatch(job(&q, json!(1)).id("chosen-1"))
        .await
        .unwrap();
    let generated = queue.dispatch(job(&q, json!(2))).await.unwrap().id;
    for id in [JobId::from("chosen-1"), generated] {
        let outcome = queue.cancel(&q, &id).await.unwrap();
        assert_eq!(outcome, crate::CancelOutcome::Removed, "{id}");
    }
    assert_eq!(queue.counts(&q).await.unwrap().pending(), 0);

    // Old failures of every shard are cleaned within one limit.
    for i in 0..SHARDS {
        queue.dispatch(job(&q, json!(i))).await.unwrap();
    }
    for index in 0..SHARDS {
        let lane = shard_lane(&q, index);
        for j in take_all(&driver, &lane).await {
            assert!(driver
                .fail(&lane, &j.lease(), Failure::fail("bad"))
                .await
                .unwrap());
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cleaned = queue
        .clean(&q, JobState::Failed, Duration::from_millis(1), 2)
        .await
        .unwrap();
    assert_eq!(cleaned, 2, "the limit holds across shards");
    let cleaned = queue
        .clean(&q, JobState::Failed, Duration::from_millis(1), 100)
        .await
        .unwrap();
    assert_eq!(cleaned, 1);
    assert_eq!(queue.counts(&q).await.unwrap().failed, 0);
}

/// The statistics of `history` for `minute` (zero when out of its window).
fn runs_at(history: &crate::job::QueueStats, minute: u64) -> RunCounts {
    history
        .minutes
        .iter()
        .find(|m| m.minute == minute)
        .map_or_else(RunCounts::default, |m| m.runs)
}

pub(super) async fn a_sharded_queue_s_statistics_add_up_over_its_shards(driver: Arc<dyn Driver>) {
    let stats = driver.stats().expect("the case needs statistics");
    let q = unique_queue("shards-stats");
    // A reader that knows nothing of the lane's shards: it finds them in storage.
    let reader = Queue::new(driver.clone());
    let minute = unix_minute(SystemTime::now());
    for index in 0..SHARDS {
        let n = u64::from(index);
        stats
            .record(&shard_lane(&q, index), minute, RunCounts::new(n + 1, n, 1))
            .await
            .unwrap();
    }
    stats
        .record(&shard_lane(&q, 1), minute - 1, RunCounts::new(10, 0, 0))
        .await
        .unwrap();
    let other = Lane::new(&shard_queue(&q, 2, SHARDS), "other").unwrap();
    stats
        .record(&other, minute, RunCounts::new(0, 7, 0))
        .await
        .unwrap();

    // The oldest ready job of the queue is the oldest over its shards: shard 2's, dispatched
    // first (creation times are kept in milliseconds: keep them apart).
    let queue = sharded(&driver);
    let first = queue
        .dispatch(job(&shard_queue(&q, 2, SHARDS), json!(1)))
        .await
        .unwrap()
        .id;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = queue
        .dispatch(job(&shard_queue(&q, 0, SHARDS), json!(2)))
        .await
        .unwrap()
        .id;
    let created = |id: JobId| {
        let queue = &queue;
        let q = &q;
        async move { queue.job(q, &id).await.unwrap().unwrap().created_at }
    };

    let all = reader.stats(&q).await.unwrap();
    assert_eq!(all.queue, q);
    assert_eq!(
        all.totals,
        vec![
            ("other".to_string(), RunCounts::new(0, 7, 0)),
            ("work".to_string(), RunCounts::new(16, 3, 3)),
        ],
        "totals per job name, added up over the shards"
    );
    assert_eq!(all.minutes.len(), crate::STATS_MINUTES as usize);
    assert_eq!(runs_at(&all, minute), RunCounts::new(6, 10, 3), "{all:?}");
    assert_eq!(runs_at(&all, minute - 1), RunCounts::new(10, 0, 0));
    assert_eq!(all.oldest_ready, Some(created(first).await));

    // A shard's own name reads that shard alone.
    let zero = reader.stats(&shard_queue(&q, 0, SHARDS)).await.unwrap();
    assert_eq!(zero.queue, shard_queue(&q, 0, SHARDS));
    assert_eq!(zero.total(), RunCounts::new(1, 0, 1));
    assert_eq!(zero.oldest_ready, Some(created(second).await));
    let one = reader.stats(&shard_queue(&q, 1, SHARDS)).await.unwrap();
    assert_eq!(one.total(), RunCounts::new(12, 1, 1));
    assert_eq!(one.oldest_ready, None);
    // So do the queue's lanes: counted per job name over the shards.
    let lanes = reader.lane_counts(&q).await.unwrap();
    assert_eq!(lanes.len(), 1, "{lanes:?}");
    assert_eq!((lanes[0].0.as_str(), lanes[0].1.ready), ("work", 2));
}

/// An event of job `n` of `queue`, at `at`.
fn event(queue: &str, n: u64, at: SystemTime) -> Event {
    Event {
        kind: EventKind::Completed,
        id: JobId::from(n),
        lane: Lane::new(queue, "work").expect("a lane"),
        attempt: 1,
        duration: Some(Duration::from_millis(n)),
        error: None,
        retry_in: None,
        progress: None,
        at,
    }
}

/// The ids of the next events of `stream`, `n` of them, each within a generous wait.
async fn next_ids(stream: &mut crate::EventStream, n: usize) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut last = String::new();
    for _ in 0..n {
        let (position, event) = stream
            .next_within(Duration::from_secs(10))
            .await
            .expect("read")
            .expect("an event");
        ids.push(event.id.to_string());
        last = position;
    }
    (ids, last)
}

fn numbers(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

pub(super) async fn a_sharded_queue_s_event_logs_are_followed_as_one(driver: Arc<dyn Driver>) {
    let log = driver.event_log().expect("the case needs the event log");
    let q = unique_queue("shards-events");
    // Only shard 1 held a job: a reader that knows nothing of the lane's shards finds it in
    // storage, and with it the other two.
    sharded(&driver)
        .dispatch(job(&shard_queue(&q, 1, SHARDS), json!(0)))
        .await
        .unwrap();
    let reader = Queue::new(driver.clone());
    // Events 0 to 8, spread over the queue's own log and its shards', appended out of their
    // order in time: the stream hands them out earliest first.
    let start = SystemTime::now() - Duration::from_secs(60);
    let at = |n: u64| start + Duration::from_millis(10 * n);
    let logs = [
        (q.clone(), vec![0]),
        (shard_queue(&q, 2, SHARDS), vec![3, 6, 7]),
        (shard_queue(&q, 0, SHARDS), vec![1, 4, 8]),
        (shard_queue(&q, 1, SHARDS), vec![2, 5]),
    ];
    for (name, ns) in &logs {
        let events: Vec<Event> = ns.iter().map(|&n| event(name, n, at(n))).collect();
        log.append(name, &events, 100).await.expect("append");
    }
    let mut stream = reader.follow_events_after(&q, None).await.unwrap();
    let (ids, position) = next_ids(&mut stream, 4).await;
    assert_eq!(ids, numbers(0..4), "earliest first over every log");
    assert_eq!(stream.position(), Some(position.as_str()));
    // The position goes on from there in every log: each event once.
    let mut again = reader
        .follow_events_after(&q, Some(position.clone()))
        .await
        .unwrap();
    assert_eq!(next_ids(&mut again, 5).await.0, numbers(4..9));
    assert_eq!(next_ids(&mut stream, 5).await.0, numbers(4..9));
    let nothing = again
        .next_within(Duration::from_millis(200))
        .await
        .expect("read");
    assert!(nothing.is_none(), "every event came once: {nothing:?}");

    // A shard's own name follows that shard alone, with its log's own positions.
    let mut one = reader
        .follow_events_after(&shard_queue(&q, 1, SHARDS), None)
        .await
        .unwrap();
    let (ids, own) = next_ids(&mut one, 2).await;
    assert_eq!(
        ids,
        numbers(2..3)
            .into_iter()
            .chain(numbers(5..6))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        log.last_position(&shard_queue(&q, 1, SHARDS))
            .await
            .unwrap(),
        Some(own)
    );
    assert!(one
        .next_within(Duration::from_millis(100))
        .await
        .unwrap()
        .is_none());
    // The queue's position is not a shard's.
    let err = reader
        .follow_events_after(&shard_queue(&q, 1, SHARDS), Some(position))
        .await
        .expect_err("a position of the whole queue");
    assert!(matches!(err, Error::InvalidQuery { .. }), "{err}");

    // Following from now: only what comes next, from whichever shard, waking on each.
    let mut live = reader.follow_events(&q).await.unwrap();
    assert!(live
        .next_within(Duration::from_millis(200))
        .await
        .unwrap()
        .is_none());
    for (index, n) in [(2, 20), (0, 21), (2, 22)] {
        let name = shard_queue(&q, index, SHARDS);
        let appending = {
            let driver = driver.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let log = driver.event_log().expect("event log");
                log.append(&name, &[event(&name, n, SystemTime::now())], 100)
                    .await
                    .expect("append");
            })
        };
        let started = std::time::Instant::now();
        assert_eq!(next_ids(&mut live, 1).await.0, [n.to_string()]);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the stream woke on shard {index}'s append, not at a timeout ({:?})",
            started.elapsed()
        );
        appending.await.unwrap();
    }

    // A queue followed before its shards held anything: they are found while following.
    let later = unique_queue("shards-later");
    let mut early = reader.follow_events(&later).await.unwrap();
    assert!(early
        .next_within(Duration::from_millis(100))
        .await
        .unwrap()
        .is_none());
    let name = shard_queue(&later, 2, SHARDS);
    sharded(&driver)
        .dispatch(job(&name, json!(0)))
        .await
        .unwrap();
    log.append(&name, &[event(&name, 30, SystemTime::now())], 100)
        .await
        .expect("append");
    let wait = crate::observe::follow::DISCOVER_EVERY * 3;
    let (position, found) = early
        .next_within(wait)
        .await
        .expect("read")
        .expect("the shard's event, once its shard is found");
    assert_eq!(found.id.to_string(), "30");
    assert!(position.contains("2-of-3="), "{position}");
}
