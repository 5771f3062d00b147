//! Schedules run by workers: a handler's `#[job(cron)]` fires each tick once however many
//! workers serve it, a schedule added at run time carries its payload, pausing stops it, and
//! bad input is refused with errors naming the problem.

mod support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use queue_core::{job, unix_ms, Error, JobContext, JobError, Missed, Schedule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{eventually, memory_queue, start};

const LIMIT: Duration = Duration::from_secs(15);

static TICKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[job(queue = "sched-every-second", cron = "* * * * * *")]
async fn every_second(_: (), ctx: JobContext) -> Result<(), JobError> {
    TICKS.lock().unwrap().push(ctx.id().to_string());
    Ok(())
}

/// The tick times of `ids` (`<schedule>@<ms>`), checking the schedule's name.
fn tick_times(ids: &[String], schedule: &str) -> Vec<u64> {
    ids.iter()
        .map(|id| {
            let (name, ms) = id.split_once('@').expect("a tick's id is <schedule>@<ms>");
            assert_eq!(name, schedule);
            ms.parse().expect("tick ms")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_schedule_fires_each_tick_once_across_workers() {
    let queue = memory_queue();
    let workers: Vec<_> = (0..3)
        .map(|_| start(queue.worker().handlers(["every_second"])))
        .collect();
    eventually(LIMIT, || async {
        (TICKS.lock().unwrap().len() >= 4).then_some(())
    })
    .await;
    for worker in workers {
        worker.shutdown().await.unwrap();
    }
    let ids = TICKS.lock().unwrap().clone();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a tick ran twice: {ids:?}");
    let mut times = tick_times(&ids, "every_second");
    times.sort_unstable();
    assert!(
        times.windows(2).all(|w| w[1] - w[0] == 1000),
        "ticks a second apart, none missing: {times:?}"
    );
    let listed = queue.schedules("sched-every-second").await.unwrap();
    assert_eq!(listed.len(), 1, "stored once, named after the job");
    let info = &listed[0];
    assert_eq!(info.schedule.job, "every_second");
    assert_eq!(info.last_tick.map(unix_ms), times.last().copied());
    assert!(info.next_tick.unwrap() > info.last_tick.unwrap());
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Greeting {
    n: u32,
}

static GREETINGS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

#[job(queue = "sched-api")]
async fn greet(greeting: Greeting, ctx: JobContext) -> Result<(), JobError> {
    GREETINGS
        .lock()
        .unwrap()
        .push((ctx.id().to_string(), greeting.n));
    Ok(())
}

fn greetings() -> usize {
    GREETINGS.lock().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_added_at_run_time_carries_its_payload_and_pauses() {
    let queue = memory_queue();
    let worker = start(
        queue
            .worker()
            .handlers(["greet"])
            .schedule_refresh(Duration::from_millis(50)),
    );
    queue
        .add_schedule(Schedule::new("hello", "greet", "* * * * * *").payload(json!({"n": 7})))
        .await
        .unwrap();
    eventually(LIMIT, || async { (greetings() >= 2).then_some(()) }).await;
    {
        let seen = GREETINGS.lock().unwrap();
        assert!(seen
            .iter()
            .all(|(id, n)| id.starts_with("hello@") && *n == 7));
    }
    let listed = queue.schedules("sched-api").await.unwrap();
    assert_eq!(listed[0].schedule.queue, "sched-api", "the handler's queue");

    queue.pause_schedule("sched-api", "hello").await.unwrap();
    assert!(queue.schedules("sched-api").await.unwrap()[0].paused);
    // A tick in flight when the pause landed may still run; after that, none for 2.5 s.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paused_at = greetings();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(greetings(), paused_at, "a paused schedule fires nothing");

    queue.resume_schedule("sched-api", "hello").await.unwrap();
    eventually(LIMIT, || async { (greetings() > paused_at).then_some(()) }).await;
    assert!(queue.remove_schedule("sched-api", "hello").await.unwrap());
    worker.shutdown().await.unwrap();
    assert!(queue.schedules("sched-api").await.unwrap().is_empty());
}

#[tokio::test]
async fn bad_schedules_are_refused_with_the_reason() {
    let queue = memory_queue();
    let message = |e: Error| e.to_string();
    let bad_cron = queue
        .add_schedule(Schedule::new("s", "greet", "61 * * * *"))
        .await
        .unwrap_err();
    assert!(matches!(bad_cron, Error::InvalidSchedule { .. }));
    assert!(
        message(bad_cron).contains("invalid cron expression `61 * * * *`"),
        "names the expression"
    );
    let bad_tz = queue
        .add_schedule(Schedule::new("s", "greet", "@hourly").tz("Mars/Olympus"))
        .await
        .unwrap_err();
    assert_eq!(
        message(bad_tz),
        "invalid schedule `s`: unknown time zone `Mars/Olympus`: expected an IANA name such as \
         `UTC` or `Europe/Berlin`"
    );
    let bad_payload = queue
        .add_schedule(Schedule::new("s", "greet", "@hourly").payload(json!({"m": 1})))
        .await
        .unwrap_err();
    assert!(message(bad_payload).contains("does not decode for handler"));
    let bad_policy = queue
        .add_schedule(
            Schedule::new("s", "other", "@hourly")
                .queue("q")
                .missed(Missed::Each { max: 0 }),
        )
        .await
        .unwrap_err();
    assert!(matches!(bad_policy, Error::InvalidSchedule { .. }));
    assert!(Missed::parse("sometimes").is_err());

    let ok = Schedule::new("s", "other", "@hourly").queue("q");
    queue.add_schedule(ok.clone()).await.unwrap();
    assert!(matches!(
        queue.add_schedule(ok.clone()).await.unwrap_err(),
        Error::ScheduleExists { .. }
    ));
    queue
        .replace_schedule(ok.tz("Europe/Berlin"))
        .await
        .unwrap();
    assert_eq!(
        queue.schedules("q").await.unwrap()[0].schedule.tz,
        "Europe/Berlin"
    );
    assert!(matches!(
        queue.pause_schedule("q", "missing").await.unwrap_err(),
        Error::ScheduleNotFound { .. }
    ));
}

#[job(queue = "sched-needs-payload", cron = "@hourly")]
async fn needs_payload(_greeting: Greeting) -> Result<(), JobError> {
    Ok(())
}

#[tokio::test]
async fn a_scheduled_handler_must_accept_an_empty_payload() {
    let queue = memory_queue();
    let error = queue
        .worker()
        .handlers(["needs_payload"])
        .build()
        .unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }), "{error}");
    assert!(error.to_string().contains("runs on a schedule"));
}

#[job(queue = "sched-retired")]
async fn no_longer_scheduled() -> Result<(), JobError> {
    Ok(())
}

#[tokio::test]
async fn a_handler_that_dropped_its_schedule_has_it_removed() {
    let queue = memory_queue();
    // What a worker stored for an earlier version of the handler, and a schedule of the same
    // job added through the API.
    let mut old = Schedule::new("no_longer_scheduled", "no_longer_scheduled", "@hourly");
    old.from_handler = true;
    queue.add_schedule(old).await.unwrap();
    queue
        .add_schedule(Schedule::new("by-api", "no_longer_scheduled", "@daily"))
        .await
        .unwrap();
    let worker = start(queue.worker().handlers(["no_longer_scheduled"]));
    let names = eventually(LIMIT, || async {
        let listed = queue.schedules("sched-retired").await.unwrap();
        (listed.len() == 1).then_some(listed)
    })
    .await;
    worker.shutdown().await.unwrap();
    assert_eq!(names[0].schedule.name, "by-api", "the API's schedule stays");
}
