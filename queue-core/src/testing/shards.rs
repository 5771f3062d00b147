//! Conformance cases of sharded lanes ([`Queue::shard`], `#[job(shards = n)]`): a lane split
//! into storage queues of its own, dispatched in turn or by key, each keeping the lane's order
//! (FIFO, priority, delays), and a queue's inspection and administration covering its shards.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::unique_queue;
use crate::driver::Driver;
use crate::job::{
    parse_shard_queue, shard_queue, Failure, JobId, JobQuery, JobState, Lane, NewJob, ReservedJob,
};
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
