//! What a run measured: per driver its figures (field names carry their units), its scaling
//! drains, and what describes the run as a whole.

use serde::Serialize;

use crate::baseline::{Baseline, Ratios};
use crate::machine::Machine;
use crate::numbers::count;
use crate::probe::Percentiles;

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

/// What the rate-limited phase measured ([`limited`](crate::limited)).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LimitedRun {
    /// The limit, in starts per window.
    pub(crate) rate: u64,
    /// Jobs run.
    pub(crate) jobs: u64,
    /// The most recorded starts within any window of the limit's.
    pub(crate) most_in_a_window: u64,
    /// Starts per second, from the first start to one window after the last (a sliding window
    /// admits a window's worth at once), as a fraction of the limit.
    pub(crate) throughput_of_limit: f64,
    /// The throughput against an exact limiter's with the same workers (see
    /// `limited::against_exact`).
    pub(crate) against_exact: f64,
    /// Redis CPU per job over the drain (Redis only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cpu_per_job_us: Option<f64>,
}

/// What one round trip of the network phases measured ([`network`](crate::network)).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NetworkRun {
    /// The round trip the proxy adds.
    pub(crate) round_trip_ms: f64,
    /// The median `PING` time through the proxy, as measured.
    pub(crate) measured_round_trip_p50_us: f64,
    /// One `dispatch_bulk` of all the drain's jobs through the proxy, in each round.
    pub(crate) bulk_jobs_per_s: Vec<f64>,
    /// Drain (concurrency 50) through the proxy, in each round.
    pub(crate) drain_jobs_per_s: Vec<f64>,
    /// End to end (4 producers, batches of 100) through the proxy, in each round.
    pub(crate) end_to_end_jobs_per_s: Vec<f64>,
    /// How late the proxy's sends left after their due times, over all its sends in the run:
    /// a lower bound on what the measured processes had beyond the round trip asked for (the
    /// due time is stamped when the proxy reads the data).
    pub(crate) proxy_late: Percentiles,
    /// Whether the proxy's threads ran at real-time priority (else the permission was refused).
    pub(crate) proxy_realtime: bool,
}

impl NetworkRun {
    /// The median over the rounds of `figure`.
    pub(crate) fn median(figure: &[f64]) -> f64 {
        median_of(figure.to_vec())
    }

    /// `figure` of each round as a share of `at_zero`'s in the same round (in %), and their
    /// median: what the round trip costs, with the machine's drift between rounds left out.
    pub(crate) fn kept(figure: &[f64], at_zero: &[f64]) -> (f64, Vec<f64>) {
        let shares: Vec<f64> = figure
            .iter()
            .zip(at_zero)
            .map(|(value, zero)| value * 100.0 / zero)
            .collect();
        (median_of(shares.clone()), shares)
    }
}

/// What the many-handlers phase measured ([`many`](crate::many)).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ManyHandlersRun {
    /// Handlers the worker ran.
    pub(crate) handlers: u64,
    /// Connections the worker held to Redis while every lane was idle.
    pub(crate) connections: u64,
    /// Redis commands per second while every lane was idle.
    pub(crate) idle_commands_per_s: f64,
    /// Jobs dispatched one at a time, a pause apart, each to the next handler in turn; then as
    /// many to one handler.
    pub(crate) pickups: u64,
    /// Their dispatch-to-start latency, each to the next handler.
    pub(crate) pickup_latency: Percentiles,
    /// The same with every job for one handler, in the same worker.
    pub(crate) one_handler_pickup_latency: Percentiles,
}

/// What the big-payload phase measured for one size ([`payloads`](crate::payloads)).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PayloadRun {
    /// Bytes of data in each payload.
    pub(crate) payload_bytes: u64,
    /// Jobs dispatched and drained.
    pub(crate) jobs: u64,
    /// Bulk dispatch by one producer, in MB of payload data per second.
    pub(crate) enqueue_mb_per_s: f64,
    /// Dispatch one job per call by 50 concurrent producers, in MB/s.
    pub(crate) one_by_one_mb_per_s: f64,
    /// Drain (concurrency 50, the handler deserializing every payload), in MB/s.
    pub(crate) drain_mb_per_s: f64,
    /// `redis-benchmark` SET of values of the same size (50 clients, one key), in MB/s.
    pub(crate) set_mb_per_s: f64,
    /// The same on as many distinct keys as there are jobs (`-r`), in MB/s.
    pub(crate) set_distinct_mb_per_s: f64,
    /// `redis-benchmark` GET of them, in MB/s.
    pub(crate) get_mb_per_s: f64,
    /// Redis memory per queued job beyond its payload's JSON.
    pub(crate) memory_per_job_beyond_payload_bytes: Option<f64>,
    /// CPU per job of the one-by-one dispatch: this process's, and the Redis server's.
    pub(crate) one_by_one_cpu: JobCpu,
    /// CPU per job of the drain: this process's (worker and handler), and the server's.
    pub(crate) drain_cpu: JobCpu,
}

/// CPU per job of a phase, in µs: the bench process's and the Redis server's.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct JobCpu {
    /// This process.
    pub(crate) client_us: f64,
    /// The Redis server (`INFO cpu`), when it could be read.
    pub(crate) server_us: Option<f64>,
}

impl JobCpu {
    /// Per job of `jobs`, from what a phase used.
    pub(crate) fn of(used: &crate::probe::Usage, jobs: u64) -> Self {
        JobCpu {
            client_us: used.cpu_per_job_us(jobs),
            server_us: used.server_cpu_per_job_us(jobs),
        }
    }
}

impl PayloadRun {
    /// Dispatch (one job per call, 50 producers) and drain of one byte against one SET (of
    /// one key, or with `distinct` of distinct keys) and one GET of it: the payload's whole
    /// trip through Redis against the raw writes and reads, as a share.
    pub(crate) fn of_raw(&self, distinct: bool) -> f64 {
        let job = 1.0 / self.one_by_one_mb_per_s + 1.0 / self.drain_mb_per_s;
        let set = if distinct {
            self.set_distinct_mb_per_s
        } else {
            self.set_mb_per_s
        };
        let raw = 1.0 / set + 1.0 / self.get_mb_per_s;
        raw / job
    }

    /// The most [`of_raw(false)`](Self::of_raw) can be for any store that keeps each job's
    /// payload until it is read: its dispatch no faster than the raw SET of distinct keys (the
    /// server keeps every value, as a queue must, where the SET of one key reuses one value's
    /// memory), its drain no faster than the raw GET.
    pub(crate) fn ceiling_of_raw(&self) -> f64 {
        let raw = 1.0 / self.set_mb_per_s + 1.0 / self.get_mb_per_s;
        let keeping = 1.0 / self.set_distinct_mb_per_s + 1.0 / self.get_mb_per_s;
        raw / keeping
    }
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
    /// Samples of each latency below.
    pub(crate) latency_samples: u64,
    /// Dispatch to handler start, one job at a time, each dispatched as the last one started
    /// (the worker is still finishing it, its threads awake).
    pub(crate) back_to_back_latency: Percentiles,
    /// Dispatch to handler start, one job at a time, each dispatched a pause after the last one
    /// started: the worker is back waiting, its threads asleep.
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
    /// The rate-limited drain (bare runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limited: Option<LimitedRun>,
    /// The big-payload phase (`--payloads`; bare Redis run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) payloads: Vec<PayloadRun>,
    /// The many-handlers phase (bare Redis run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) many_handlers: Option<ManyHandlersRun>,
    /// Drain and end to end through a delay proxy, per round trip (`--rtt`; bare Redis run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) network: Vec<NetworkRun>,
    /// `redis-benchmark` against the same server before and after the phases (Redis only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) baseline: Option<Baseline>,
    /// The Redis figures as fractions of the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) vs_baseline: Option<Ratios>,
}

impl DriverReport {
    /// Adds the baseline and the figures as fractions of it.
    pub(crate) fn with_baseline(mut self, baseline: Baseline) -> Self {
        self.vs_baseline = Some(self.ratios(&baseline));
        self.baseline = Some(baseline);
        self
    }

    /// This report's Redis figures as fractions of `baseline`.
    fn ratios(&self, baseline: &Baseline) -> Ratios {
        let list = |jobs_per_s: f64| jobs_per_s / baseline.list_calls_per_s;
        let evalsha = |cpu_us: f64| Some(cpu_us / baseline.evalsha_redis_cpu_per_call_us?);
        let costs = self.redis.as_ref();
        let cpu = |figure: fn(&RedisCosts) -> f64| evalsha(figure(costs?));
        Ratios {
            bulk_enqueue_per_list_call: list(self.bulk_enqueue_jobs_per_s),
            one_by_one_enqueue_per_list_call: list(self.one_by_one_enqueue_jobs_per_s),
            drain_per_list_call: list(self.drain_jobs_per_s),
            end_to_end_per_list_call: list(self.end_to_end_jobs_per_s),
            redis_cpu_bulk_enqueue_per_evalsha: cpu(|c| c.cpu_per_job_bulk_enqueue_us),
            redis_cpu_one_by_one_enqueue_per_evalsha: cpu(|c| c.cpu_per_job_one_by_one_enqueue_us),
            redis_cpu_reserve_ack_per_evalsha: cpu(|c| c.cpu_per_job_reserve_ack_us),
            redis_cpu_whole_life_per_evalsha: cpu(|c| c.cpu_per_job_whole_life_us),
        }
    }
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
    /// The opening of the drain the next two figures cover: its first this many jobs (all of
    /// them when the backlog is no bigger).
    pub(crate) opening_jobs: u64,
    /// This process's CPU per job over the opening.
    pub(crate) opening_worker_cpu_per_job_us: f64,
    /// Redis server CPU per job over the opening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) opening_redis_cpu_per_job_us: Option<f64>,
    /// `used_memory` after the purge minus before the enqueue: near 0 when the purge freed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_memory_left_after_purge_bytes: Option<f64>,
    /// Runs of this backlog the figures are the median of (memory left: the largest).
    pub(crate) runs: u64,
    /// Worker CPU per job over the opening against the first (10k) row's, in percent.
    pub(crate) worker_cpu_vs_first_percent: f64,
    /// Redis CPU per job over the opening against the first (10k) row's, in percent.
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
        let median = |figure: fn(&ScalingRun) -> f64| median_of(runs.iter().map(figure).collect());
        let has_redis = runs.iter().all(|r| r.redis_cpu_per_job_us.is_some());
        ScalingRun {
            ready_jobs: runs[0].ready_jobs,
            delayed_jobs: runs[0].delayed_jobs,
            enqueue_jobs_per_s: median(|r| r.enqueue_jobs_per_s),
            drain_jobs_per_s: median(|r| r.drain_jobs_per_s),
            worker_cpu_per_job_us: median(|r| r.worker_cpu_per_job_us),
            redis_cpu_per_job_us: has_redis
                .then(|| median(|r| r.redis_cpu_per_job_us.unwrap_or(0.0))),
            opening_jobs: runs[0].opening_jobs,
            opening_worker_cpu_per_job_us: median(|r| r.opening_worker_cpu_per_job_us),
            opening_redis_cpu_per_job_us: has_redis
                .then(|| median(|r| r.opening_redis_cpu_per_job_us.unwrap_or(0.0))),
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

/// The middle value, or the mean of the two middle ones.
fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let len = values.len();
    (values[(len - 1) / 2] + values[len / 2]) / 2.0
}

/// The scaling table's rows from `samples[row][round]`, the runs of one backlog in one round.
///
/// A row's figures are the medians of all its runs. Its change against the first row compares
/// CPU per job over the drains' openings (runs of equal length whatever the backlog, since the
/// later jobs of a long drain cost more than its first ones at any backlog on the VM measured)
/// within each round, and keeps the median over the rounds: the machine drifts by tens of
/// percent over a minute, and a round drains every backlog within a few seconds of each other.
pub(crate) fn scaling_rows(samples: Vec<Vec<Vec<ScalingRun>>>) -> Vec<ScalingRun> {
    let per_round: Vec<Vec<ScalingRun>> = samples
        .iter()
        .map(|rounds| rounds.iter().cloned().map(ScalingRun::median).collect())
        .collect();
    let mut rows: Vec<ScalingRun> = samples
        .into_iter()
        .map(|rounds| ScalingRun::median(rounds.into_iter().flatten().collect()))
        .collect();
    let Some(first) = per_round.first() else {
        return rows;
    };
    let spread = |value: f64, base: f64| (value / base - 1.0) * 100.0;
    for (row, rounds) in rows.iter_mut().zip(&per_round) {
        let pairs = || rounds.iter().zip(first);
        row.worker_cpu_vs_first_percent = median_of(
            pairs()
                .map(|(run, base)| {
                    spread(
                        run.opening_worker_cpu_per_job_us,
                        base.opening_worker_cpu_per_job_us,
                    )
                })
                .collect(),
        );
        let redis: Option<Vec<f64>> = pairs()
            .map(|(run, base)| {
                Some(spread(
                    run.opening_redis_cpu_per_job_us?,
                    base.opening_redis_cpu_per_job_us?,
                ))
            })
            .collect();
        row.redis_cpu_vs_first_percent = redis.map(median_of);
    }
    rows
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

/// A run's description for tests: this machine, no Redis.
#[cfg(test)]
pub(crate) fn run_fixture() -> RunInfo {
    RunInfo {
        date: "2026-12-04T00:00:00Z".into(),
        command: "queue-bench".into(),
        machine: crate::machine::Machine::read(),
        redis_server: None,
        redis_server_version: None,
        jobs: 100_000,
        latency_jobs: 1000,
        scaling_max: 0,
    }
}

/// A Redis report for tests with these throughputs (bulk, one by one, drain, end to end) and
/// Redis CPU per job (bulk, one by one, reserve + ack).
#[cfg(test)]
pub(crate) fn report_fixture(jobs_per_s: [f64; 4], cpu_us: Option<[f64; 3]>) -> DriverReport {
    DriverReport {
        driver: "redis",
        jobs: 100_000,
        bulk_enqueue_jobs_per_s: jobs_per_s[0],
        one_by_one_producers: 50,
        one_by_one_enqueue_jobs_per_s: jobs_per_s[1],
        drain_jobs_per_s: jobs_per_s[2],
        end_to_end_jobs_per_s: jobs_per_s[3],
        worker_cpu_per_job_drain_us: 1.0,
        process_cpu_per_job_end_to_end_us: 2.0,
        latency_samples: 1000,
        back_to_back_latency: Percentiles::default(),
        idle_latency: Percentiles::default(),
        delayed_samples: 200,
        delayed_lateness: Percentiles::default(),
        idle_worker_cpu_ms_per_s: 0.1,
        redis: cpu_us.map(|[bulk, single, reserve_ack]| RedisCosts {
            idle_commands_per_s: 0.0,
            payload_bytes: 44.0,
            memory_per_job_beyond_payload_bytes: 93.0,
            cpu_per_job_bulk_enqueue_us: bulk,
            cpu_per_job_one_by_one_enqueue_us: single,
            cpu_per_job_reserve_ack_us: reserve_ack,
            cpu_per_job_whole_life_us: bulk + reserve_ack,
            commands_per_job_enqueue_drain: 0.5,
        }),
        scaling: Vec::new(),
        limited: None,
        payloads: Vec::new(),
        many_handlers: None,
        network: Vec::new(),
        baseline: None,
        vs_baseline: None,
    }
}

#[cfg(test)]
mod tests {
    use super::report_fixture as report;
    use super::*;
    use crate::baseline::{Run, Test};

    /// A `redis-benchmark` test of `requests` calls at `calls_per_s`, with this CPU per call.
    fn test(requests: u64, calls_per_s: f64, cpu_us: Option<f64>) -> Test {
        Test {
            command: "PING".into(),
            requests,
            calls_per_s,
            redis_cpu_per_call_us: cpu_us,
        }
    }

    /// `a` and `b` agree to 1e-9 of `b`.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 1e-9
    }

    #[test]
    fn ratios_divide_throughput_by_list_calls_and_cpu_by_evalsha_cpu() {
        // 1,000,000 list calls/s before and after; 2.5 µs per EVALSHA call.
        let even = |evalsha| Run {
            lpush: test(1_000_000, 1_000_000.0, None),
            rpop: test(1_000_000, 1_000_000.0, None),
            evalsha: test(400_000, 300_000.0, evalsha),
        };
        let baseline = Baseline::of(even(Some(2.0)), even(Some(3.0)));
        let measured = report(
            [400_000.0, 120_000.0, 200_000.0, 150_000.0],
            Some([1.0, 2.5, 3.0]),
        );
        let with = measured.clone().with_baseline(baseline.clone());
        let r = with.vs_baseline.expect("the ratios were computed");
        assert!(close(r.bulk_enqueue_per_list_call, 0.4));
        assert!(close(r.one_by_one_enqueue_per_list_call, 0.12));
        assert!(close(r.drain_per_list_call, 0.2));
        assert!(close(r.end_to_end_per_list_call, 0.15));
        assert!(close(r.redis_cpu_bulk_enqueue_per_evalsha.unwrap(), 0.4));
        assert!(close(
            r.redis_cpu_one_by_one_enqueue_per_evalsha.unwrap(),
            1.0
        ));
        assert!(close(r.redis_cpu_reserve_ack_per_evalsha.unwrap(), 1.2));
        assert!(close(r.redis_cpu_whole_life_per_evalsha.unwrap(), 1.6));
        assert!(with.baseline.is_some());

        // Without Redis CPU figures, or without the baseline's, only throughput is divided.
        let no_costs = report([1.0; 4], None).ratios(&baseline);
        assert_eq!(no_costs.redis_cpu_whole_life_per_evalsha, None);
        let no_evalsha = measured.ratios(&Baseline::of(even(None), even(Some(3.0))));
        assert_eq!(no_evalsha.redis_cpu_reserve_ack_per_evalsha, None);
        assert!(close(no_evalsha.drain_per_list_call, 0.2));
    }

    /// A single run with these CPU figures over its opening, and twice them over the whole
    /// drain (so a spread taken from the whole-drain figures would show).
    fn run(ready: u64, worker: f64, redis: Option<f64>) -> ScalingRun {
        ScalingRun {
            ready_jobs: ready,
            delayed_jobs: 0,
            enqueue_jobs_per_s: 1.0,
            drain_jobs_per_s: 1.0,
            worker_cpu_per_job_us: worker * 2.0,
            redis_cpu_per_job_us: redis.map(|r| r * 2.0),
            opening_jobs: ready.min(10_000),
            opening_worker_cpu_per_job_us: worker,
            opening_redis_cpu_per_job_us: redis,
            redis_memory_left_after_purge_bytes: None,
            runs: 1,
            worker_cpu_vs_first_percent: 0.0,
            redis_cpu_vs_first_percent: None,
        }
    }

    #[test]
    fn rows_compare_openings_within_rounds() {
        // Round 2 ran on a machine twice as slow: every figure doubled, the changes did not.
        let samples = vec![
            vec![
                vec![run(10_000, 10.0, Some(20.0)), run(10_000, 10.0, Some(20.0))],
                vec![run(10_000, 20.0, Some(40.0))],
            ],
            vec![
                vec![run(100_000, 11.0, Some(15.0))],
                vec![run(100_000, 22.0, Some(30.0))],
            ],
            vec![
                vec![run(1_000_000, 9.0, Some(22.0))],
                vec![run(1_000_000, 18.0, Some(44.0))],
            ],
        ];
        let rows = scaling_rows(samples);
        let (worker, redis) = widest_spreads(&rows);
        assert!((worker - 10.0).abs() < 1e-9, "{worker}");
        assert!((redis.unwrap() + 25.0).abs() < 1e-9, "{redis:?}");
        assert_eq!(rows[0].runs, 3);
        assert_eq!(rows[0].backlog(), "10k ready (median of 3 runs)");
        assert_eq!(rows[0].opening_worker_cpu_per_job_us, 10.0);
        assert_eq!(
            rows[0].worker_cpu_per_job_us, 20.0,
            "twice the opening (see `run`)"
        );
        assert_eq!(rows[1].opening_redis_cpu_per_job_us, Some(22.5));
        let memory = scaling_rows(vec![
            vec![vec![run(10_000, 10.0, None)]],
            vec![vec![run(100_000, 10.5, None)]],
        ]);
        assert_eq!(widest_spreads(&memory).1, None);
    }

    #[test]
    fn a_median_takes_each_figure_apart() {
        let median = ScalingRun::median(vec![
            run(10_000, 12.0, Some(1.0)),
            run(10_000, 10.0, Some(3.0)),
            run(10_000, 99.0, Some(2.0)),
        ]);
        assert_eq!(median.opening_worker_cpu_per_job_us, 12.0);
        assert_eq!(median.worker_cpu_per_job_us, 24.0);
        assert_eq!(
            (median.opening_redis_cpu_per_job_us, median.runs),
            (Some(2.0), 3)
        );
    }

    #[test]
    fn a_payload_trip_is_set_against_raw_and_its_ceiling_against_distinct_keys() {
        let cpu = JobCpu {
            client_us: 1.0,
            server_us: None,
        };
        let p = PayloadRun {
            payload_bytes: 100 << 10,
            jobs: 10,
            enqueue_mb_per_s: 1.0,
            one_by_one_mb_per_s: 100.0,
            drain_mb_per_s: 200.0,
            set_mb_per_s: 400.0,
            set_distinct_mb_per_s: 200.0,
            get_mb_per_s: 400.0,
            memory_per_job_beyond_payload_bytes: None,
            one_by_one_cpu: cpu,
            drain_cpu: cpu,
        };
        // Raw: 1/400 + 1/400 = 0.005; the trip: 1/100 + 1/200 = 0.015.
        assert!((p.of_raw(false) - 1.0 / 3.0).abs() < 1e-9);
        // Against distinct keys: 1/200 + 1/400 = 0.0075.
        assert!((p.of_raw(true) - 0.5).abs() < 1e-9);
        // Keeping every value at the distinct SET's pace and reading at GET's: 0.005 / 0.0075.
        assert!((p.ceiling_of_raw() - 2.0 / 3.0).abs() < 1e-9);
    }
}
