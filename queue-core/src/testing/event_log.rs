//! Conformance cases of the [`EventLog`](crate::EventLog) capability.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::unique_queue;
use crate::driver::{Driver, EventLog};
use crate::error::Error;
use crate::job::{JobId, Lane};
use crate::observe::events::{Event, EventKind};

/// The driver's event log; the cases that use it need it.
fn log(driver: &Arc<dyn Driver>) -> &dyn EventLog {
    driver
        .event_log()
        .expect("this case needs the driver's event log (Driver::capabilities().event_log)")
}

/// An event of job `n` of `queue`.
fn event(queue: &str, n: u64) -> Event {
    Event {
        kind: if n % 2 == 0 {
            EventKind::Completed
        } else {
            EventKind::Failed
        },
        id: JobId::from(n),
        lane: Lane::new(queue, "ev_job").expect("valid lane"),
        attempt: 1 + (n % 3) as u32,
        duration: Some(Duration::from_millis(n)),
        error: (n % 2 == 1).then(|| format!("error {n}")),
        retry_in: None,
        progress: None,
        at: SystemTime::now(),
    }
}

fn ids(read: &[(String, Event)]) -> Vec<String> {
    read.iter().map(|(_, e)| e.id.to_string()).collect()
}

fn numbers(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

pub(super) async fn event_log_reads_in_append_order(driver: Arc<dyn Driver>) {
    let queue = unique_queue("ev-order");
    let log = log(&driver);
    assert_eq!(
        log.last_position(&queue).await.expect("last position"),
        None
    );
    let first: Vec<Event> = (0..3).map(|n| event(&queue, n)).collect();
    let second: Vec<Event> = (3..5).map(|n| event(&queue, n)).collect();
    log.append(&queue, &first, 100).await.expect("append");
    log.append(&queue, &second, 100).await.expect("append");
    let read = log.read(&queue, None, 100, None).await.expect("read");
    assert_eq!(ids(&read), numbers(0..5), "events in append order");
    let (_, third) = &read[3];
    assert_eq!(third.kind, EventKind::Failed);
    assert_eq!(third.lane, Lane::new(&queue, "ev_job").unwrap());
    assert_eq!(third.attempt, 1);
    assert_eq!(third.duration, Some(Duration::from_millis(3)));
    assert_eq!(third.error.as_deref(), Some("error 3"));
    assert_eq!(
        log.last_position(&queue).await.expect("last position"),
        Some(read[4].0.clone()),
        "the last position is the newest event's"
    );
    let positions: std::collections::HashSet<&String> = read.iter().map(|(p, _)| p).collect();
    assert_eq!(positions.len(), 5, "each event has its own position");
}

pub(super) async fn event_log_resumes_after_the_last_read(driver: Arc<dyn Driver>) {
    let queue = unique_queue("ev-resume");
    let log = log(&driver);
    let events: Vec<Event> = (0..10).map(|n| event(&queue, n)).collect();
    log.append(&queue, &events, 100).await.expect("append");
    let page = log.read(&queue, None, 4, None).await.expect("read");
    assert_eq!(
        ids(&page),
        numbers(0..4),
        "a read returns at most its limit"
    );
    let after = page.last().map(|(p, _)| p.clone());
    let page = log
        .read(&queue, after.as_deref(), 4, None)
        .await
        .expect("read");
    assert_eq!(
        ids(&page),
        numbers(4..8),
        "reading goes on after the last event read"
    );
    let after = page.last().map(|(p, _)| p.clone());
    let page = log
        .read(&queue, after.as_deref(), 100, None)
        .await
        .expect("read");
    assert_eq!(ids(&page), numbers(8..10));
    let after = page.last().map(|(p, _)| p.clone());
    let page = log
        .read(&queue, after.as_deref(), 100, None)
        .await
        .expect("read");
    assert!(page.is_empty(), "nothing after the newest event: {page:?}");
    log.append(&queue, &[event(&queue, 10)], 100)
        .await
        .expect("append");
    let page = log
        .read(&queue, after.as_deref(), 100, None)
        .await
        .expect("read");
    assert_eq!(
        ids(&page),
        numbers(10..11),
        "a later append is read after it"
    );
    let err = log
        .read(&queue, Some("not a position"), 10, None)
        .await
        .expect_err("a made-up position is refused");
    assert!(
        matches!(err, Error::InvalidQuery { ref reason } if reason.contains("not a position")),
        "the error names the position: {err}"
    );
}

pub(super) async fn event_log_is_capped(driver: Arc<dyn Driver>) {
    const MAX_LEN: usize = 50;
    let queue = unique_queue("ev-cap");
    let log = log(&driver);
    for batch in 0..20u64 {
        let events: Vec<Event> = (batch * 100..batch * 100 + 100)
            .map(|n| event(&queue, n))
            .collect();
        log.append(&queue, &events, MAX_LEN).await.expect("append");
    }
    let kept = log.read(&queue, None, 10_000, None).await.expect("read");
    assert!(
        kept.len() >= MAX_LEN && kept.len() <= MAX_LEN + 100,
        "about {MAX_LEN} events kept of 2000, found {}",
        kept.len()
    );
    let first = 2000 - kept.len() as u64;
    assert_eq!(
        ids(&kept),
        numbers(first..2000),
        "the newest events are kept, in order"
    );
}

pub(super) async fn event_log_blocking_read_wakes_on_append(driver: Arc<dyn Driver>) {
    const BLOCK: Duration = Duration::from_secs(20);
    let queue = unique_queue("ev-block");
    let started = Instant::now();
    let nothing = log(&driver)
        .read(&queue, None, 10, Some(Duration::from_millis(300)))
        .await
        .expect("read");
    assert!(nothing.is_empty(), "nothing was appended: {nothing:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "a blocking read of an empty log waits for its time, returned after {:?}",
        started.elapsed()
    );
    let (calling, called) = tokio::sync::oneshot::channel();
    let reader = {
        let driver = driver.clone();
        let queue = queue.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let _ = calling.send(());
            let read = log(&driver)
                .read(&queue, None, 10, Some(BLOCK))
                .await
                .expect("read");
            (read, started.elapsed())
        })
    };
    // The append comes a pause after the read was called: the read cannot have found the
    // event before then, so it returns it only by waiting for it.
    called.await.expect("the reader runs");
    let pause = Duration::from_millis(100);
    tokio::time::sleep(pause).await;
    log(&driver)
        .append(&queue, &[event(&queue, 7)], 100)
        .await
        .expect("append");
    let (read, took) = tokio::time::timeout(BLOCK, reader)
        .await
        .expect("the blocked reader returns")
        .expect("reader task");
    assert_eq!(ids(&read), numbers(7..8));
    assert!(took >= pause, "the read waited for the append ({took:?})");
    assert!(
        took < BLOCK / 2,
        "the blocked read woke on the append, not at its timeout ({took:?})"
    );
}

pub(super) async fn event_logs_are_per_queue(driver: Arc<dyn Driver>) {
    let mail = unique_queue("ev-mail");
    let bills = unique_queue("ev-bills");
    let log = log(&driver);
    log.append(&mail, &[event(&mail, 1), event(&mail, 2)], 100)
        .await
        .expect("append");
    log.append(&bills, &[event(&bills, 3)], 100)
        .await
        .expect("append");
    let read = log.read(&mail, None, 100, None).await.expect("read");
    assert_eq!(ids(&read), numbers(1..3));
    assert!(read.iter().all(|(_, e)| e.lane.queue() == mail));
    let read = log.read(&bills, None, 100, None).await.expect("read");
    assert_eq!(ids(&read), numbers(3..4));
    let other = unique_queue("ev-none");
    assert!(log
        .read(&other, None, 100, None)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        log.last_position(&other).await.expect("last position"),
        None
    );
}
