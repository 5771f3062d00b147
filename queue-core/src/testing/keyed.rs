//! Conformance cases of limits held per rate key and round-robin service of keys
//! ([`KeyedLimits`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::{job, unique_queue};
use crate::driver::Driver;
use crate::job::{JobId, Lane, LimitSpec, Rate, Reservation, ReservedJob};
use crate::KeyedLimits;

const LEASE: Duration = Duration::from_secs(30);

fn keyed(driver: &Arc<dyn Driver>) -> &dyn KeyedLimits {
    driver
        .keyed_limits()
        .expect("the case needs limits per rate key")
}

fn lane(prefix: &str) -> Lane {
    Lane::new(&unique_queue(prefix), "keyed").expect("valid lane")
}

/// Dispatches `n` jobs of `key` (payload `{"key": key, "n": i}`); returns their ids.
async fn fill(driver: &Arc<dyn Driver>, lane: &Lane, key: &str, n: usize) -> Vec<JobId> {
    let jobs = (0..n)
        .map(|i| job(lane, json!({ "key": key, "n": i })).rate_key(key))
        .collect();
    keyed(driver)
        .enqueue_keyed(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

async fn take(driver: &Arc<dyn Driver>, lane: &Lane, max: usize, spec: &LimitSpec) -> Reservation {
    keyed(driver)
        .ack_and_reserve_keyed(lane, &[], max, LEASE, spec)
        .await
        .expect("keyed reserve")
        .1
}

/// The key a job of [`fill`] was dispatched with.
fn key_of(job: &ReservedJob) -> String {
    let value: serde_json::Value =
        serde_json::from_slice(crate::strip_trace_context(&job.payload)).expect("json payload");
    value["key"].as_str().expect("a key").to_owned()
}

fn spec(rate: Option<(u32, u64)>, concurrency: Option<u32>) -> LimitSpec {
    let mut spec = LimitSpec::default().per_key();
    if let Some((count, ms)) = rate {
        spec = spec.with_rate(Rate::new(count, Duration::from_millis(ms)).expect("rate"));
    }
    if let Some(max) = concurrency {
        spec = spec.with_concurrency(max).expect("concurrency");
    }
    spec
}

/// Rate 2 per 300ms per key: over about a second, no window of any key holds more than 2
/// starts (start times as the driver recorded them), one key held back never holds back the
/// other, and held-back reserves say when to come back.
pub(super) async fn keyed_rate_holds_each_key_apart(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-rate");
    fill(&driver, &lane, "a", 6).await;
    fill(&driver, &lane, "b", 6).await;
    let spec = spec(Some((2, 300)), None);
    let admin = driver.admin().expect("the case needs administration");
    let first = take(&driver, &lane, 10, &spec).await;
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for j in &first.jobs {
        *per_key.entry(key_of(j)).or_default() += 1;
    }
    assert_eq!(
        (per_key.get("a"), per_key.get("b")),
        (Some(&2), Some(&2)),
        "each key starts its window's 2 at once, whatever the other does"
    );
    let wait = first.next_due.expect("held-back keys say when they free");
    assert!(wait <= Duration::from_millis(300), "{wait:?}");
    let mut starts: HashMap<String, Vec<SystemTime>> = HashMap::new();
    let mut record = async |jobs: &[ReservedJob]| {
        for j in jobs {
            let info = admin
                .job(lane.queue(), &j.id)
                .await
                .unwrap()
                .expect("a leased job exists");
            let at = j.started_at.expect("a keyed reserve hands out the start");
            assert_eq!(info.started_at, Some(at), "the start the storage keeps");
            starts.entry(key_of(j)).or_default().push(at);
            assert_eq!(j.attempt, 1, "held-back jobs spend no attempt");
        }
    };
    record(&first.jobs).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = first.jobs.len();
    while got < 12 {
        assert!(Instant::now() < deadline, "only {got} of 12 jobs started");
        let r = take(&driver, &lane, 10, &spec).await;
        if r.jobs.is_empty() {
            let wait = r.next_due.expect("held back jobs say when they may start");
            assert!(wait <= Duration::from_millis(300), "{wait:?}");
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
        got += r.jobs.len();
        record(&r.jobs).await;
    }
    for (key, mut times) in starts {
        times.sort();
        assert_eq!(times.len(), 6);
        for pair in times.windows(3) {
            let span = pair[2].duration_since(pair[0]).unwrap_or_default();
            // The starts reported are those the windows counted.
            assert!(
                span >= Duration::from_millis(300),
                "key {key}: 3 starts within {span:?}, the window allows 2 per 300ms"
            );
        }
    }
}

/// A key with a long line does not hold up a key dispatched after it: with one start per
/// reserve, the later key's job starts within one round.
pub(super) async fn a_flooded_key_does_not_delay_another(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-flood");
    fill(&driver, &lane, "flood", 200).await;
    fill(&driver, &lane, "quiet", 1).await;
    let spec = spec(Some((10_000, 60_000)), None);
    let mut order = Vec::new();
    for _ in 0..3 {
        let r = take(&driver, &lane, 1, &spec).await;
        order.extend(r.jobs.iter().map(key_of));
    }
    assert!(
        order.iter().take(2).any(|k| k == "quiet"),
        "the quiet key waited behind the flood: {order:?}"
    );
}

/// Keys A with 1,000 waiting jobs and B and C with 10 each: served round robin, B and C are
/// done within the first 30 starts, and each key's jobs start in dispatch order.
pub(super) async fn keys_are_served_round_robin(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-fair");
    fill(&driver, &lane, "a", 1000).await;
    fill(&driver, &lane, "b", 10).await;
    fill(&driver, &lane, "c", 10).await;
    let spec = spec(Some((100_000, 60_000)), None);
    let mut started = Vec::new();
    while started.len() < 40 {
        let r = take(&driver, &lane, 7, &spec).await;
        assert!(!r.jobs.is_empty(), "jobs wait");
        started.extend(r.jobs);
    }
    let done_by = |key: &str| {
        started
            .iter()
            .enumerate()
            .filter(|(_, j)| key_of(j) == key)
            .map(|(i, _)| i + 1)
            .nth(9)
    };
    for key in ["b", "c"] {
        let at = done_by(key).unwrap_or(usize::MAX);
        assert!(at <= 30, "key {key}'s 10 jobs took {at} starts");
    }
    let mut last: HashMap<String, u64> = HashMap::new();
    for j in &started {
        let value: serde_json::Value = serde_json::from_slice(&j.payload).unwrap();
        let n = value["n"].as_u64().unwrap();
        if let Some(before) = last.insert(key_of(j), n) {
            assert!(before < n, "a key's jobs start in dispatch order");
        }
    }
}

/// Within a round, keys start in the order they joined it (their dispatch order here), the
/// same in every driver: keys dispatched as `zeta`, `alpha`, `mid` start in that order, round
/// after round.
pub(super) async fn keys_of_a_round_start_in_the_order_they_joined(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-order");
    for key in ["zeta", "alpha", "mid"] {
        fill(&driver, &lane, key, 2).await;
    }
    let spec = spec(Some((100, 60_000)), None);
    let mut order = Vec::new();
    for _ in 0..6 {
        let r = take(&driver, &lane, 1, &spec).await;
        order.extend(r.jobs.iter().map(key_of));
    }
    assert_eq!(order, ["zeta", "alpha", "mid", "zeta", "alpha", "mid"]);
}

/// Concurrency 1 per key: one running job per key, the others wait while other keys run;
/// an ack with the reserve frees the key's slot, and `released_keyed` lets a waiting worker
/// take one freed by a settle elsewhere.
pub(super) async fn keyed_concurrency_bounds_each_key(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-conc");
    fill(&driver, &lane, "a", 3).await;
    fill(&driver, &lane, "b", 3).await;
    let spec = spec(None, Some(1));
    let first = take(&driver, &lane, 10, &spec).await;
    let mut keys: Vec<String> = first.jobs.iter().map(key_of).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"], "one running job per key");
    let held = take(&driver, &lane, 10, &spec).await;
    assert!(held.jobs.is_empty(), "every key's slot is taken");
    assert!(
        held.next_due.is_some_and(|d| d <= LEASE),
        "held back at most until the earliest lease ends: {:?}",
        held.next_due
    );
    // Ack a's job with the next reserve: a's slot is free again.
    let a = first.jobs.iter().find(|j| key_of(j) == "a").unwrap();
    let (acked, next) = keyed(&driver)
        .ack_and_reserve_keyed(&lane, &[a.lease()], 10, LEASE, &spec)
        .await
        .unwrap();
    assert_eq!(acked, [true]);
    assert_eq!(next.jobs.iter().map(key_of).collect::<Vec<_>>(), ["a"]);
    // Settled apart: released_keyed frees b's slot and wakes a waiting worker.
    let b = first.jobs.iter().find(|j| key_of(j) == "b").unwrap();
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
    assert_eq!(driver.ack(&lane, &[b.lease()]).await.unwrap(), [true]);
    keyed(&driver).released_keyed(&lane, &spec).await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
    let r = take(&driver, &lane, 10, &spec).await;
    assert_eq!(r.jobs.iter().map(key_of).collect::<Vec<_>>(), ["b"]);
}

/// A key's slot held by a lease that expired (its worker died) is free once the lease ends.
pub(super) async fn an_expired_lease_frees_its_key_slot(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-lease");
    fill(&driver, &lane, "a", 2).await;
    let spec = spec(None, Some(1));
    let short = Duration::from_millis(200);
    let first = keyed(&driver)
        .ack_and_reserve_keyed(&lane, &[], 5, short, &spec)
        .await
        .unwrap()
        .1;
    assert_eq!(first.jobs.len(), 1);
    let held = take(&driver, &lane, 5, &spec).await;
    assert!(held.jobs.is_empty(), "the key's slot is held");
    let wait = held.next_due.expect("says when the lease ends");
    assert!(wait <= short, "{wait:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(
            Instant::now() < deadline,
            "the expired lease never freed the slot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = take(&driver, &lane, 5, &spec).await;
        if !r.jobs.is_empty() {
            assert_eq!(r.jobs.len(), 1, "still one at a time");
            assert_eq!(
                r.jobs[0].id, first.jobs[0].id,
                "the reaped job goes first, its attempt not spent"
            );
            assert_eq!(r.jobs[0].attempt, 1);
            break;
        }
    }
}

/// `postpone_key` pauses the job's key, not the lane: the other key goes on, the paused key
/// starts again once its pause ends, and the postponed job spends no attempt.
pub(super) async fn postpone_pauses_only_the_key(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-pause");
    fill(&driver, &lane, "a", 3).await;
    fill(&driver, &lane, "b", 3).await;
    let spec = spec(Some((1000, 1000)), None);
    let first = take(&driver, &lane, 1, &spec).await;
    let j = &first.jobs[0];
    let paused_key = key_of(j);
    let pause = Duration::from_millis(400);
    let began = Instant::now();
    assert!(keyed(&driver)
        .postpone_key(&lane, &j.lease(), pause)
        .await
        .unwrap());
    assert!(
        !keyed(&driver)
            .postpone_key(&lane, &j.lease(), pause)
            .await
            .unwrap(),
        "a settled lease is stale"
    );
    // A job of the paused key dispatched during the pause waits for it too.
    let late = job(&lane, json!({ "key": paused_key, "n": 9 })).rate_key(paused_key.as_str());
    keyed(&driver).enqueue_keyed(vec![late]).await.unwrap();
    let r = take(&driver, &lane, 10, &spec).await;
    assert_eq!(r.jobs.len(), 3, "the other key's 3 jobs start");
    assert!(
        r.jobs.iter().all(|j| key_of(j) != paused_key),
        "the paused key waits"
    );
    let wait = r.next_due.expect("a paused key says when it resumes");
    assert!(wait <= pause, "{wait:?}");
    let mut got = Vec::new();
    while got.len() < 3 {
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the pause never ended"
        );
        let r = take(&driver, &lane, 10, &spec).await;
        if r.jobs.is_empty() {
            tokio::time::sleep(r.next_due.unwrap_or(Duration::from_millis(20))).await;
        }
        got.extend(r.jobs);
    }
    // The storage counts the pause on its own clock of whole milliseconds, which may read up
    // to a millisecond behind this one.
    assert!(
        began.elapsed() + Duration::from_millis(1) >= pause,
        "the paused key started inside its pause"
    );
    let again = got
        .iter()
        .find(|g| g.id == j.id)
        .expect("the postponed job comes back");
    assert_eq!(again.attempt, 1, "a postponed run spends no attempt");
}

/// Waiting keyed jobs are ready jobs for inspection: counted, and deleting one means it never
/// starts; a delayed keyed job starts once due.
pub(super) async fn keyed_jobs_are_seen_and_deleted_as_ready_jobs(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-admin");
    let ids = fill(&driver, &lane, "a", 3).await;
    let later = job(&lane, json!({ "key": "b", "n": 0 }))
        .rate_key("b")
        .delay(Duration::from_millis(200));
    keyed(&driver).enqueue_keyed(vec![later]).await.unwrap();
    let admin = driver.admin().expect("the case needs administration");
    let counts = admin.counts(lane.queue()).await.unwrap();
    assert_eq!((counts.ready, counts.scheduled), (3, 1));
    assert!(admin.delete(lane.queue(), &ids[1]).await.unwrap());
    let spec = spec(Some((100, 60_000)), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "only {} of 3 jobs started",
            got.len()
        );
        let r = take(&driver, &lane, 10, &spec).await;
        if r.jobs.is_empty() {
            tokio::time::sleep(r.next_due.unwrap_or(Duration::from_millis(20))).await;
        }
        got.extend(r.jobs);
    }
    assert!(
        got.iter().all(|j| j.id != ids[1]),
        "a deleted job never starts"
    );
    assert_eq!(
        got.iter().filter(|j| key_of(j) == "b").count(),
        1,
        "the delayed job started"
    );
    let r = take(&driver, &lane, 10, &spec).await;
    assert!(r.jobs.is_empty());
    assert_eq!(admin.counts(lane.queue()).await.unwrap().ready, 0);
}

/// A waiting keyed job deleted, then dispatched again with its id under another key, starts
/// under its new key only: its old key's line does not start it, so the new key's concurrency
/// (one here) holds: of the new key's two jobs, one starts.
pub(super) async fn a_job_dispatched_again_under_another_key_counts_for_that_key(
    driver: Arc<dyn Driver>,
) {
    let lane = lane("keyed-moved");
    let moved = JobId::from("moved-1");
    let first = job(&lane, json!({ "key": "a", "n": 0 }))
        .rate_key("a")
        .id(moved.as_str());
    keyed(&driver).enqueue_keyed(vec![first]).await.unwrap();
    let admin = driver.admin().expect("the case needs administration");
    assert!(admin.delete(lane.queue(), &moved).await.unwrap());
    let again = vec![
        job(&lane, json!({ "key": "b", "n": 0 }))
            .rate_key("b")
            .id(moved.as_str()),
        job(&lane, json!({ "key": "b", "n": 1 })).rate_key("b"),
    ];
    let stored = keyed(&driver).enqueue_keyed(again).await.unwrap();
    assert!(stored.iter().all(|d| d.created));
    let spec = spec(None, Some(1));
    let r = take(&driver, &lane, 10, &spec).await;
    let started: Vec<_> = r.jobs.iter().map(|j| (j.id.clone(), key_of(j))).collect();
    assert_eq!(started, [(moved.clone(), "b".to_string())]);
    let r = take(&driver, &lane, 10, &spec).await;
    assert!(
        r.jobs.is_empty(),
        "key b already runs one job: {:?}",
        r.jobs.iter().map(|j| &j.id).collect::<Vec<_>>()
    );
}

/// A keyed job deleted while it runs and dispatched again before its lease would have ended
/// waits until then (its deleted run may go on), as a delayed job of its key does: it is
/// neither started early nor taken for a broken record, and a job of another key still starts.
pub(super) async fn a_keyed_job_deleted_while_it_runs_waits_for_its_lease(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-held");
    let held = JobId::from("held-1");
    let store = |key: &str, id: &JobId| {
        job(&lane, json!({ "key": key, "n": 0 }))
            .rate_key(key)
            .id(id.as_str())
    };
    keyed(&driver)
        .enqueue_keyed(vec![store("a", &held)])
        .await
        .unwrap();
    let spec = spec(Some((100, 60_000)), None);
    let short = Duration::from_secs(2);
    let (_, r) = keyed(&driver)
        .ack_and_reserve_keyed(&lane, &[], 10, short, &spec)
        .await
        .unwrap();
    assert_eq!(r.jobs.len(), 1);
    let admin = driver.admin().expect("the case needs administration");
    assert!(admin.delete(lane.queue(), &held).await.unwrap());
    let other = JobId::from("other-1");
    let stored = keyed(&driver)
        .enqueue_keyed(vec![store("a", &held), store("b", &other)])
        .await
        .unwrap();
    assert!(stored.iter().all(|d| d.created));
    let info = admin.job(lane.queue(), &held).await.unwrap().unwrap();
    assert_eq!(info.state, crate::JobState::Scheduled);
    let r = take(&driver, &lane, 10, &spec).await;
    let started: Vec<_> = r.jobs.iter().map(|j| j.id.clone()).collect();
    assert_eq!(started, [other], "only the other key's job starts");
    assert_eq!(admin.counts(lane.queue()).await.unwrap().failed, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = take(&driver, &lane, 10, &spec).await;
        if let Some(job) = r.jobs.first() {
            assert_eq!(job.id, held);
            break;
        }
        assert!(Instant::now() < deadline, "the held job never started");
        tokio::time::sleep(r.next_due.unwrap_or(Duration::from_millis(50))).await;
    }
    assert_eq!(admin.counts(lane.queue()).await.unwrap().failed, 0);
}

/// Big batches over many keys: 12,000 jobs of 3,000 keys, 2 starts per key per window, taken
/// 1,000 per reserve: every key's 2 jobs are handed out once each, then every key is held back
/// and the reserve says when the first frees.
pub(super) async fn keyed_reserve_takes_big_batches(driver: Arc<dyn Driver>) {
    let lane = lane("keyed-big");
    let keys: Vec<String> = (0..3000).map(|k| format!("tenant-{k}")).collect();
    let all: Vec<(usize, &String)> = (0..4)
        .flat_map(|n| keys.iter().map(move |k| (n, k)))
        .collect();
    for chunk in all.chunks(1000) {
        let jobs = chunk
            .iter()
            .map(|(n, key)| job(&lane, json!({ "key": key, "n": n })).rate_key(key.as_str()))
            .collect();
        keyed(&driver).enqueue_keyed(jobs).await.expect("enqueue");
    }
    let spec = spec(Some((2, 60_000)), None);
    let mut seen = std::collections::HashSet::new();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    loop {
        let r = take(&driver, &lane, 1000, &spec).await;
        if r.jobs.is_empty() {
            assert!(r.next_due.is_some(), "held-back keys say when they free");
            break;
        }
        for j in r.jobs {
            *per_key.entry(key_of(&j)).or_default() += 1;
            assert!(seen.insert(j.id), "a job handed out twice");
        }
    }
    assert_eq!(seen.len(), 6000, "2 starts for each of the 3,000 keys");
    assert!(per_key.values().all(|&n| n == 2));
}
