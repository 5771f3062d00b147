//! What a run measured: per driver its figures (field names carry their units), its scaling
//! drains, and what describes the run as a whole.

use serde::Serialize;

use crate::machine::Machine;
use crate::probe::Percentiles;
use crate::report::count;

/// What describes the run as a whole.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunInfo {
    /// When it started, UTC.
    pub(crate) date: String,
    /// The command line.
    pub(crate) command: String,
    /// The machine.
    pub(crate) machine: Machine,
    /// `7.0.15 (own redis-server, no persistence)`, when Redis was measured.
    pub(crate) redis_server: Option<String>,
    /// `redis_version` from INFO server.
    pub(crate) redis_server_version: Option<String>,
    /// Jobs per throughput phase.
    pub(crate) jobs: u64,
    /// Idle latency samples asked for.
    pub(crate) latency_jobs: u64,
    /// Largest scaling backlog (0: skipped).
    pub(crate) scaling_max: u64,
}

/// Everything measured on one driver. Field names carry their units.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DriverReport {
    /// `memory` or `redis`.
    pub(crate) driver: &'static str,
    /// Jobs per throughput phase.
    pub(crate) jobs: u64,
    /// Bulk enqueue, 1,000 jobs per call.
    pub(crate) bulk_enqueue_jobs_per_s: f64,
    /// Producers of the one-by-one enqueue.
    pub(crate) one_by_one_producers: u64,
    /// Enqueue of single jobs by that many concurrent producers.
    pub(crate) one_by_one_enqueue_jobs_per_s: f64,
    /// Drain of `jobs` queued jobs, handler concurrency 50, no-op handler.
    pub(crate) drain_jobs_per_s: f64,
    /// 4 producers dispatching batches of 100 while the worker runs.
    pub(crate) end_to_end_jobs_per_s: f64,
    /// This process's CPU (user + sys) per job over the drain, when only the worker runs.
    pub(crate) worker_cpu_per_job_drain_us: f64,
    /// This process's CPU per job over end to end: producers and worker.
    pub(crate) process_cpu_per_job_end_to_end_us: f64,
    /// Samples of the idle latency.
    pub(crate) latency_samples: u64,
    /// Dispatch to handler start, one job at a time with an idle worker.
    pub(crate) idle_latency: Percentiles,
    /// Delayed jobs measured.
    pub(crate) delayed_samples: u64,
    /// Due time to handler start, one delayed job at a time with an idle worker.
    pub(crate) delayed_lateness: Percentiles,
    /// This process's CPU while its worker waits with nothing queued, in ms per second.
    pub(crate) idle_worker_cpu_ms_per_s: f64,
    /// Redis server costs (Redis driver only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis: Option<RedisCosts>,
    /// Drains at growing backlogs (empty when skipped).
    pub(crate) scaling: Vec<ScalingRun>,
}

/// What the Redis server spent.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RedisCosts {
    /// Commands per second while the worker waits with nothing queued.
    pub(crate) idle_commands_per_s: f64,
    /// Average payload of the throughput jobs.
    pub(crate) payload_bytes: f64,
    /// `used_memory` growth per queued job, minus the payload.
    pub(crate) memory_per_job_beyond_payload_bytes: f64,
    /// Server CPU per job of the bulk enqueue.
    pub(crate) cpu_per_job_bulk_enqueue_us: f64,
    /// Server CPU per job of the one-by-one enqueue.
    pub(crate) cpu_per_job_one_by_one_enqueue_us: f64,
    /// Server CPU per job of the drain (reserve + ack).
    pub(crate) cpu_per_job_reserve_ack_us: f64,
    /// Bulk enqueue + reserve + ack.
    pub(crate) cpu_per_job_whole_life_us: f64,
    /// Commands per job over bulk enqueue and drain, counting those run inside scripts.
    pub(crate) commands_per_job_enqueue_drain: f64,
}

/// One drain at a given backlog.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScalingRun {
    /// Ready jobs queued, then drained.
    pub(crate) ready_jobs: u64,
    /// Delayed jobs (due in an hour) pending beside them, never run.
    pub(crate) delayed_jobs: u64,
    /// Bulk enqueue of the backlog (delayed first), 1,000 jobs per call.
    pub(crate) enqueue_jobs_per_s: f64,
    /// Drain of the ready jobs.
    pub(crate) drain_jobs_per_s: f64,
    /// This process's CPU per drained job.
    pub(crate) worker_cpu_per_job_us: f64,
    /// Redis server CPU per drained job (reserve + ack).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_per_job_us: Option<f64>,
    /// `used_memory` after the purge minus before the enqueue: near 0 when the purge freed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_memory_left_after_purge_bytes: Option<f64>,
    /// Runs of this backlog the figures are the median of (memory left: the largest).
    pub(crate) runs: u64,
    /// Worker CPU per job against the first (10k) run, in percent.
    pub(crate) worker_cpu_vs_first_percent: f64,
    /// Redis CPU per job against the first (10k) run, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_vs_first_percent: Option<f64>,
}

impl ScalingRun {
    /// `1M ready`, `10k ready (median of 10 runs)` or `100k ready + 1M delayed (due in 1 h)`.
    pub(crate) fn backlog(&self) -> String {
        let mut text = format!("{} ready", count(self.ready_jobs));
        if self.delayed_jobs > 0 {
            text += &format!(" + {} delayed (due in 1 h)", count(self.delayed_jobs));
        }
        if self.runs > 1 {
            text += &format!(" (median of {} runs)", self.runs);
        }
        text
    }

    /// One run from repeated runs of a backlog: the median of each figure, the largest memory
    /// left after a purge.
    pub(crate) fn median(runs: Vec<ScalingRun>) -> ScalingRun {
        let median = |figure: fn(&ScalingRun) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(figure).collect();
            values.sort_by(f64::total_cmp);
            // The middle value, or the mean of the two middle ones.
            let len = values.len();
            (values[(len - 1) / 2] + values[len / 2]) / 2.0
        };
        let has_redis = runs.iter().all(|r| r.redis_cpu_per_job_us.is_some());
        ScalingRun {
            ready_jobs: runs[0].ready_jobs,
            delayed_jobs: runs[0].delayed_jobs,
            enqueue_jobs_per_s: median(|r| r.enqueue_jobs_per_s),
            drain_jobs_per_s: median(|r| r.drain_jobs_per_s),
            worker_cpu_per_job_us: median(|r| r.worker_cpu_per_job_us),
            redis_cpu_per_job_us: has_redis
                .then(|| median(|r| r.redis_cpu_per_job_us.unwrap_or(0.0))),
            redis_memory_left_after_purge_bytes: runs
                .iter()
                .filter_map(|r| r.redis_memory_left_after_purge_bytes)
                .reduce(f64::max),
            runs: runs.iter().map(|r| r.runs).sum(),
            worker_cpu_vs_first_percent: 0.0,
            redis_cpu_vs_first_percent: None,
        }
    }
}

/// Sets each run's spread against the first.
pub(crate) fn set_spreads(runs: &mut [ScalingRun]) {
    let Some(first) = runs.first().cloned() else {
        return;
    };
    let spread = |value: f64, base: f64| (value / base - 1.0) * 100.0;
    for run in runs {
        run.worker_cpu_vs_first_percent =
            spread(run.worker_cpu_per_job_us, first.worker_cpu_per_job_us);
        run.redis_cpu_vs_first_percent = run
            .redis_cpu_per_job_us
            .zip(first.redis_cpu_per_job_us)
            .map(|(value, base)| spread(value, base));
    }
}

/// The spread of largest magnitude over the runs: (worker CPU, Redis CPU).
pub(crate) fn widest_spreads(runs: &[ScalingRun]) -> (f64, Option<f64>) {
    let widest = |spreads: &mut dyn Iterator<Item = f64>| {
        spreads.fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a })
    };
    let worker = widest(&mut runs.iter().map(|r| r.worker_cpu_vs_first_percent));
    let redis = runs
        .iter()
        .any(|r| r.redis_cpu_vs_first_percent.is_some())
        .then(|| widest(&mut runs.iter().filter_map(|r| r.redis_cpu_vs_first_percent)));
    (worker, redis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A single run with these figures.
    fn run(ready: u64, worker: f64, redis: Option<f64>) -> ScalingRun {
        ScalingRun {
            ready_jobs: ready,
            delayed_jobs: 0,
            enqueue_jobs_per_s: 1.0,
            drain_jobs_per_s: 1.0,
            worker_cpu_per_job_us: worker,
            redis_cpu_per_job_us: redis,
            redis_memory_left_after_purge_bytes: None,
            runs: 1,
            worker_cpu_vs_first_percent: 0.0,
            redis_cpu_vs_first_percent: None,
        }
    }

    #[test]
    fn spreads_against_the_first_run() {
        let mut runs = vec![
            run(10_000, 10.0, Some(20.0)),
            run(100_000, 11.0, Some(15.0)),
            run(1_000_000, 9.0, Some(22.0)),
        ];
        set_spreads(&mut runs);
        let (worker, redis) = widest_spreads(&runs);
        assert!((worker - 10.0).abs() < 1e-9, "{worker}");
        assert!((redis.unwrap() + 25.0).abs() < 1e-9, "{redis:?}");
        let median = ScalingRun::median(vec![
            run(10_000, 12.0, Some(1.0)),
            run(10_000, 10.0, Some(3.0)),
            run(10_000, 99.0, Some(2.0)),
        ]);
        assert_eq!(median.worker_cpu_per_job_us, 12.0);
        assert_eq!((median.redis_cpu_per_job_us, median.runs), (Some(2.0), 3));
        assert_eq!(median.backlog(), "10k ready (median of 3 runs)");
        let mut memory = vec![run(10_000, 10.0, None), run(100_000, 10.5, None)];
        set_spreads(&mut memory);
        assert_eq!(widest_spreads(&memory).1, None);
    }
}
