//! Conformance cases of large payloads: whatever a driver does with big payloads (the Redis
//! driver stores them beside their records), every path that shows or hands out a job gives
//! its payload back whole, and every path that ends a job for good lets it go.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{reserve_n, unique_queue};
use crate::driver::{Admin, Driver};
use crate::job::{Failure, JobId, JobQuery, JobState, Lane, NewJob, ReservedJob};

const LEASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(5);

fn admin(driver: &Arc<dyn Driver>) -> &dyn Admin {
    driver.admin().expect(
        "this case needs the driver's inspection and administration (Driver::capabilities().admin)",
    )
}

/// A payload of `len` bytes that differs from job to job (`seed`) and from byte to byte, as
/// valid JSON.
fn payload(seed: usize, len: usize) -> Bytes {
    let mut text = format!("{{\"seed\":{seed},\"text\":\"");
    let mut x = seed as u32 ^ 0x9e37_79b9;
    while text.len() < len.saturating_sub(2) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        text.push(char::from(b'a' + (x % 26) as u8));
    }
    text.push_str("\"}");
    Bytes::from(text)
}

/// Jobs with payloads from a few bytes to 1 MB, dispatched in one batch and alone, come back
/// whole from reserve, from the listings and from a lookup, through a failure and a retry of
/// the failed job; after they end, nothing of them is left to count.
pub(super) async fn large_payloads_come_back_whole_from_every_path(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("large"), "work").expect("valid lane");
    let sizes = [10, 9_000, 70_000, 1 << 20, 20_000];
    let sent: Vec<Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| payload(i, len))
        .collect();
    let batch = sent[..4]
        .iter()
        .map(|p| NewJob::named(lane.job(), p.clone()).queue(lane.queue()))
        .collect();
    let mut ids: Vec<JobId> = driver
        .enqueue(batch)
        .await
        .expect("enqueue a batch")
        .into_iter()
        .map(|d| d.id)
        .collect();
    let lone = NewJob::named(lane.job(), sent[4].clone()).queue(lane.queue());
    ids.push(
        driver.enqueue(vec![lone]).await.expect("enqueue one")[0]
            .id
            .clone(),
    );
    let by_id = |id: &JobId| sent[ids.iter().position(|i| i == id).expect("a sent id")].clone();

    let page = admin(&driver)
        .list_jobs(lane.queue(), &JobQuery::new(JobState::Ready).limit(10))
        .await
        .expect("list ready jobs");
    assert_eq!(page.jobs.len(), 5);
    for job in &page.jobs {
        assert!(
            job.payload == by_id(&job.id),
            "listed payload of {}",
            job.id
        );
    }

    let taken: Vec<ReservedJob> = reserve_n(&driver, &lane, 5, LEASE, LIMIT).await;
    for job in &taken {
        assert!(
            job.payload == by_id(&job.id),
            "reserved payload of {}",
            job.id
        );
    }

    // The biggest fails for good: the failed list and a lookup show its payload, and a retry
    // hands it out whole again.
    let big = taken
        .iter()
        .find(|j| j.payload.len() == 1 << 20)
        .expect("the 1 MB job");
    let failed = driver
        .fail(&lane, &big.lease(), Failure::fail("too big to handle"))
        .await
        .expect("fail");
    assert!(failed);
    let listed = admin(&driver)
        .failed(lane.queue(), 0, 10)
        .await
        .expect("failed list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].payload == big.payload, "failed list payload");
    let shown = admin(&driver)
        .job(lane.queue(), &big.id)
        .await
        .expect("lookup")
        .expect("the failed job");
    assert!(shown.payload == big.payload, "looked-up payload");
    assert_eq!(
        admin(&driver)
            .retry_failed(lane.queue(), Some(&big.id))
            .await
            .expect("retry the failed job"),
        1
    );
    let again = reserve_n(&driver, &lane, 1, LEASE, LIMIT).await;
    assert_eq!(again[0].id, big.id);
    assert!(again[0].payload == big.payload, "payload after the retry");

    let leases: Vec<_> = taken
        .iter()
        .filter(|j| j.id != big.id)
        .chain(&again)
        .map(ReservedJob::lease)
        .collect();
    assert!(driver
        .ack(&lane, &leases)
        .await
        .expect("ack")
        .iter()
        .all(|&a| a));
    for id in &ids {
        let gone = admin(&driver).job(lane.queue(), id).await.expect("lookup");
        assert!(gone.is_none(), "job {id} left something behind");
    }
    let counts = admin(&driver).counts(lane.queue()).await.expect("counts");
    assert_eq!((counts.ready, counts.active, counts.failed), (0, 0, 0));
}

/// A deleted job and a purged queue let their big payloads go; a job deleted while another
/// of the same payload waits leaves that one whole.
pub(super) async fn deleting_and_purging_let_large_payloads_go(driver: Arc<dyn Driver>) {
    let lane = Lane::new(&unique_queue("large-gone"), "work").expect("valid lane");
    let jobs = (0..3)
        .map(|i| NewJob::named(lane.job(), payload(i, 50_000)).queue(lane.queue()))
        .collect();
    let ids: Vec<JobId> = driver
        .enqueue(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert!(admin(&driver)
        .delete(lane.queue(), &ids[0])
        .await
        .expect("delete"));
    assert!(admin(&driver)
        .job(lane.queue(), &ids[0])
        .await
        .expect("lookup")
        .is_none());
    let rest = reserve_n(&driver, &lane, 2, LEASE, LIMIT).await;
    assert!(rest[0].payload == payload(1, 50_000));
    assert!(rest[1].payload == payload(2, 50_000));
    admin(&driver).purge(lane.queue()).await.expect("purge");
    let counts = admin(&driver).counts(lane.queue()).await.expect("counts");
    assert_eq!((counts.ready, counts.active), (0, 0));
}
