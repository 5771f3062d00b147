//! In-process events: a subscriber sees every dispatch and every run's end, with the job's
//! identity, attempt, duration and error; a subscriber that falls behind loses the oldest
//! events, counted, and never holds the worker up.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use queue_core::{job, Event, EventKind, Events, JobContext, JobError, JobId};
use support::{memory_queue, start};
use tokio::sync::Notify;

#[job(queue = "events")]
async fn succeeds(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    ctx.progress(serde_json::json!({"half": true}))
        .await
        .map_err(JobError::fatal)?;
    Ok(())
}

#[job(queue = "events", attempts = 2, backoff = "fixed(10ms)")]
async fn always_fails(_n: u32) -> Result<(), JobError> {
    Err(JobError::msg("no luck"))
}

/// Waits for events until `count` arrived (bounded).
async fn take(events: &mut Events, count: usize) -> Vec<Event> {
    let mut got = Vec::new();
    while got.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events arrived: {got:?}", got.len()))
            .expect("the queue is alive");
        got.push(event);
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_dispatches_are_reported_in_order_per_job() {
    let queue = memory_queue();
    let mut events = queue.events();
    let ok = succeeds::dispatch(&queue, 1).await.unwrap().id;
    let bad = always_fails::dispatch(&queue, 2).await.unwrap().id;
    let worker = start(queue.worker().handlers(["succeeds", "always_fails"]));
    // ok: dispatched, progress, completed. bad: dispatched, retrying, failed.
    let got = take(&mut events, 6).await;
    worker.shutdown().await.unwrap();

    let mut by_job: HashMap<JobId, Vec<&Event>> = HashMap::new();
    for event in &got {
        by_job.entry(event.id.clone()).or_default().push(event);
    }
    let kinds = |id: &JobId| by_job[id].iter().map(|e| e.kind).collect::<Vec<_>>();
    assert_eq!(
        kinds(&ok),
        [
            EventKind::Dispatched,
            EventKind::Progress,
            EventKind::Completed
        ]
    );
    assert_eq!(
        kinds(&bad),
        [
            EventKind::Dispatched,
            EventKind::Retrying,
            EventKind::Failed
        ]
    );

    let ok_events = &by_job[&ok];
    assert_eq!(ok_events[0].lane.job(), "succeeds");
    assert_eq!(ok_events[0].lane.queue(), "events");
    assert_eq!(ok_events[0].attempt, 0);
    assert_eq!(
        ok_events[1].progress,
        Some(serde_json::json!({"half": true}))
    );
    assert_eq!(ok_events[2].attempt, 1);
    assert!(ok_events[2].duration.is_some());
    assert_eq!(ok_events[2].error, None);

    let bad_events = &by_job[&bad];
    assert_eq!(bad_events[1].attempt, 1);
    assert_eq!(bad_events[1].error.as_deref(), Some("no luck"));
    assert_eq!(bad_events[1].retry_in, Some(Duration::from_millis(10)));
    assert_eq!(bad_events[2].attempt, 2);
    assert_eq!(bad_events[2].error.as_deref(), Some("no luck"));
    assert_eq!(bad_events[2].retry_in, None);
    assert_eq!(events.dropped(), 0);
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_loses_the_oldest_events_counted() {
    let queue = memory_queue().with_event_buffer(4);
    let mut events = queue.events();
    let mut stored = Vec::new();
    for n in 0..20 {
        stored.push(succeeds::dispatch(&queue, n).await.unwrap());
    }
    // Nobody read while 20 dispatches sent their events into a buffer of 4 sends: the 4
    // newest remain.
    let mut got = Vec::new();
    while let Some(event) = events.try_next() {
        got.push(event);
    }
    assert_eq!(events.dropped(), 16);
    let ids: Vec<&JobId> = got.iter().map(|e| &e.id).collect();
    let newest: Vec<&JobId> = stored[16..].iter().map(|d| &d.id).collect();
    assert_eq!(ids, newest);
}

#[tokio::test]
async fn duplicates_are_not_reported_as_dispatched_and_without_subscribers_nothing_is_kept() {
    let queue = memory_queue();
    succeeds::dispatch(&queue, 1).id("once").await.unwrap();
    let mut events = queue.events();
    let again = succeeds::dispatch(&queue, 1).id("once").await.unwrap();
    assert!(!again.created);
    succeeds::dispatch(&queue, 2).id("twice").await.unwrap();
    let got = events.try_next().expect("the new job's event");
    assert_eq!(got.id, JobId::from("twice"));
    assert!(
        events.try_next().is_none(),
        "the job dispatched before subscribing and the duplicate are not reported"
    );
}

static RELEASE: Notify = Notify::const_new();

#[job(queue = "events-lost")]
async fn loses_its_lease(_n: u32, ctx: JobContext) -> Result<(), JobError> {
    RELEASE.notified().await;
    // The job was deleted meanwhile: progress finds the lease gone and the worker stops the
    // run (a handler that returned first would still have its success reported, and its ack
    // refused by the storage).
    let _ = ctx.progress(1).await;
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_for_its_lease_is_reported_as_lease_lost() {
    let queue = memory_queue();
    let mut events = queue.events();
    let id = loses_its_lease::dispatch(&queue, 1).await.unwrap().id;
    let worker = start(queue.worker().handlers(["loses_its_lease"]));
    support::until_counts(&queue, "events-lost", Duration::from_secs(5), |c| {
        c.active == 1
    })
    .await;
    assert!(queue.delete("events-lost", &id).await.unwrap());
    RELEASE.notify_one();
    let got = take(&mut events, 3).await;
    worker.shutdown().await.unwrap();
    let kinds: Vec<EventKind> = got.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Dispatched,
            EventKind::Progress,
            EventKind::LeaseLost
        ]
    );
    assert!(got.iter().all(|e| e.id == id));
}

#[tokio::test]
async fn batches_are_read_event_by_event_and_losses_count_events() {
    let queue = memory_queue().with_event_buffer(2);
    let mut events = queue.events();
    // One bulk dispatch is one send of 5 events; then three sends of one event each. The
    // buffer keeps the last two sends: the bulk and the first single one are lost.
    queue
        .dispatch_bulk((0..5).map(succeeds::job))
        .await
        .unwrap();
    let mut singles = Vec::new();
    for n in 0..3 {
        singles.push(succeeds::dispatch(&queue, n).await.unwrap().id);
    }
    let mut got = Vec::new();
    while let Some(event) = events.try_next() {
        got.push(event.id);
    }
    assert_eq!(got, singles[1..]);
    assert_eq!(events.dropped(), 6);

    // A bulk dispatch read in time arrives whole, one event per job, in order.
    let stored = queue
        .dispatch_bulk((0..5).map(succeeds::job))
        .await
        .unwrap();
    let ids: Vec<JobId> = std::iter::from_fn(|| events.try_next().map(|e| e.id)).collect();
    assert_eq!(ids, stored.into_iter().map(|d| d.id).collect::<Vec<_>>());
    assert_eq!(events.dropped(), 6);
}

#[job(queue = "events-poison")]
async fn poisoned_job(_n: u32) -> Result<(), JobError> {
    Ok(())
}

/// A job whose runs kept losing their leases (taken here straight from the driver and left to
/// expire, as a killed worker leaves them) is failed as poison by the next worker's reserve,
/// which reports it as a `poisoned` event with the attempt and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failed_as_poison_is_reported_by_the_reaping_worker() {
    let queue = memory_queue();
    let id = poisoned_job::dispatch(&queue, 1).await.unwrap().id;
    let lane = queue_core::Lane::new("events-poison", "poisoned_job").unwrap();
    let lease = Duration::from_millis(30);
    for _ in 0..queue_core::DEFAULT_MAX_LOST_LEASES {
        // A reserve reaps the previous expired lease and takes the job again.
        let got = queue.driver().reserve(&lane, 1, lease).await.unwrap();
        assert_eq!(got.jobs.len(), 1);
        assert!(got.poisoned.is_empty());
        tokio::time::sleep(lease + Duration::from_millis(20)).await;
    }
    let mut events = queue.events();
    let worker = start(queue.worker().handlers(["poisoned_job"]));
    let got = take(&mut events, 1).await;
    worker.shutdown().await.unwrap();
    assert_eq!(got[0].kind, EventKind::Poisoned);
    assert_eq!(got[0].id, id);
    assert_eq!(
        got[0].attempt, 1,
        "no handler run ended: the first attempt failed"
    );
    assert!(got[0].error.as_deref().unwrap_or("").starts_with("poison"));
    let counts = queue.counts("events-poison").await.unwrap();
    assert_eq!((counts.failed, counts.ready, counts.active), (1, 0, 0));
}
