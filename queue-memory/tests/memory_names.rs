//! Names that never held a job cost nothing: asking for work, waiting, reaping or reporting
//! progress on a queue that does not exist does not create it, and a purged queue keeps only its counter.

use std::sync::Arc;
use std::time::Duration;

use queue_core::testing::job;
use queue_core::Admin;
use queue_core::{Driver, Lane, Lease};
use queue_memory::MemoryDriver;
use serde_json::json;

#[tokio::test]
async fn unknown_queues_are_not_created_by_workers() {
    let driver = MemoryDriver::new();
    for n in 0..100 {
        let lane = Lane::new(&format!("user-input-{n}"), "work").unwrap();
        let lease = Lease {
            id: "1".into(),
            token: 1,
        };
        let taken = driver
            .ack_and_reserve(
                &lane,
                std::slice::from_ref(&lease),
                5,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(taken.0, [false]);
        assert!(taken.1.jobs.is_empty());
        driver
            .wait(&lane, Some(Duration::from_millis(1)))
            .await
            .unwrap();
        assert_eq!(driver.reap(&lane).await.unwrap(), 0);
        assert!(!driver.progress(&lane, &lease, json!(1)).await.unwrap());
    }
    assert_eq!(driver.queues().await.unwrap(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_on_a_queue_not_yet_created_ends_when_a_job_arrives() {
    let driver = Arc::new(MemoryDriver::new());
    let lane = Lane::new("later", "work").unwrap();
    let waiting = {
        let (driver, lane) = (driver.clone(), lane.clone());
        tokio::spawn(async move { driver.wait(&lane, None).await })
    };
    // Give the wait time to start; it must end because of the job, whenever it started.
    tokio::time::sleep(Duration::from_millis(50)).await;
    driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the wait ends when the queue gets a job")
        .unwrap()
        .unwrap();
    let got = driver
        .reserve(&lane, 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got.jobs.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_queue_keeps_its_counter_and_its_waiting_workers() {
    let driver = Arc::new(MemoryDriver::new());
    let lane = Lane::new("purged", "work").unwrap();
    let old = driver.enqueue(vec![job(&lane, json!(1))]).await.unwrap()[0]
        .id
        .clone();
    let waiting = {
        let (driver, lane) = (driver.clone(), lane.clone());
        tokio::spawn(async move {
            // A worker's loop: reserve, and wait while there is nothing.
            loop {
                let got = driver
                    .reserve(&lane, 1, Duration::from_secs(5))
                    .await
                    .unwrap();
                if let Some(job) = got.jobs.into_iter().next() {
                    if job.payload.as_ref() == b"2" {
                        return job.id;
                    }
                    continue;
                }
                driver.wait(&lane, None).await.unwrap();
            }
        })
    };
    driver.purge("purged").await.unwrap();
    driver.enqueue(vec![job(&lane, json!(2))]).await.unwrap();
    let new = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the waiting worker takes the job dispatched after the purge")
        .unwrap();
    assert_ne!(new, old, "ids are not reused after a purge");

    // A paused queue keeps its flag across a purge.
    driver.pause("purged").await.unwrap();
    driver.purge("purged").await.unwrap();
    assert!(driver.counts("purged").await.unwrap().paused);
}
