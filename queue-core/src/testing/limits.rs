//! Conformance cases of rate and concurrency limits ([`Limits`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{job, unique_queue};
use crate::driver::{Driver, Limits};
use crate::job::{Lane, LimitSpec, Rate, Reservation};

const LEASE: Duration = Duration::from_secs(30);

fn limits(driver: &Arc<dyn Driver>) -> &dyn Limits {
    driver
        .limits()
        .expect("the case needs rate and concurrency limits")
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "limited").expect("valid lane")
}

async fn fill(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) {
    let jobs = (0..n).map(|i| job(lane, json!({ "n": i }))).collect();
    driver.enqueue(jobs).await.expect("enqueue");
}

async fn take(driver: &Arc<dyn Driver>, lane: &Lane, max: usize, spec: &LimitSpec) -> Reservation {
    limits(driver)
        .ack_and_reserve_limited(lane, &[], max, LEASE, spec)
        .await
        .expect("limited reserve")
        .1
}

fn rate(count: u32, ms: u64) -> LimitSpec {
    LimitSpec::default().with_rate(Rate::new(count, Duration::from_millis(ms)).expect("rate"))
}

/// A rate of 3 per 400ms hands out 3 jobs, then none until the window frees (saying when,
/// so a worker sleeps rather than polls), then 3 more; jobs held back spend no attempt.
pub(super) async fn rate_limit_holds_starts_within_the_window(driver: Arc<dyn Driver>) {
    let lane = lane("rate");
    fill(&driver, &lane, 8).await;
    let spec = rate(3, 400);
    let began = Instant::now();
    let first = take(&driver, &lane, 10, &spec).await;
    assert_eq!(first.jobs.len(), 3, "the window allows 3 starts");
    let held = take(&driver, &lane, 10, &spec).await;
    assert!(held.jobs.is_empty(), "a full window hands out nothing");
    let wait = held
        .next_due
        .expect("a held-back reserve says when the window frees");
    assert!(
        wait <= Duration::from_millis(400) && wait >= Duration::from_millis(200),
        "the window frees about 400ms after the first starts, not {wait:?} later"
    );
    // Waiting less than the window hands out nothing more.
    tokio::time::sleep(wait.saturating_sub(Duration::from_millis(150))).await;
    assert!(take(&driver, &lane, 10, &spec).await.jobs.is_empty());
    // Once it passed, the next 3.
    let deadline = began + Duration::from_secs(5);
    let mut second = Vec::new();
    while second.is_empty() {
        assert!(Instant::now() < deadline, "the window never freed");
        let r = take(&driver, &lane, 10, &spec).await;
        if r.jobs.is_empty() {
            tokio::time::sleep(r.next_due.unwrap_or(Duration::from_millis(20))).await;
        }
        second = r.jobs;
    }
    assert!(
        began.elapsed() >= Duration::from_millis(400),
        "the second batch started {:?} after the first, inside the window",
        began.elapsed()
    );
    assert_eq!(second.len(), 3, "a freed window allows 3 starts again");
    // The starts the jobs carry are those the window counted: a window apart.
    let start = |j: &crate::job::ReservedJob| j.started_at.expect("a limited reserve's start");
    let (opened, reopened) = (start(&first.jobs[0]), start(&second[0]));
    assert!(
        first.jobs.iter().all(|j| start(j) == opened)
            && second.iter().all(|j| start(j) == reopened),
        "one reservation, one start"
    );
    let apart = reopened.duration_since(opened).unwrap_or_default();
    assert!(
        apart >= Duration::from_millis(400),
        "the starts carried are {apart:?} apart, inside the window of 400ms"
    );
    for j in first.jobs.iter().chain(&second) {
        assert_eq!(j.attempt, 1, "jobs held back by the limit spend no attempt");
    }
}

/// The window counts the starts of every caller: two workers asking in turn share 3 starts.
pub(super) async fn rate_limit_is_shared_by_every_caller(driver: Arc<dyn Driver>) {
    let lane = lane("rate-shared");
    fill(&driver, &lane, 6).await;
    let spec = rate(3, 60_000);
    let a = take(&driver, &lane, 2, &spec).await;
    let other: Arc<dyn Driver> = driver.clone();
    let b = take(&other, &lane, 2, &spec).await;
    let c = take(&driver, &lane, 2, &spec).await;
    assert_eq!(
        (a.jobs.len(), b.jobs.len(), c.jobs.len()),
        (2, 1, 0),
        "3 starts per window, whoever asks"
    );
    // A plain reserve of another lane is not limited.
    let free = Lane::new(lane.queue(), "free").unwrap();
    fill(&driver, &free, 4).await;
    let r = driver.reserve(&free, 4, LEASE).await.unwrap();
    assert_eq!(r.jobs.len(), 4, "other lanes are not held back");
}

/// At most 2 jobs leased at once: a third waits until one is settled (which wakes a waiting
/// worker) or its lease expires.
pub(super) async fn global_concurrency_bounds_leased_jobs(driver: Arc<dyn Driver>) {
    let lane = lane("concurrency");
    fill(&driver, &lane, 5).await;
    let spec = LimitSpec::default().with_concurrency(2).unwrap();
    let first = take(&driver, &lane, 5, &spec).await;
    assert_eq!(first.jobs.len(), 2, "2 slots");
    let held = take(&driver, &lane, 5, &spec).await;
    assert!(held.jobs.is_empty(), "no free slot");
    assert!(
        held.next_due.is_some_and(|d| d <= LEASE),
        "a held-back reserve sleeps at most until the earliest lease ends: {:?}",
        held.next_due
    );
    // A waiting worker is woken once a slot is freed.
    let waiter = {
        let driver = driver.clone();
        let lane = lane.clone();
        tokio::spawn(async move {
            let began = Instant::now();
            driver
                .wait(&lane, Some(Duration::from_secs(10)))
                .await
                .unwrap();
            began.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acked = driver.ack(&lane, &[first.jobs[0].lease()]).await.unwrap();
    assert_eq!(acked, [true]);
    limits(&driver).released(&lane, &spec).await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(5),
        "the freed slot woke the waiting worker (it waited {waited:?})"
    );
    let next = take(&driver, &lane, 5, &spec).await;
    assert_eq!(next.jobs.len(), 1, "one slot was freed");
    // Expired leases free their slots.
    let short = Duration::from_millis(200);
    let all = LimitSpec::default().with_concurrency(2).unwrap();
    let other = Lane::new(lane.queue(), "short").unwrap();
    fill(&driver, &other, 4).await;
    let r = limits(&driver)
        .ack_and_reserve_limited(&other, &[], 4, short, &all)
        .await
        .unwrap()
        .1;
    assert_eq!(r.jobs.len(), 2);
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    let r = take(&driver, &other, 4, &all).await;
    assert_eq!(r.jobs.len(), 2, "the expired leases' slots are free again");
}

/// A postponed job goes back without spending its attempt, and the lane's limited reserves
/// hand out nothing until the pause ends; a stale lease changes nothing.
pub(super) async fn postpone_pauses_the_lane_without_spending_attempts(driver: Arc<dyn Driver>) {
    let lane = lane("postpone");
    fill(&driver, &lane, 3).await;
    let spec = rate(1000, 1000);
    let first = take(&driver, &lane, 1, &spec).await;
    let job = &first.jobs[0];
    assert_eq!(job.attempt, 1);
    let pause = Duration::from_millis(400);
    let began = Instant::now();
    assert!(limits(&driver)
        .postpone(&lane, &job.lease(), pause)
        .await
        .unwrap());
    assert!(
        !limits(&driver)
            .postpone(&lane, &job.lease(), pause)
            .await
            .unwrap(),
        "a lease already settled is stale"
    );
    let held = take(&driver, &lane, 3, &spec).await;
    assert!(held.jobs.is_empty(), "the lane is paused");
    let wait = held.next_due.expect("a paused lane says when it resumes");
    assert!(wait <= pause, "resumes within the pause, not {wait:?}");
    let mut got = Vec::new();
    while got.len() < 3 {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the pause never ended"
        );
        let r = take(&driver, &lane, 3 - got.len(), &spec).await;
        if r.jobs.is_empty() {
            tokio::time::sleep(r.next_due.unwrap_or(Duration::from_millis(20))).await;
        }
        got.extend(r.jobs);
    }
    assert!(began.elapsed() >= pause, "jobs started inside the pause");
    let again = got
        .iter()
        .find(|j| j.id == job.id)
        .expect("the postponed job comes back");
    assert_eq!(again.attempt, 1, "a postponed run spends no attempt");
}

/// The limited reserve acks what it is given, like the plain one, and a paused queue hands out
/// nothing through it either.
pub(super) async fn limited_reserve_acks_and_keeps_to_a_pause(driver: Arc<dyn Driver>) {
    let lane = lane("limited-ack");
    fill(&driver, &lane, 4).await;
    let spec = rate(100, 60_000);
    let first = take(&driver, &lane, 2, &spec).await;
    assert_eq!(first.jobs.len(), 2);
    let done: Vec<_> = first.jobs.iter().map(|j| j.lease()).collect();
    let (acked, next) = limits(&driver)
        .ack_and_reserve_limited(&lane, &done, 1, LEASE, &spec)
        .await
        .unwrap();
    assert_eq!(acked, [true, true], "both leases were current");
    assert_eq!(next.jobs.len(), 1);
    let (again, _) = limits(&driver)
        .ack_and_reserve_limited(&lane, &done, 0, LEASE, &spec)
        .await
        .unwrap();
    assert_eq!(again, [false, false], "a second ack reports stale leases");
    let admin = driver.admin().expect("the case needs administration");
    admin.pause(lane.queue()).await.unwrap();
    assert!(
        take(&driver, &lane, 4, &spec).await.jobs.is_empty(),
        "a paused queue hands out nothing"
    );
    admin.resume(lane.queue()).await.unwrap();
    assert_eq!(take(&driver, &lane, 4, &spec).await.jobs.len(), 1);
    assert_eq!(admin.counts(lane.queue()).await.unwrap().active, 2);
}

/// Big batches under a wide rate: every job is handed out once, the window counts them all.
pub(super) async fn limited_reserve_takes_big_batches(driver: Arc<dyn Driver>) {
    let lane = lane("limited-big");
    let total = 12_000;
    for chunk in (0..total).collect::<Vec<usize>>().chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|i| job(&lane, json!({ "n": i })))
            .collect();
        driver.enqueue(jobs).await.expect("enqueue");
    }
    let spec = rate(10_000, 60_000);
    let mut seen = std::collections::HashSet::new();
    loop {
        let r = take(&driver, &lane, 1000, &spec).await;
        if r.jobs.is_empty() {
            assert!(r.next_due.is_some(), "the full window says when it frees");
            break;
        }
        for j in r.jobs {
            assert!(seen.insert(j.id), "a job handed out twice");
        }
    }
    assert_eq!(seen.len(), 10_000, "exactly the window's count");
}
