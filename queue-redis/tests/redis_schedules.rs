//! Schedules on a real Redis: their two hashes live under the queue's hash tag, and one firing
//! of thousands of ticks (a long catch-up) stores them all in one script call.

mod support;

use std::sync::Arc;

use queue_core::{Driver, Fired, NewJob, Queue, Schedule};
use queue_redis::RedisDriver;
use support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_ticks_fire_in_one_step_under_the_queue_hash_tag() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let queue = Queue::new(driver.clone());
    let schedule = Schedule::new("catch-up", "work", "* * * * * *").queue("cron-big");
    queue.add_schedule(schedule.clone()).await.unwrap();
    let stored = queue
        .schedules("cron-big")
        .await
        .unwrap()
        .remove(0)
        .schedule;

    let first = 1_800_000_000_000u64;
    let ticks: Vec<u64> = (0..5000).map(|k| first + k * 1000).collect();
    let jobs = |ticks: &[u64]| -> Vec<(u64, NewJob)> {
        ticks
            .iter()
            .map(|&t| {
                let job = NewJob::named("work", b"null".to_vec())
                    .queue("cron-big")
                    .id(stored.job_id(t));
                (t, job)
            })
            .collect()
    };
    let schedules = driver.schedules().unwrap();
    let outcome = schedules.fire(&stored, jobs(&ticks)).await.unwrap();
    assert_eq!(
        outcome,
        Fired::Ticks {
            fired: ticks.clone(),
            last: ticks.last().copied()
        }
    );
    let counts = queue.counts("cron-big").await.unwrap();
    assert_eq!(counts.ready, 5000, "every tick's job stored");
    let again = schedules.fire(&stored, jobs(&ticks)).await.unwrap();
    assert_eq!(
        again,
        Fired::Ticks {
            fired: vec![],
            last: ticks.last().copied()
        }
    );
    assert_eq!(queue.counts("cron-big").await.unwrap().ready, 5000);
    let job = queue
        .job("cron-big", &stored.job_id(first + 4_999_000))
        .await
        .unwrap()
        .expect("the last tick's job");
    assert_eq!(job.name, "work");

    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*schedules*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "{queue:cron-big}:schedules",
            "{queue:cron-big}:schedules:state"
        ],
        "both under the queue's hash tag, beside its jobs"
    );
}

/// A definition stored as text this version prints otherwise once parsed (a float that does
/// not survive parse and print, a field order of another writer) is the same definition: it
/// fires, rather than reading as changed on every tick (the scheduler then fired nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_stored_as_other_text_still_fires() {
    let server = RedisServer::start();
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&server.url()).await.unwrap());
    let queue = Queue::new(driver.clone());
    let payload = serde_json::json!({ "p": 985.6906946328695 });
    let schedule = Schedule::new("floats", "work", "* * * * * *")
        .queue("cron-text")
        .payload(payload);
    queue.add_schedule(schedule).await.unwrap();
    let stored = queue
        .schedules("cron-text")
        .await
        .unwrap()
        .remove(0)
        .schedule;
    let mut conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let text: String = redis::cmd("HGET")
        .arg("{queue:cron-text}:schedules")
        .arg("floats")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_ne!(
        text,
        stored.to_json(),
        "the stored text prints otherwise once parsed (else this test shows nothing)"
    );

    let tick = 1_800_000_000_000u64;
    let job = NewJob::named("work", b"null".to_vec())
        .queue("cron-text")
        .id(stored.job_id(tick));
    let outcome = driver
        .schedules()
        .unwrap()
        .fire(&stored, vec![(tick, job)])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Fired::Ticks {
            fired: vec![tick],
            last: Some(tick)
        }
    );
    assert_eq!(queue.counts("cron-text").await.unwrap().ready, 1);

    // A definition really replaced is still a change.
    let other = Schedule::new("floats", "work", "0 * * * * *").queue("cron-text");
    queue.replace_schedule(other).await.unwrap();
    let job = NewJob::named("work", b"null".to_vec())
        .queue("cron-text")
        .id(stored.job_id(tick + 1000));
    let outcome = driver
        .schedules()
        .unwrap()
        .fire(&stored, vec![(tick + 1000, job)])
        .await
        .unwrap();
    assert_eq!(outcome, Fired::Changed);
}
