//! Conformance cases of schedules ([`Schedules`]): a tick fires exactly once however many
//! firings race, never at or before the last fired tick, not while paused, not after a
//! removal or a replacement of the definition it was computed from; listings carry the state;
//! missed ticks follow each schedule's policy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::{reserve_n, unique_queue};
use crate::driver::{Driver, Schedules};
use crate::job::{unix_ms, JobId, Lane};
use crate::schedule::{Fired, Missed, Schedule, ScheduleInfo};
use crate::worker::scheduler::{fire_due, tick_jobs};

const LEASE: Duration = Duration::from_secs(30);
const LIMIT: Duration = Duration::from_secs(5);

fn store(driver: &Arc<dyn Driver>) -> &dyn Schedules {
    driver.schedules().expect("the case needs schedules")
}

/// A schedule in a queue of its own, every second, with a payload.
fn every_second(prefix: &str) -> Schedule {
    Schedule::new("tick", "cron-work", "* * * * * *")
        .queue(&unique_queue(prefix))
        .payload(json!({"from": "schedule"}))
}

fn lane_of(schedule: &Schedule) -> Lane {
    Lane::new(&schedule.queue, &schedule.job).unwrap()
}

async fn fire(driver: &Arc<dyn Driver>, schedule: &Schedule, ticks: &[u64]) -> Fired {
    store(driver)
        .fire(schedule, tick_jobs(schedule, ticks).unwrap())
        .await
        .expect("fire")
}

fn fired(outcome: Fired) -> Vec<u64> {
    match outcome {
        Fired::Ticks { fired, .. } => fired,
        other => panic!("expected ticks to be fired, got {other:?}"),
    }
}

/// Takes every ready job of `lane` (waiting for `n`) and checks no more come: their ids.
async fn take_ids(driver: &Arc<dyn Driver>, lane: &Lane, n: usize) -> BTreeSet<String> {
    let jobs = reserve_n(driver, lane, n, LEASE, LIMIT).await;
    let rest = driver.reserve(lane, 100, LEASE).await.unwrap();
    assert!(
        rest.jobs.is_empty(),
        "only {n} jobs expected on {lane}, found more: {:?}",
        rest.jobs.iter().map(|j| &j.id).collect::<Vec<_>>()
    );
    for job in &jobs {
        let payload: serde_json::Value = serde_json::from_slice(&job.payload).unwrap();
        assert_eq!(
            payload,
            json!({"from": "schedule"}),
            "the schedule's payload"
        );
    }
    jobs.iter().map(|j| j.id.to_string()).collect()
}

/// The one listed schedule of `queue` named `name`.
async fn listed(driver: &Arc<dyn Driver>, queue: &str, name: &str) -> ScheduleInfo {
    store(driver)
        .schedules(queue)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.schedule.name == name)
        .unwrap_or_else(|| panic!("schedule {name} of {queue} is not listed"))
}

/// Eight firings of the same three ticks race: each tick fires once, its job is stored once.
pub(super) async fn schedule_tick_fires_once_under_concurrent_claims(driver: Arc<dyn Driver>) {
    let s = every_second("sched-race");
    assert!(store(&driver).put_schedule(&s, false).await.unwrap());
    let base = unix_ms(SystemTime::now()) / 1000 * 1000;
    let ticks = [base - 3000, base - 2000, base - 1000];
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (driver, s) = (driver.clone(), s.clone());
            tokio::spawn(async move { fired(fire(&driver, &s, &ticks).await) })
        })
        .collect();
    let mut all = Vec::new();
    for racer in racers {
        all.extend(racer.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, ticks, "each tick fired by exactly one of the racers");
    let ids = take_ids(&driver, &lane_of(&s), 3).await;
    let expected: BTreeSet<String> = ticks.iter().map(|t| format!("tick@{t}")).collect();
    assert_eq!(ids, expected, "one job per tick, with the tick's id");
}

/// A tick at or before the last fired one never fires; a later one does.
pub(super) async fn schedule_fires_only_ticks_after_the_last(driver: Arc<dyn Driver>) {
    let s = every_second("sched-order");
    store(&driver).put_schedule(&s, false).await.unwrap();
    let t = 1_900_000_000_000u64;
    assert_eq!(fired(fire(&driver, &s, &[t + 2000]).await), [t + 2000]);
    let outcome = fire(&driver, &s, &[t + 1000, t + 2000, t + 3000]).await;
    assert_eq!(
        outcome,
        Fired::Ticks {
            fired: vec![t + 3000],
            last: Some(t + 3000)
        }
    );
    assert_eq!(
        fire(&driver, &s, &[t + 3000]).await,
        Fired::Ticks {
            fired: vec![],
            last: Some(t + 3000)
        },
        "a tick fired already is reported as not fired by this call"
    );
    let ids = take_ids(&driver, &lane_of(&s), 2).await;
    assert_eq!(
        ids,
        BTreeSet::from([format!("tick@{}", t + 2000), format!("tick@{}", t + 3000)])
    );
    let info = listed(&driver, &s.queue, "tick").await;
    assert_eq!(info.last_tick.map(unix_ms), Some(t + 3000));
    assert!(info.last_fired_at.is_some());
}

/// A paused schedule fires nothing and is listed as paused; resumed, it fires again.
pub(super) async fn paused_schedule_fires_nothing_until_resumed(driver: Arc<dyn Driver>) {
    let s = every_second("sched-pause");
    let st = store(&driver);
    st.put_schedule(&s, false).await.unwrap();
    assert!(st.pause_schedule(&s.queue, "tick", true).await.unwrap());
    assert!(listed(&driver, &s.queue, "tick").await.paused);
    let t = 1_900_000_000_000u64;
    assert_eq!(fire(&driver, &s, &[t]).await, Fired::Paused);
    let lane = lane_of(&s);
    assert!(driver
        .reserve(&lane, 10, LEASE)
        .await
        .unwrap()
        .jobs
        .is_empty());
    assert!(st.pause_schedule(&s.queue, "tick", false).await.unwrap());
    assert!(!listed(&driver, &s.queue, "tick").await.paused);
    assert_eq!(fired(fire(&driver, &s, &[t]).await), [t]);
    assert_eq!(take_ids(&driver, &lane, 1).await.len(), 1);
    assert!(
        !st.pause_schedule(&s.queue, "missing", true).await.unwrap(),
        "pausing an unknown schedule reports it missing"
    );
}

/// Adding refuses a taken name; replacing changes the definition and keeps the state, and a
/// firing computed from the old definition, or after a removal, is refused as changed.
pub(super) async fn replaced_or_removed_schedule_refuses_stale_firings(driver: Arc<dyn Driver>) {
    let s = every_second("sched-change");
    let st = store(&driver);
    assert!(st.put_schedule(&s, false).await.unwrap());
    let other = s.clone().tz("Europe/Berlin");
    assert!(
        !st.put_schedule(&other, false).await.unwrap(),
        "adding under a taken name stores nothing"
    );
    assert_eq!(listed(&driver, &s.queue, "tick").await.schedule, s);
    let t = 1_900_000_000_000u64;
    fired(fire(&driver, &s, &[t]).await);
    st.pause_schedule(&s.queue, "tick", true).await.unwrap();
    let before = listed(&driver, &s.queue, "tick").await;

    let replaced = s.clone().payload(json!({"from": "schedule", "v": 2}));
    assert!(st.put_schedule(&replaced, true).await.unwrap());
    let after = listed(&driver, &s.queue, "tick").await;
    assert_eq!(after.schedule, replaced);
    assert_eq!(after.last_tick, before.last_tick, "the last tick is kept");
    assert_eq!(
        after.created_at, before.created_at,
        "the creation time is kept"
    );
    assert!(after.paused, "the pause is kept");
    st.pause_schedule(&s.queue, "tick", false).await.unwrap();
    assert_eq!(fire(&driver, &s, &[t + 1000]).await, Fired::Changed);
    assert_eq!(
        fired(fire(&driver, &replaced, &[t + 1000]).await),
        [t + 1000]
    );

    assert!(st.remove_schedule(&s.queue, "tick").await.unwrap());
    assert!(!st.remove_schedule(&s.queue, "tick").await.unwrap());
    assert_eq!(fire(&driver, &replaced, &[t + 2000]).await, Fired::Changed);
    assert!(st.schedules(&s.queue).await.unwrap().is_empty());
}

/// Schedules are listed by name with their next tick after now, and nothing fired yet.
pub(super) async fn schedules_are_listed_with_their_next_ticks(driver: Arc<dyn Driver>) {
    let queue = unique_queue("sched-list");
    let st = store(&driver);
    let hourly = Schedule::new("b-hourly", "cron-work", "0 * * * *")
        .queue(&queue)
        .tz("Europe/Berlin");
    let daily = Schedule::new("a-daily", "cron-work", "30 2 * * *")
        .queue(&queue)
        .missed(Missed::Each { max: 3 });
    st.put_schedule(&hourly, false).await.unwrap();
    st.put_schedule(&daily, false).await.unwrap();
    let other = unique_queue("sched-list-other");
    assert!(st.schedules(&other).await.unwrap().is_empty());
    let list = st.schedules(&queue).await.unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.schedule.name.as_str()).collect();
    assert_eq!(names, ["a-daily", "b-hourly"]);
    assert_eq!(list[0].schedule, daily);
    let now = SystemTime::now();
    for info in &list {
        assert!(!info.paused);
        assert_eq!(info.last_tick, None);
        assert_eq!(info.last_fired_at, None);
        let next = info.next_tick.expect("a next tick");
        assert!(next > now, "the next tick is after now");
        let clock = info.schedule.clock().unwrap();
        assert_eq!(
            Some(unix_ms(next)),
            clock.next_after(unix_ms(now).max(unix_ms(info.created_at))),
            "the next tick is the cron's first after now"
        );
        let age = now.duration_since(info.created_at).unwrap_or_default();
        assert!(age < Duration::from_secs(60), "created just now");
    }
    assert_eq!(
        unix_ms(list[1].next_tick.unwrap()) % 3_600_000,
        0,
        "on the hour"
    );
}

/// After downtime, missed ticks follow the policy: skipped, run once (the latest), or each run
/// up to a number; ticks on time run in every case.
pub(super) async fn missed_ticks_follow_the_policy(driver: Arc<dyn Driver>) {
    let st = store(&driver);
    for (missed, expected) in [
        (Missed::Skip, 1),
        (Missed::Once, 2),
        (Missed::Each { max: 4 }, 5),
        (Missed::Each { max: 100 }, 10),
    ] {
        let s = every_second("sched-missed").missed(missed);
        st.put_schedule(&s, false).await.unwrap();
        let info = listed(&driver, &s.queue, "tick").await;
        // Ten seconds later, 100 ms after a tick: nine ticks missed, one on time.
        let created = unix_ms(info.created_at);
        let now = created / 1000 * 1000 + 10_100;
        let outcome = fire_due(st, &info, now).await.unwrap().expect("ticks due");
        let ticks = fired(outcome);
        assert_eq!(ticks.len(), expected, "{missed:?}");
        assert_eq!(*ticks.last().unwrap(), now - 100, "the on-time tick");
        assert!(
            ticks.windows(2).all(|w| w[1] - w[0] == 1000),
            "the latest ones, in order"
        );
        let ids = take_ids(&driver, &lane_of(&s), expected).await;
        assert_eq!(ids.len(), expected);
        // Fired again at the same moment, from the listing: nothing is due any more.
        let info = listed(&driver, &s.queue, "tick").await;
        assert_eq!(info.last_tick.map(unix_ms), Some(now - 100));
        assert!(fire_due(st, &info, now).await.unwrap().is_none());
    }
}

/// A tick whose job id is already taken counts as fired without storing a second job.
pub(super) async fn a_tick_whose_job_exists_is_not_stored_twice(driver: Arc<dyn Driver>) {
    let s = every_second("sched-dup");
    store(&driver).put_schedule(&s, false).await.unwrap();
    let t = 1_900_000_000_000u64;
    let mut jobs = tick_jobs(&s, &[t]).unwrap();
    let stored = driver.enqueue(vec![jobs.remove(0).1]).await.unwrap();
    assert_eq!(stored[0].id, JobId::from(format!("tick@{t}")));
    assert_eq!(fired(fire(&driver, &s, &[t]).await), [t]);
    assert_eq!(take_ids(&driver, &lane_of(&s), 1).await.len(), 1);
}
