//! The worker's own lease clock, on Tokio's paused clock: a pool whose renewals hang stops its
//! runs at the send time of its last confirmed lease + the lease − the margin, a pool whose
//! renewals work is not held up by it, and a reservation that came back late is renewed at once
//! rather than stopped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use queue_core::{job, Driver, JobError, Lane, Lease, Queue, Reservation, Result};
use queue_memory::MemoryDriver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod support;
use support::hooked::{Hooked, Hooks};

/// The memory driver's hot path only (a driver needs no more to run jobs), except that renewals
/// of the lanes of queue `hung` never answer once `hang` is set (a storage that went silent),
/// and the first reservation of queue `late` that takes jobs comes back `late_ms` after the
/// storage made it.
#[derive(Debug, Default)]
struct HangingRenewals {
    inner: MemoryDriver,
    hang: AtomicBool,
    late_ms: AtomicU64,
}

#[async_trait]
impl Hooks for HangingRenewals {
    fn inner(&self) -> &MemoryDriver {
        &self.inner
    }
    async fn ack_and_reserve(
        &self,
        lane: &Lane,
        done: &[Lease],
        max: usize,
        lease: Duration,
    ) -> Result<(Vec<bool>, Reservation)> {
        let reply = self.inner.ack_and_reserve(lane, done, max, lease).await?;
        if lane.queue() == "late" && !reply.1.jobs.is_empty() {
            let late = self.late_ms.swap(0, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(late)).await;
        }
        Ok(reply)
    }
    async fn renew(&self, lane: &Lane, leases: &[Lease], lease: Duration) -> Result<Vec<bool>> {
        if lane.queue() == "hung" && self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.renew(lane, leases, lease).await
    }
}

/// One run: its queue, when it started and ended (dropped or finished) on Tokio's clock, and
/// whether it finished.
type Run = (String, Instant, Option<Instant>, bool);

static RUNS: Mutex<Vec<Run>> = Mutex::new(Vec::new());

struct EndOfRun(usize);
impl Drop for EndOfRun {
    fn drop(&mut self) {
        RUNS.lock().unwrap()[self.0].2 = Some(Instant::now());
    }
}

async fn hold(queue: &str, ms: u64) -> Result<(), JobError> {
    let index = {
        let mut runs = RUNS.lock().unwrap();
        runs.push((queue.to_string(), Instant::now(), None, false));
        runs.len() - 1
    };
    let _end = EndOfRun(index);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    RUNS.lock().unwrap()[index].3 = true;
    Ok(())
}

#[job(queue = "hung")]
async fn on_hung_lane(ms: u64) -> Result<(), JobError> {
    hold("hung", ms).await
}

#[job(queue = "fine")]
async fn on_fine_lane(ms: u64) -> Result<(), JobError> {
    hold("fine", ms).await
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_renewals_hang_stops_its_run_on_time_and_holds_up_no_other_pool() {
    let driver = Arc::new(Hooked(HangingRenewals::default()));
    let queue = Queue::new(driver.clone());
    on_hung_lane::dispatch(&queue, 10_000).await.unwrap();
    on_fine_lane::dispatch(&queue, 3_000).await.unwrap();
    let lease = Duration::from_secs(1);
    let began = Instant::now();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_hung_lane", "on_fine_lane"])
            .lease(lease)
            .grace(Duration::ZERO)
            .run_until(stop.clone().cancelled_owned()),
    );
    // Renewals every 333 ms; the first ones go through, then the hung lane's stop answering.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = RUNS
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "hung" || r.0 == "fine")
        .count();
    assert_eq!(started, 2, "both runs started");
    driver.0.hang.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    stop.cancel();
    worker.await.unwrap().unwrap();

    let runs = RUNS.lock().unwrap().clone();
    let hung = runs.iter().find(|r| r.0 == "hung").unwrap();
    let fine = runs.iter().find(|r| r.0 == "fine").unwrap();
    // The last renewal that went through was sent at 333 ms: the run stops at 333 + 1000 - 100.
    let stopped = hung.2.expect("the hung lane's run was stopped") - began;
    assert!(!hung.3, "the hung lane's run did not finish");
    assert!(
        stopped >= Duration::from_millis(1_230) && stopped <= Duration::from_millis(1_240),
        "stopped {stopped:?} after the start, not at the last confirmation + lease - margin"
    );
    // The other pool's renewals went on: its run (three leases long) finished.
    assert!(fine.3, "the fine lane's run finished: {fine:?}");
    assert_eq!(fine.2.unwrap() - fine.1, Duration::from_millis(3_000));
}

#[job(queue = "late")]
async fn on_late_lane(ms: u64) -> Result<(), JobError> {
    hold("late", ms).await
}

/// A reservation that came back 680 ms into its 1 s lease starts its run: more than the margin
/// is left. The pool's next renewal, due at 999 ms, could not confirm the lease before the run
/// had to stop (at 900 ms); the lease task renews at once instead, and the 500 ms run finishes.
#[tokio::test(start_paused = true)]
async fn a_reservation_back_late_is_renewed_at_once_and_its_run_finishes() {
    let driver = Arc::new(Hooked(HangingRenewals::default()));
    driver.0.late_ms.store(680, Ordering::SeqCst);
    let queue = Queue::new(driver.clone());
    on_late_lane::dispatch(&queue, 500).await.unwrap();
    let began = Instant::now();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["on_late_lane"])
            .lease(Duration::from_secs(1))
            .grace(Duration::ZERO)
            .run_until(stop.clone().cancelled_owned()),
    );
    let late = loop {
        let run = RUNS.lock().unwrap().iter().find(|r| r.0 == "late").cloned();
        if let Some(run) = run.filter(|r| r.2.is_some()) {
            break run;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    stop.cancel();
    worker.await.unwrap().unwrap();
    assert!(late.1 - began >= Duration::from_millis(680), "{late:?}");
    assert!(
        late.3,
        "the run was stopped at {:?}",
        late.2.unwrap() - began
    );
}

#[job(queue = "timed", timeout = "30s")]
async fn timed(ms: u64) -> Result<(), JobError> {
    hold("timed", ms).await
}

/// A handler's timeout runs on Tokio's clock, as its run does: with the clock paused and moved
/// a minute on, a 100 ms run under a 30 s timeout finishes (it timed out at once when its
/// deadline was taken from the system's clock).
#[tokio::test(start_paused = true)]
async fn a_timeout_keeps_to_the_clock_the_run_sleeps_on() {
    tokio::time::advance(Duration::from_secs(60)).await;
    let queue = Queue::new(Arc::new(Hooked(HangingRenewals::default())));
    timed::dispatch(&queue, 100).await.unwrap();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        queue
            .worker()
            .handlers(["timed"])
            .run_until(stop.clone().cancelled_owned()),
    );
    let began = Instant::now();
    let run = loop {
        let run = RUNS
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.0 == "timed")
            .cloned();
        if let Some(run) = run.filter(|r| r.2.is_some()) {
            break run;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the run never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    stop.cancel();
    worker.await.unwrap().unwrap();
    assert!(
        run.3,
        "the run was stopped after {:?}",
        run.2.unwrap() - run.1
    );
}

#[tokio::test]
async fn a_driver_with_only_the_hot_path_runs_jobs_and_says_what_it_lacks() {
    let queue = Queue::new(Arc::new(Hooked(HangingRenewals::default())));
    let error = queue.counts("fine").await.unwrap_err();
    assert!(matches!(error, queue_core::Error::Unsupported { .. }));
    assert!(
        error
            .to_string()
            .starts_with("inspection and administration is not supported by this driver"),
        "{error}"
    );
    let error = queue
        .jobs(
            "fine",
            queue_core::JobQuery::new(queue_core::JobState::Ready),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, queue_core::Error::Unsupported { .. }),
        "{error}"
    );
    let error = queue.workers().await.unwrap_err();
    assert!(error
        .to_string()
        .starts_with("worker presence is not supported by this driver"));
}
