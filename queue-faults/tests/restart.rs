//! A Redis restart under load: redis-server (AOF, `appendfsync always`) is SIGKILLed and
//! restarted while two worker processes drain jobs dispatched in bulk and one by one.

#[path = "../../queue-redis/tests/support/mod.rs"]
mod support;

mod harness;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use queue_core::Queue;
use queue_faults::{check, fault_task, now_us, Expectations, Task, QUEUE};
use support::RedisServer;

use harness::{completed, connect, is_done, until_drained, Deadline, Lab, Settings};

/// Longer than the outage: the restart itself must not cost any lease.
const LEASE: Duration = Duration::from_secs(5);

/// What the one-by-one producer has sent: acknowledged dispatches, and failed ones (which
/// may or may not have been stored).
#[derive(Debug, Default)]
struct Sent {
    acknowledged: Vec<String>,
    failed: Vec<String>,
}

/// Dispatches jobs one at a time, each with a chosen id, until `stop` is set.
async fn one_by_one(queue: Queue, sent: Arc<Mutex<Sent>>, stop: Arc<AtomicBool>) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let id = format!("one-{n}");
        n += 1;
        let job = fault_task::job(Task::sleep(5 + n % 3 * 5)).id(id.as_str());
        match queue.dispatch(job).await {
            Ok(_) => sent.lock().unwrap().acknowledged.push(id),
            Err(error) => {
                assert!(error.is_retryable(), "an outage is retryable: {error}");
                sent.lock().unwrap().failed.push(id);
            }
        }
        // A steady trickle rather than a flood: the bulk dispatches are the load.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn bulk(queue: &Queue, count: u64) -> Vec<String> {
    queue
        .dispatch_bulk((0..count).map(|n| fault_task::job(Task::sleep(10 + n % 4 * 10))))
        .await
        .expect("dispatch in bulk")
        .into_iter()
        .map(|d| d.id.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_of_redis_under_load_loses_no_acknowledged_job_and_reruns_no_done_one() {
    let mut server = RedisServer::start();
    let url = server.url();
    let lab = Lab::new("restart");
    let queue = connect(&url).await;
    let mut first = lab.spawn(&url, Settings::new(LEASE, 4));
    let mut second = lab.spawn(&url, Settings::new(LEASE, 4));

    let mut acknowledged = bulk(&queue, 300).await;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(one_by_one(queue.clone(), sent.clone(), stop.clone()));

    let deadline = Deadline::after(Duration::from_secs(30), "50 jobs to complete");
    while completed(&lab.events()).len() < 50 {
        deadline.check(|| lab.history_text());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The jobs seen done now must never run again, whatever the restart does.
    let mut expect = Expectations::new(Vec::<String>::new());
    let mut seen_done = BTreeSet::new();
    for id in completed(&lab.events()) {
        if is_done(&queue, &id).await {
            expect = expect.seen_done(id.clone(), now_us());
            seen_done.insert(id);
        }
    }
    assert!(!seen_done.is_empty(), "some completed jobs were acked");

    let killed_at = now_us();
    tokio::task::block_in_place(|| server.stop());
    let pending_at_kill =
        acknowledged.len() - completed(&lab.events()).len().min(acknowledged.len());
    // Dispatches fail while Redis is down, promptly.
    let failed_before = sent.lock().unwrap().failed.len();
    let deadline = Deadline::after(
        Duration::from_secs(10),
        "a dispatch to fail during the outage",
    );
    while sent.lock().unwrap().failed.len() == failed_before {
        deadline.check(|| format!("{:?}", sent.lock().unwrap()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::task::block_in_place(|| server.restart());
    let up_at = now_us();

    // Dispatch in bulk again once the connection is back.
    let deadline = Deadline::after(Duration::from_secs(20), "dispatch to work again");
    let more = loop {
        match queue
            .dispatch_bulk((0..100).map(|_| fault_task::job(Task::sleep(10))))
            .await
        {
            Ok(stored) => break stored,
            Err(error) => {
                deadline.check(|| error.to_string());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    acknowledged.extend(more.into_iter().map(|d| d.id.to_string()));
    let after_restart = sent.lock().unwrap().acknowledged.len() + 20;
    let deadline = Deadline::after(Duration::from_secs(20), "one-by-one dispatch to work again");
    while sent.lock().unwrap().acknowledged.len() < after_restart {
        deadline.check(|| format!("{:?}", sent.lock().unwrap().failed));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    producer.await.expect("the producer");
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    acknowledged.extend(sent.acknowledged.iter().cloned());

    let deadline = Deadline::after(
        Duration::from_secs(60),
        "every acknowledged job to complete",
    );
    loop {
        let done = completed(&lab.events());
        if acknowledged.iter().all(|id| done.contains(id)) {
            break;
        }
        deadline.check(|| {
            let missing: Vec<&String> = acknowledged
                .iter()
                .filter(|id| !done.contains(*id))
                .collect();
            format!("not completed: {missing:?}")
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_drained(&queue, Duration::from_secs(30)).await;
    first.kill();
    second.kill();

    // In flight at the restart: started before Redis was back, and not seen done.
    let events = lab.events();
    let in_flight: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            queue_faults::Event::Start { id, at, .. } if *at < up_at => Some(id.clone()),
            _ => None,
        })
        .filter(|id| !seen_done.contains(id))
        .collect();
    let report = check(
        &events,
        &expect
            .dispatched(acknowledged.iter().cloned())
            .maybe_dispatched(sent.failed.iter().cloned())
            .in_flight(in_flight),
    );
    report.assert_clean();

    // The kill came mid-way: jobs were running, and many were still to run.
    assert!(
        report
            .runs()
            .iter()
            .any(|r| r.start < killed_at && r.end > killed_at),
        "some job was running when Redis was killed: {report}"
    );
    assert!(
        pending_at_kill > 50,
        "the kill came with work left: {pending_at_kill}"
    );
    assert!(
        !sent.failed.is_empty(),
        "dispatches failed during the outage"
    );
    assert_eq!(queue.counts(QUEUE).await.expect("counts").failed, 0);
}
