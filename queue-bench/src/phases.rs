//! The measurements on one driver: throughput, CPU, latency, idle cost, and the scaling drains.
//!
//! Every phase starts with the `bench` queue empty and leaves it empty.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use queue_core::{Keep, Queue};

use crate::args::Args;
use crate::jobs::{self, signup, BackgroundWorker, Signup};
use crate::measurements::{self, DriverReport, RedisCosts, ScalingRun};
use crate::probe::{Percentiles, Snapshot, Usage};

/// Jobs per `dispatch_bulk` call when filling a backlog.
const CHUNK: u64 = 1_000;
/// Concurrent producers of the one-by-one enqueue.
const PRODUCERS: u64 = 50;
/// Producers of the end-to-end phase, each dispatching batches of [`E2E_BATCH`].
const E2E_PRODUCERS: u64 = 4;
/// Jobs per dispatch of the end-to-end producers.
const E2E_BATCH: u64 = 100;
/// How long after a job started the next is dispatched when measuring the idle latency: long
/// enough for the worker to be back waiting (its reserve after the run answered).
pub(crate) const IDLE_GAP: Duration = Duration::from_millis(5);
/// How long the idle window lasts.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
/// Scaling backlogs smaller than this are drained repeatedly, until about this many jobs.
const SCALING_SAMPLE: u64 = 100_000;
/// Rounds of the scaling phase.
const ROUNDS: u64 = 5;
/// The most times one backlog is drained in a round.
const MAX_PER_ROUND: u64 = 4;
/// How long a drain's worker waits on the paused queue before the drain starts.
pub(crate) const WORKER_START: Duration = Duration::from_millis(100);
/// Jobs at the start of each scaling drain whose cost is compared across backlogs.
const OPENING: u64 = 10_000;
/// How far in the future the delayed backlog of the scaling phase is due.
const FAR_DELAY: Duration = Duration::from_secs(3600);

/// One driver under test.
pub(crate) struct Bench<'a> {
    /// `memory` or `redis`.
    pub(crate) driver: &'static str,
    /// The queue over that driver.
    pub(crate) queue: Queue,
    /// A client of the Redis server behind it, for INFO (Redis only).
    pub(crate) redis: Option<redis::Client>,
    /// The flags.
    pub(crate) args: &'a Args,
    /// Whether to run the scaling phases (`--scaling-max` permitting).
    pub(crate) scaling: bool,
    /// What workers keep of successful jobs (nothing for the bare runs).
    pub(crate) keep: Keep,
    /// Whether to run the rate-limit phase ([`limited`](crate::limited)).
    pub(crate) limits: bool,
}

impl Bench<'_> {
    /// Prints what is being measured on stderr, so a long run shows where it is.
    fn progress(&self, what: &str) {
        eprintln!("queue-bench: {}: {what}", self.driver);
    }

    /// Both processes' counters now.
    async fn snapshot(&self) -> Snapshot {
        Snapshot::take(self.redis.as_ref()).await
    }

    /// Runs every measurement and returns them.
    pub(crate) async fn run(&self) -> DriverReport {
        let n = self.args.jobs;
        for queue in [&jobs::ping::DEFINITION, &jobs::due::DEFINITION].map(|d| d.queue) {
            self.queue.purge(queue).await.expect("purge");
        }
        self.purge().await;

        self.progress(&format!("bulk enqueue of {n} jobs"));
        let s0 = self.snapshot().await;
        let bulk = timed(self.enqueue_bulk(0..n, None)).await;
        let s1 = self.snapshot().await;

        self.progress("drain");
        let Drained {
            elapsed: drain,
            used: drained,
            ..
        } = self.drain(n, None).await;
        let s2 = self.snapshot().await;

        self.progress(&format!("enqueue one by one ({PRODUCERS} producers)"));
        let one_by_one = timed(self.enqueue_one_by_one(n)).await;
        let s3 = self.snapshot().await;
        self.purge().await;

        self.progress("end to end");
        let s4 = self.snapshot().await;
        let (e2e_jobs, e2e) = self.end_to_end(n).await;
        let s5 = self.snapshot().await;

        self.progress("idle latency");
        let (back_to_back, latency) = self.idle_latency().await;

        self.progress("delayed jobs and idle window");
        let (delayed, lateness, idle) = self.delayed_and_idle().await;

        let (enqueue, singles) = (s1.since(&s0), s3.since(&s2));
        let redis = match (enqueue.server, drained.server, singles.server, idle.server) {
            (Some(enqueue), Some(drained), Some(singles), Some(idle)) => {
                let per_job = |cpu: Duration| cpu.as_secs_f64() * 1e6 / n as f64;
                let payload = Signup::average_len(n);
                Some(RedisCosts {
                    idle_commands_per_s: idle.commands as f64 / IDLE_WINDOW.as_secs_f64(),
                    payload_bytes: payload,
                    memory_per_job_beyond_payload_bytes: enqueue.memory / n as f64 - payload,
                    cpu_per_job_bulk_enqueue_us: per_job(enqueue.cpu),
                    cpu_per_job_one_by_one_enqueue_us: per_job(singles.cpu),
                    cpu_per_job_reserve_ack_us: per_job(drained.cpu),
                    cpu_per_job_whole_life_us: per_job(enqueue.cpu + drained.cpu),
                    commands_per_job_enqueue_drain: (enqueue.commands + drained.commands) as f64
                        / n as f64,
                })
            }
            _ => None,
        };
        let limited = if self.limits {
            self.progress("rate-limited drain");
            Some(crate::limited::measure(&self.queue, self.redis.as_ref()).await)
        } else {
            None
        };
        let scaling = if self.scaling {
            self.scaling().await
        } else {
            Vec::new()
        };
        DriverReport {
            driver: self.driver,
            jobs: n,
            bulk_enqueue_jobs_per_s: per_sec(n, bulk),
            one_by_one_producers: PRODUCERS,
            one_by_one_enqueue_jobs_per_s: per_sec(n, one_by_one),
            drain_jobs_per_s: per_sec(n, drain),
            end_to_end_jobs_per_s: per_sec(e2e_jobs, e2e),
            worker_cpu_per_job_drain_us: drained.cpu_per_job_us(n),
            process_cpu_per_job_end_to_end_us: s5.since(&s4).cpu_per_job_us(e2e_jobs),
            latency_samples: self.args.latency_jobs,
            back_to_back_latency: back_to_back,
            idle_latency: latency,
            delayed_samples: delayed,
            delayed_lateness: lateness,
            idle_worker_cpu_ms_per_s: idle.cpu.as_secs_f64() * 1e3 / IDLE_WINDOW.as_secs_f64(),
            redis,
            scaling,
            limited,
            payloads: Vec::new(),
            many_handlers: None,
            network: Vec::new(),
            baseline: None,
            vs_baseline: None,
        }
    }

    /// Dispatches jobs `ids` in bulk, [`CHUNK`] per call, delayed by `delay` if given.
    pub(crate) async fn enqueue_bulk(&self, ids: Range<u64>, delay: Option<Duration>) {
        for start in ids.clone().step_by(CHUNK as usize) {
            let chunk = (start..(start + CHUNK).min(ids.end)).map(|id| match delay {
                Some(delay) => signup(id).delay(delay),
                None => signup(id),
            });
            self.queue.dispatch_bulk(chunk).await.expect("bulk enqueue");
        }
    }

    /// Dispatches jobs `0..n` in one `dispatch_bulk` (the driver cuts it into calls); returns
    /// how long it took.
    pub(crate) async fn enqueue_at_once(&self, n: u64) -> Duration {
        let jobs: Vec<_> = (0..n).map(signup).collect();
        let start = Instant::now();
        self.queue.dispatch_bulk(jobs).await.expect("bulk enqueue");
        start.elapsed()
    }

    /// Dispatches jobs `0..n` one per call from [`PRODUCERS`] concurrent tasks.
    async fn enqueue_one_by_one(&self, n: u64) {
        let next = Arc::new(AtomicU64::new(0));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                let (queue, next) = (self.queue.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let id = next.fetch_add(1, Ordering::Relaxed);
                        if id >= n {
                            break;
                        }
                        jobs::noop::dispatch(&queue, Signup::new(id))
                            .await
                            .expect("dispatch");
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.expect("producer panicked");
        }
    }

    /// Runs a worker until `n` queued jobs have run. Returns the time from the first job's
    /// release to the last job's end, and what was used from that release until the worker
    /// had stopped (its shutdown settles the last acks). With `opening`, the queue is paused
    /// once that many jobs have run, and what was used until the jobs running then had ended
    /// is returned too, with how many jobs had run; the pause is not counted in the time.
    ///
    /// The worker starts on the paused queue and waits there for [`WORKER_START`] first, so
    /// its start-up (tasks, connections) is not counted: the figures are those of a running
    /// worker meeting a backlog, whose fixed start-up cost would otherwise weigh on a small
    /// backlog's per-job figures more than on a big one's.
    pub(crate) async fn drain(&self, n: u64, opening: Option<u64>) -> Drained {
        let queue = jobs::noop::DEFINITION.queue;
        jobs::reset_done();
        self.queue.pause(queue).await.expect("pause");
        let worker = BackgroundWorker::start(&self.queue, &["noop"], self.keep);
        tokio::time::sleep(WORKER_START).await;
        let before = self.snapshot().await;
        let start = Instant::now();
        self.queue.resume(queue).await.expect("resume");
        let mut opened = None;
        let mut paused_for = Duration::ZERO;
        if let Some(jobs) = opening {
            jobs::until_done(jobs).await;
            // Read at a standstill: the kernel brings a thread's CPU time up to date only when
            // it is descheduled or ticked, so threads still running would show up to a tick
            // (1-4 ms) short, as long as a whole 10k-job opening on the memory driver.
            let paused = Instant::now();
            self.queue.pause(queue).await.expect("pause");
            self.until_idle(queue).await;
            opened = Some((jobs::done(), self.snapshot().await.since(&before)));
            self.queue.resume(queue).await.expect("resume");
            paused_for = paused.elapsed();
        }
        jobs::until_done(n).await;
        let elapsed = start.elapsed() - paused_for;
        worker.stop().await;
        Drained {
            elapsed,
            used: self.snapshot().await.since(&before),
            opening: opened,
        }
    }

    /// Waits until no job of the `noop` queue is running (checked every millisecond).
    async fn until_idle(&self, queue: &str) {
        while self.queue.counts(queue).await.expect("counts").active > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Producers dispatching batches while the worker runs; returns (jobs, time).
    pub(crate) async fn end_to_end(&self, n: u64) -> (u64, Duration) {
        // Whole batches, at least one per producer.
        let share = (n / E2E_PRODUCERS / E2E_BATCH * E2E_BATCH).max(E2E_BATCH);
        let total = share * E2E_PRODUCERS;
        jobs::reset_done();
        let worker = BackgroundWorker::start(&self.queue, &["noop"], self.keep);
        let start = Instant::now();
        let producers: Vec<_> = (0..E2E_PRODUCERS)
            .map(|p| {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    for from in (p * share..(p + 1) * share).step_by(E2E_BATCH as usize) {
                        queue
                            .dispatch_bulk((from..from + E2E_BATCH).map(signup))
                            .await
                            .expect("enqueue");
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.await.expect("producer panicked");
        }
        jobs::until_done(total).await;
        let elapsed = start.elapsed();
        worker.stop().await;
        (total, elapsed)
    }

    /// Dispatch-to-start latency, one job at a time: each dispatched as the last one started,
    /// then each [`IDLE_GAP`] after it (the worker waiting). Returns (back to back, idle).
    async fn idle_latency(&self) -> (Percentiles, Percentiles) {
        let worker = BackgroundWorker::start(&self.queue, &["ping"], self.keep);
        tokio::time::sleep(Duration::from_millis(200)).await;
        // From a task of the runtime, as an application's dispatches come (a request handler's
        // task), not from the thread that blocks on the runtime.
        let (queue, jobs_n) = (self.queue.clone(), self.args.latency_jobs);
        let mut measured = tokio::spawn(async move {
            let mut measured = Vec::new();
            for gap in [None, Some(IDLE_GAP)] {
                jobs::LATENCIES.lock().unwrap().clear();
                for _ in 0..jobs_n {
                    if let Some(gap) = gap {
                        tokio::time::sleep(gap).await;
                    }
                    let pinged = jobs::PINGED.notified();
                    jobs::ping::dispatch(&queue, jobs::now_ns())
                        .await
                        .expect("dispatch");
                    pinged.await;
                }
                measured.push(Percentiles::of(std::mem::take(
                    &mut *jobs::LATENCIES.lock().unwrap(),
                )));
            }
            measured
        })
        .await
        .expect("latency task panicked");
        worker.stop().await;
        let idle = measured.pop().expect("idle latency");
        (measured.pop().expect("back-to-back latency"), idle)
    }

    /// Delayed jobs one at a time with an idle worker (how late they start), then the same
    /// worker idle with nothing queued for [`IDLE_WINDOW`]. Returns (delayed jobs, lateness,
    /// what the idle window used).
    async fn delayed_and_idle(&self) -> (u64, Percentiles, Usage) {
        jobs::LATENESS.lock().unwrap().clear();
        let worker = BackgroundWorker::start(&self.queue, &["due"], self.keep);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let delayed = (self.args.latency_jobs / 5).max(20);
        for i in 0..delayed {
            let delay = Duration::from_millis(20 + i % 30);
            let due_ns = (jobs::epoch().elapsed() + delay).as_nanos() as u64;
            let pinged = jobs::PINGED.notified();
            jobs::due::dispatch(&self.queue, due_ns)
                .delay(delay)
                .await
                .expect("dispatch");
            pinged.await;
        }
        let i0 = self.snapshot().await;
        tokio::time::sleep(IDLE_WINDOW).await;
        let i1 = self.snapshot().await;
        worker.stop().await;
        let lateness = Percentiles::of(std::mem::take(&mut *jobs::LATENESS.lock().unwrap()));
        (delayed, lateness, i1.since(&i0))
    }

    /// Drains at each backlog of `--scaling-max`, then ready jobs beside a delayed backlog, in
    /// [`ROUNDS`] rounds that each drain every backlog once, and one below [`SCALING_SAMPLE`]
    /// jobs as often as it takes to run about a fifth of that many jobs (see
    /// [`measurements::scaling_rows`] for how the rounds are combined).
    async fn scaling(&self) -> Vec<ScalingRun> {
        let mut rows: Vec<(u64, u64)> = self
            .args
            .scaling_backlogs()
            .into_iter()
            .map(|ready| (ready, 0))
            .collect();
        rows.extend(self.args.scaling_delayed());
        let mut samples = vec![Vec::new(); rows.len()];
        for round in 1..=ROUNDS {
            for (row, &(ready, delayed)) in rows.iter().enumerate() {
                let times = (SCALING_SAMPLE / ROUNDS / ready).clamp(1, MAX_PER_ROUND);
                let beside = match delayed {
                    0 => String::new(),
                    d => format!(" beside {d} delayed ones"),
                };
                let mut runs = Vec::new();
                for time in 1..=times {
                    self.progress(&format!(
                        "scaling, round {round} of {ROUNDS}: drain of {ready} queued jobs{beside} \
                         (run {time} of {times})"
                    ));
                    runs.push(self.scaling_run(ready, delayed).await);
                }
                samples[row].push(runs);
            }
        }
        measurements::scaling_rows(samples)
    }

    /// Queues `delayed` jobs due in an hour and `ready` jobs, drains the ready ones, purges.
    async fn scaling_run(&self, ready: u64, delayed: u64) -> ScalingRun {
        let before = self.snapshot().await;
        let enqueue = timed(async {
            self.enqueue_bulk(ready..ready + delayed, Some(FAR_DELAY))
                .await;
            self.enqueue_bulk(0..ready, None).await;
        })
        .await;
        let drained = self.drain(ready, Some(ready.min(OPENING))).await;
        let (opening_jobs, opening) = drained.opening.expect("the opening was measured");
        let counts = self
            .queue
            .counts(jobs::noop::DEFINITION.queue)
            .await
            .expect("counts");
        assert_eq!(
            (counts.ready, counts.active, counts.scheduled),
            (0, 0, delayed),
            "after the drain only the delayed jobs are left"
        );
        self.purge().await;
        let after = self.snapshot().await.since(&before);
        ScalingRun {
            ready_jobs: ready,
            delayed_jobs: delayed,
            enqueue_jobs_per_s: per_sec(ready + delayed, enqueue),
            drain_jobs_per_s: per_sec(ready, drained.elapsed),
            worker_cpu_per_job_us: drained.used.cpu_per_job_us(ready),
            redis_cpu_per_job_us: drained.used.server_cpu_per_job_us(ready),
            opening_jobs,
            opening_worker_cpu_per_job_us: opening.cpu_per_job_us(opening_jobs),
            opening_redis_cpu_per_job_us: opening.server_cpu_per_job_us(opening_jobs),
            redis_memory_left_after_purge_bytes: after.server.map(|s| s.memory),
            runs: 1,
            worker_cpu_vs_first_percent: 0.0,
            redis_cpu_vs_first_percent: None,
        }
    }

    /// Deletes every job of the queue and checks that none is left. On Redis, also has the
    /// server's allocator return the freed pages now (`MEMORY PURGE`): otherwise it returns
    /// them over the next seconds, in the server's CPU time of whatever is measured next.
    pub(crate) async fn purge(&self) {
        self.queue
            .purge(jobs::noop::DEFINITION.queue)
            .await
            .expect("purge");
        if let Some(client) = &self.redis {
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("connect to Redis");
            let _: () = redis::cmd("MEMORY")
                .arg("PURGE")
                .query_async(&mut conn)
                .await
                .expect("MEMORY PURGE");
        }
        let counts = self
            .queue
            .counts(jobs::noop::DEFINITION.queue)
            .await
            .expect("counts");
        assert_eq!(
            counts.pending() + counts.failed,
            0,
            "the purged queue is empty"
        );
    }
}

/// What a drain took and used.
pub(crate) struct Drained {
    /// From the release of the jobs to the end of the last one.
    pub(crate) elapsed: Duration,
    /// From the release of the jobs until the worker had stopped.
    used: Usage,
    /// Jobs done when the opening was read, and what was used until then.
    opening: Option<(u64, Usage)>,
}

/// Runs `work` and returns how long it took.
async fn timed(work: impl std::future::Future<Output = ()>) -> Duration {
    let start = Instant::now();
    work.await;
    start.elapsed()
}

/// Jobs per second.
pub(crate) fn per_sec(jobs: u64, elapsed: Duration) -> f64 {
    jobs as f64 / elapsed.as_secs_f64()
}
