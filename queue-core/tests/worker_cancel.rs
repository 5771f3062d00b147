//! Cancelling jobs on the memory driver, with a real worker: a waiting job cancelled through a
//! queue is removed and reported as a `cancelled` event; a running job is stopped by its
//! worker within one lease renewal period and reported as cancelled, not as a lost lease.

mod support;

use std::time::{Duration, Instant};

use queue_core::{job, CancelOutcome, Event, EventKind, Events, JobContext, JobError, JobState};
use support::memory_queue;
use tokio_util::sync::CancellationToken;

#[job(queue = "cancel-mem")]
async fn long_task(_: u32, ctx: JobContext) -> Result<(), JobError> {
    ctx.cancelled().await;
    Ok(())
}

const LEASE: Duration = Duration::from_millis(600);

/// The next event other than a dispatch (bounded).
async fn next_outcome(events: &mut Events) -> Event {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event within 10 s")
            .expect("the queue is alive");
        if event.kind != EventKind::Dispatched {
            return event;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_job_is_removed_and_a_running_one_stopped() {
    let queue = memory_queue();
    let mut events = queue.events();
    let waiting = long_task::dispatch(&queue, 1)
        .delay(Duration::from_secs(60))
        .await
        .unwrap()
        .id;
    let outcome = queue.cancel("cancel-mem", &waiting).await.unwrap();
    assert_eq!(outcome, CancelOutcome::Removed);
    let event = next_outcome(&mut events).await;
    assert_eq!(
        (event.kind, event.id.clone()),
        (EventKind::Cancelled, waiting.clone())
    );
    assert_eq!(
        (event.lane.queue(), event.lane.job()),
        ("cancel-mem", "long_task")
    );
    assert!(queue.job("cancel-mem", &waiting).await.unwrap().is_none());

    let running = long_task::dispatch(&queue, 2).await.unwrap().id;
    let worker = queue
        .worker()
        .handlers(["long_task"])
        .lease(LEASE)
        .build()
        .unwrap();
    let stats = worker.stats();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(worker.run_until(stop.clone().cancelled_owned()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue
        .job("cancel-mem", &running)
        .await
        .unwrap()
        .unwrap()
        .state
        != JobState::Active
    {
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = Instant::now();
    assert_eq!(
        queue.cancel("cancel-mem", &running).await.unwrap(),
        CancelOutcome::Stopped
    );
    let event = next_outcome(&mut events).await;
    let took = sent.elapsed();
    assert_eq!(
        (event.kind, event.id.clone(), event.attempt),
        (EventKind::Cancelled, running.clone(), 1)
    );
    assert!(
        took < LEASE / 3 + Duration::from_millis(100),
        "stopped after {took:?}"
    );
    let info = queue.job("cancel-mem", &running).await.unwrap().unwrap();
    assert_eq!(info.state, JobState::Cancelled);
    assert_eq!((stats.cancelled(), stats.leases_lost()), (1, 0));
    stop.cancel();
    handle.await.unwrap().unwrap();
}
