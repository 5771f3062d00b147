//! The outbox's reports of many batches: their calls go out together, started in order, at most
//! [`CALLS_IN_FLIGHT`] at once, checked against a driver whose calls all wait until a given
//! number of them are in flight (a report sending one call after another never gets there; the
//! tests run on paused time, so such a report fails them at once), and one call of which can be
//! made to fail once, as a lost connection does, while the others are in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use super::*;
use crate::driver::{Capabilities, Driver};
use crate::job::{Dispatched, JobId, JobState, NewJob, Reservation};
use crate::observe::Observer;
use crate::Result;

/// Counts its ack and complete calls and holds each until `open_at` are in flight at once.
#[derive(Debug)]
struct GatedDriver {
    open_at: usize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// The first job id of each call, in the order the calls reached the driver.
    firsts: StdMutex<Vec<String>>,
    /// Leases settled, over all calls.
    settled: AtomicUsize,
    /// Times each id was settled.
    times: StdMutex<std::collections::HashMap<String, usize>>,
    /// The first id of a call whose first try fails, as a lost connection does, once it is
    /// in flight beside the others.
    fail_once: StdMutex<Option<String>>,
    open: watch::Sender<bool>,
}

impl GatedDriver {
    fn new(open_at: usize) -> Arc<Self> {
        Arc::new(Self {
            open_at,
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            firsts: StdMutex::new(Vec::new()),
            settled: AtomicUsize::new(0),
            times: StdMutex::default(),
            fail_once: StdMutex::default(),
            open: watch::channel(false).0,
        })
    }

    /// One call settling `ids`: counted, then held until the gate opens; or failed, once, for
    /// the call named by `fail_once`, after the gate opened.
    async fn call(&self, ids: Vec<&JobId>) -> Result<Vec<bool>> {
        self.firsts.lock().unwrap().push(ids[0].to_string());
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        if now >= self.open_at {
            self.open.send_replace(true);
        }
        let mut open = self.open.subscribe();
        open.wait_for(|open| *open)
            .await
            .expect("the gate's sender lives");
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let failing = {
            let mut fail_once = self.fail_once.lock().unwrap();
            let hit = fail_once.as_deref() == Some(ids[0].as_str());
            if hit {
                *fail_once = None;
            }
            hit
        };
        if failing {
            return Err(crate::Error::Unavailable {
                url: "gated://".into(),
                source: "connection lost".into(),
            });
        }
        self.settled.fetch_add(ids.len(), Ordering::SeqCst);
        let mut times = self.times.lock().unwrap();
        for id in &ids {
            *times.entry(id.to_string()).or_default() += 1;
        }
        Ok(vec![true; ids.len()])
    }
}

#[async_trait]
impl Driver for GatedDriver {
    async fn enqueue(&self, _: Vec<NewJob>) -> Result<Vec<Dispatched>> {
        unreachable!("reports only")
    }
    async fn ack_and_reserve(
        &self,
        _: &Lane,
        _: &[Lease],
        _: usize,
        _: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        unreachable!("reports only")
    }
    async fn wait(&self, _: &Lane, _: Option<Duration>) -> Result<()> {
        unreachable!("reports only")
    }
    async fn renew(&self, _: &Lane, _: &[Lease], _: Duration) -> Result<Vec<bool>> {
        unreachable!("reports only")
    }
    async fn ack(&self, _: &Lane, leases: &[Lease]) -> Result<Vec<bool>> {
        self.call(leases.iter().map(|l| &l.id).collect()).await
    }
    async fn fail(&self, _: &Lane, _: &Lease, _: Failure) -> Result<bool> {
        unreachable!("reports only")
    }
    async fn requeue(&self, _: &Lane, _: &[Lease]) -> Result<Vec<bool>> {
        unreachable!("reports only")
    }
    async fn progress(&self, _: &Lane, _: &Lease, _: serde_json::Value) -> Result<bool> {
        unreachable!("reports only")
    }
    async fn reap(&self, _: &Lane) -> Result<usize> {
        unreachable!("reports only")
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::default().with_retention(self)
    }
}

#[async_trait]
impl Retention for GatedDriver {
    async fn complete(&self, _: &Lane, done: &[Completion], _: &Keep) -> Result<Vec<bool>> {
        self.call(done.iter().map(|c| &c.lease.id).collect()).await
    }
    async fn result(&self, _: &str, _: &JobId) -> Result<Option<Bytes>> {
        unreachable!("reports only")
    }
    async fn clean(&self, _: &str, _: JobState, _: Duration, _: usize) -> Result<usize> {
        unreachable!("reports only")
    }
}

/// An outbox over `driver` keeping `keep`.
fn outbox(driver: Arc<GatedDriver>, keep: Keep) -> Outbox {
    let lane = Lane::new("reports", "job").expect("a valid lane");
    let scope = Scope {
        observe: Observer::new(16).lane(&lane),
        lane,
        driver,
    };
    Outbox::new(
        Arc::new(scope),
        Duration::from_secs(30),
        Arc::default(),
        keep,
    )
}

/// `batches` full batches of successes, ids "0", "1", ...
fn successes(batches: usize) -> Taken {
    Taken {
        leases: (0..batches * SETTLE_BATCH)
            .map(|n| Lease {
                id: JobId::from(n.to_string()),
                token: 1,
            })
            .collect(),
        results: Vec::new(),
    }
}

/// Settles `batches` batches of successes through an outbox keeping `keep`, with the driver's
/// calls held until `open_at` are in flight; returns the driver.
async fn settle_held(batches: usize, open_at: usize, keep: Keep) -> Arc<GatedDriver> {
    let driver = GatedDriver::new(open_at);
    let outbox = outbox(driver.clone(), keep);
    let settled = Finished::ack_taken(&outbox, successes(batches));
    tokio::time::timeout(Duration::from_secs(10), settled)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{open_at} calls were never in flight at once (at most {}): the report sent its \
                 batches one after another",
                driver.most_in_flight.load(Ordering::SeqCst)
            )
        });
    driver
}

/// The first id of each batch, in order.
fn firsts(batches: usize) -> Vec<String> {
    (0..batches)
        .map(|b| (b * SETTLE_BATCH).to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn completions_of_many_batches_go_out_together_in_order() {
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    let driver = settle_held(3, 3, keep).await;
    assert_eq!(*driver.firsts.lock().unwrap(), firsts(3));
    assert_eq!(driver.settled.load(Ordering::SeqCst), 3 * SETTLE_BATCH);
}

#[tokio::test(start_paused = true)]
async fn acks_of_many_batches_go_out_together_in_order() {
    let driver = settle_held(3, 3, Keep::default()).await;
    assert_eq!(*driver.firsts.lock().unwrap(), firsts(3));
    assert_eq!(driver.settled.load(Ordering::SeqCst), 3 * SETTLE_BATCH);
}

#[tokio::test(start_paused = true)]
async fn a_report_keeps_at_most_its_limit_of_calls_in_flight() {
    let keep = Keep {
        completed: 10,
        ..Keep::default()
    };
    let batches = 3 * CALLS_IN_FLIGHT;
    // A gate that opens only when told.
    let driver = GatedDriver::new(usize::MAX);
    let outbox = outbox(driver.clone(), keep);
    let settled = Finished::ack_taken(&outbox, successes(batches));
    tokio::pin!(settled);
    assert!(futures_util::poll!(&mut settled).is_pending());
    assert_eq!(
        driver.firsts.lock().unwrap().len(),
        CALLS_IN_FLIGHT,
        "calls started while none had answered"
    );
    driver.open.send_replace(true);
    settled.await;
    assert_eq!(
        driver.most_in_flight.load(Ordering::SeqCst),
        CALLS_IN_FLIGHT
    );
    assert_eq!(*driver.firsts.lock().unwrap(), firsts(batches));
    assert_eq!(
        driver.settled.load(Ordering::SeqCst),
        batches * SETTLE_BATCH
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_fails_among_others_in_flight_is_retried_and_nothing_settles_twice() {
    for keep in [
        Keep::default(),
        Keep {
            completed: 10,
            ..Keep::default()
        },
    ] {
        let batches = CALLS_IN_FLIGHT + 2;
        let driver = GatedDriver::new(CALLS_IN_FLIGHT);
        // The second batch's call fails once, answered after the others' were let through.
        *driver.fail_once.lock().unwrap() = Some(SETTLE_BATCH.to_string());
        let outbox = outbox(driver.clone(), keep);
        let settled = Finished::ack_taken(&outbox, successes(batches));
        tokio::time::timeout(Duration::from_secs(10), settled)
            .await
            .expect("the report ends: its failed call retried, its calls in flight together");
        assert!(
            driver.fail_once.lock().unwrap().is_none(),
            "the call meant to fail was made"
        );
        let firsts = driver.firsts.lock().unwrap().clone();
        assert_eq!(
            firsts.len(),
            batches + 1,
            "one call per batch and one retry"
        );
        assert_eq!(
            firsts
                .iter()
                .filter(|f| **f == SETTLE_BATCH.to_string())
                .count(),
            2,
            "the failed batch was sent again: {firsts:?}"
        );
        let times = driver.times.lock().unwrap();
        assert_eq!(times.len(), batches * SETTLE_BATCH, "every job was settled");
        assert!(times.values().all(|&n| n == 1), "no job was settled twice");
        assert_eq!(
            outbox.stats.settlements_dropped(),
            0,
            "nothing was given up"
        );
        assert_eq!(outbox.stats.settlements_refused(), 0, "nothing was refused");
    }
}
