//! The rate-limit phase: a handler limited to [`RATE`] starts per second, drained by two
//! workers from a backlog of three seconds' worth of jobs. The limit is checked from the start
//! times the storage assigned (`JobContext::started_at`: the time of the reserve that leased
//! each job, by the storage's clock, the Redis server's for Redis, the one its limiter counts
//! by), as the most starts in any window of one second; then the throughput against the limit
//! (over the whole run, which also charges the workers' time to start a window's worth at once,
//! and against an exact limiter with the same workers, which does not), and the storage's CPU
//! per job with the limit on. Start times taken by the worker when a reservation arrived would
//! add the jitter of the replies' delivery: a reply slower than the one after it moves a
//! reservation over a window's edge, and the count over the limit, although the storage
//! admitted within it.

use std::sync::Mutex;
use std::time::Duration;

use queue_core::{job, unix_ms, JobContext, JobError, Keep, Queue};
use tokio::sync::Notify;

use crate::jobs::{BackgroundWorker, Signup};
use crate::measurements::LimitedRun;
use crate::probe::Snapshot;

/// The handler's limit: starts per [`WINDOW`].
pub(crate) const RATE: u64 = 20_000;
/// The limit's window.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);
/// Windows' worth of jobs in the backlog.
const WINDOWS: u64 = 3;
/// Workers sharing the limit.
const WORKERS: usize = 2;

/// Start times (ms since the Unix epoch, by the storage's clock; 0 when the driver did not
/// report one) recorded by [`limited`].
static STARTS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// How many starts [`measure`] waits for.
static WANTED: Mutex<usize> = Mutex::new(usize::MAX);
/// Woken once [`WANTED`] starts were recorded.
static ALL_STARTED: Notify = Notify::const_new();

/// A no-op handler limited to [`RATE`] starts per second across every worker. It records when
/// the storage started its run ([`JobContext::started_at`]), the time the limit counted.
#[job(
    queue = "bench-limited",
    concurrency = 50,
    attempts = 1,
    rate = "20000/1s"
)]
pub(crate) async fn limited(_signup: Signup, ctx: JobContext) -> Result<(), JobError> {
    let started = ctx.started_at().map_or(0, unix_ms);
    let mut starts = STARTS.lock().unwrap();
    starts.push(started);
    if starts.len() == *WANTED.lock().unwrap() {
        ALL_STARTED.notify_one();
    }
    Ok(())
}

/// The most of `starts` (sorted) within any span shorter than `window`, in the same unit: a
/// start at `t` counts in the windows up to `t + window`, not included, as the limiters count.
fn most_within(starts: &[u64], window: u64) -> u64 {
    let mut most = 0;
    let mut from = 0;
    for (to, &at) in starts.iter().enumerate() {
        while at - starts[from] >= window {
            from += 1;
        }
        most = most.max(to + 1 - from);
    }
    most as u64
}

/// The run's throughput against what a limiter admitting exactly at its limit would give with
/// the same workers: such a limiter admits a window's worth at the first start and again one
/// window after each, so its last start comes `(n / rate - 1)` windows after the first plus
/// the time the workers take to start a window's worth at once (measured from the first
/// window: from the first start to the `rate`-th). The ratio of that span to the run's
/// (each plus one window) is 1 for an exact limiter and falls by the time a limiter loses
/// waking late or admitting short, whatever the workers' speed.
fn against_exact(starts: &[u64], window: u64, rate: u64) -> f64 {
    let n = starts.len() as u64;
    let first = starts[0];
    let burst = starts[(rate.min(n) - 1) as usize] - first;
    let exact = (n.div_ceil(rate) - 1) * window + burst + window;
    let actual = starts[starts.len() - 1] - first + window;
    exact as f64 / actual as f64
}

/// Runs the phase on `queue`'s driver; `redis` is a client of the Redis server behind it, for
/// its CPU (Redis only).
pub(crate) async fn measure(bench_queue: &Queue, redis: Option<&redis::Client>) -> LimitedRun {
    let queue = limited::DEFINITION.queue;
    let n = RATE * WINDOWS;
    bench_queue.purge(queue).await.expect("purge");
    bench_queue.pause(queue).await.expect("pause");
    for start in (0..n).step_by(1_000) {
        let chunk = (start..(start + 1_000).min(n)).map(|id| limited::job(Signup::new(id)));
        bench_queue
            .dispatch_bulk(chunk)
            .await
            .expect("bulk enqueue");
    }
    STARTS.lock().unwrap().clear();
    *WANTED.lock().unwrap() = n as usize;
    let workers: Vec<BackgroundWorker> = (0..WORKERS)
        .map(|_| BackgroundWorker::start(bench_queue, &["limited"], Keep::default()))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = Snapshot::take(redis).await;
    let started = ALL_STARTED.notified();
    bench_queue.resume(queue).await.expect("resume");
    started.await;
    let used = Snapshot::take(redis).await.since(&before);
    for worker in workers {
        worker.stop().await;
    }
    let mut starts = std::mem::take(&mut *STARTS.lock().unwrap());
    assert!(
        starts.iter().all(|&at| at > 0),
        "the driver reports when the storage started each run (ReservedJob::started_at)"
    );
    starts.sort_unstable();
    let window = WINDOW.as_millis() as u64;
    // A sliding window admits a window's worth at once, then as the oldest starts leave it:
    // n jobs take (n / rate - 1) windows from the first start to the last, at the limit.
    let span = (starts[starts.len() - 1] - starts[0]) as f64 / 1e3 + WINDOW.as_secs_f64();
    let per_second = starts.len() as f64 / span;
    LimitedRun {
        rate: RATE,
        jobs: n,
        most_in_a_window: most_within(&starts, window),
        throughput_of_limit: per_second / (RATE as f64 / WINDOW.as_secs_f64()),
        against_exact: against_exact(&starts, window, RATE),
        server_cpu_per_job_us: used.server_cpu_per_job_us(n),
    }
}

#[cfg(test)]
mod tests {
    use super::{against_exact, most_within};

    #[test]
    fn counts_the_busiest_window() {
        assert_eq!(most_within(&[0, 1, 2, 10, 11, 12, 13], 5), 4);
        assert_eq!(most_within(&[0, 5, 10], 5), 1);
        assert_eq!(most_within(&[0, 4, 8], 5), 2);
        assert_eq!(most_within(&[7], 5), 1);
    }

    #[test]
    fn starts_a_window_apart_count_in_different_windows() {
        // Storage starts in ms of reservations of 2 under a limit of 2 per 1000 ms: a sliding
        // window admits the next pair at once when the first leaves it.
        let starts = [5_000, 5_000, 6_000, 6_000, 7_000, 7_000];
        assert_eq!(most_within(&starts, 1_000), 2);
        // One start a millisecond early is one over the limit.
        assert_eq!(most_within(&[5_000, 5_000, 5_999, 6_000], 1_000), 3);
    }

    #[test]
    fn an_exact_limiter_scores_one_whatever_the_workers_speed() {
        // Two per window of 10; each window's pair takes 3 to start.
        assert_eq!(against_exact(&[0, 3, 10, 13, 20, 23], 10, 2), 1.0);
        // The third window's pair admitted 2 late: (20 + 3 + 10) / (25 + 10).
        assert_eq!(against_exact(&[0, 3, 10, 13, 22, 25], 10, 2), 33.0 / 35.0);
        // One window's worth or less: nothing to lose.
        assert_eq!(against_exact(&[0, 1, 2], 10, 4), 1.0);
    }
}
