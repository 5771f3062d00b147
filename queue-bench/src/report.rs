//! The outputs of a run: the main table's rows with their targets, markdown on stdout, and
//! JSON with `--json`.

use serde::Serialize;

use crate::baseline::{self, Baseline, Ratios};
use crate::measurements::{widest_spreads, DriverReport, LimitedRun, NetworkRun, RunInfo};
use crate::numbers::{count, thousands};
use crate::probe::Percentiles;
use crate::targets::{self, Limit, Verdict};

/// A row of the main table (and, in the JSON report, of a driver's targets).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    /// What was measured, with the driver: `redis: drain (concurrency 50)`.
    pub(crate) measurement: String,
    /// The figure, formatted.
    pub(crate) value: String,
    /// The target for it, if any.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<Verdict>,
}

impl DriverReport {
    /// The rows of the main table, in order, with targets for this driver.
    pub(crate) fn rows(&self) -> Vec<Row> {
        let redis = self.driver.starts_with("redis");
        let mut rows = Vec::new();
        let mut row = |what: &str, value: String, target: Option<Verdict>| {
            rows.push(Row {
                measurement: format!("{}: {what}", self.driver),
                value,
                target,
            })
        };
        let only = |on: bool, limit: Limit, value: f64| on.then(|| limit.check(value));
        row(
            "bulk enqueue (batches of 1,000)",
            rate(self.bulk_enqueue_jobs_per_s),
            only(
                redis,
                targets::REDIS_BULK_ENQUEUE,
                self.bulk_enqueue_jobs_per_s,
            ),
        );
        row(
            &format!(
                "enqueue one by one ({} producers)",
                self.one_by_one_producers
            ),
            rate(self.one_by_one_enqueue_jobs_per_s),
            None,
        );
        row(
            "drain (concurrency 50)",
            rate(self.drain_jobs_per_s),
            only(redis, targets::REDIS_DRAIN, self.drain_jobs_per_s),
        );
        let e2e = self.end_to_end_jobs_per_s;
        row(
            "end to end (4 producers, batches of 100)",
            rate(e2e),
            Some(if redis {
                targets::REDIS_END_TO_END.check(e2e)
            } else {
                targets::MEMORY_END_TO_END.check(e2e)
            }),
        );
        row(
            "worker CPU per job (drain)",
            micros(self.worker_cpu_per_job_drain_us),
            None,
        );
        row(
            "process CPU per job, end to end (producers + worker in this process)",
            micros(self.process_cpu_per_job_end_to_end_us),
            None,
        );
        row(
            &format!(
                "back-to-back latency p50 / p99 / max ({} jobs, each dispatched as the last one started)",
                count(self.latency_samples)
            ),
            percentiles(&self.back_to_back_latency),
            None,
        );
        let idle = &self.idle_latency;
        row(
            &format!(
                "idle latency p50 / p99 / max ({} jobs, each dispatched {} ms after the last one started)",
                count(self.latency_samples),
                crate::phases::IDLE_GAP.as_millis()
            ),
            percentiles(idle),
            Some(if redis {
                Verdict::of(&[
                    (targets::REDIS_IDLE_P50, idle.p50_us),
                    (targets::REDIS_IDLE_P99, idle.p99_us),
                ])
            } else {
                targets::MEMORY_IDLE_P50.check(idle.p50_us)
            }),
        );
        row(
            &format!(
                "delayed job lateness p50 / p99 / max ({} jobs, idle worker)",
                count(self.delayed_samples)
            ),
            percentiles(&self.delayed_lateness),
            only(
                redis,
                targets::REDIS_DELAYED_P99,
                self.delayed_lateness.p99_us,
            ),
        );
        row(
            "idle worker process CPU (nothing queued, 3 s)",
            format!(
                "{:.3} ms per s ({:.3}% of a core)",
                self.idle_worker_cpu_ms_per_s,
                self.idle_worker_cpu_ms_per_s / 10.0
            ),
            None,
        );
        if let Some(l) = &self.limited {
            for (what, value, target) in l.rows() {
                row(&what, value, target);
            }
        }
        for p in &self.payloads {
            let kb = p.payload_bytes >> 10;
            row(
                &format!(
                    "{kb} KB payloads ({} jobs): bulk enqueue / one by one (50 producers) / drain, MB/s of payload (raw SET of one key / of distinct keys / GET of {kb} KB, 50 clients)",
                    count(p.jobs)
                ),
                format!(
                    "{:.1} / {:.1} / {:.1} ({:.1} / {:.1} / {:.1})",
                    p.enqueue_mb_per_s,
                    p.one_by_one_mb_per_s,
                    p.drain_mb_per_s,
                    p.set_mb_per_s,
                    p.set_distinct_mb_per_s,
                    p.get_mb_per_s
                ),
                None,
            );
            let share = p.of_raw(false) * 100.0;
            let distinct = p.of_raw(true) * 100.0;
            let target =
                (p.payload_bytes == 100 << 10).then(|| targets::BIG_PAYLOAD_OF_RAW.check(share));
            let memory = p
                .memory_per_job_beyond_payload_bytes
                .map_or(String::new(), |m| {
                    format!("; Redis memory per job beyond its payload {m:.0} bytes")
                });
            let ceiling = p.ceiling_of_raw() * 100.0;
            row(
                &format!("{kb} KB payloads: dispatch one by one + drain against raw SET + GET"),
                format!(
                    "{share:.1}% (against SET of distinct keys: {distinct:.1}%; at most {ceiling:.1}% for a store keeping each value){memory}"
                ),
                target,
            );
            let cpu = |c: &crate::measurements::JobCpu| {
                let server = c.server_us.map_or("-".to_string(), |s| format!("{s:.1}"));
                format!("{:.1} / {server}", c.client_us)
            };
            row(
                &format!(
                    "{kb} KB payloads: CPU per job, bench / Redis, dispatch one by one; drain"
                ),
                format!("{} µs; {} µs", cpu(&p.one_by_one_cpu), cpu(&p.drain_cpu)),
                None,
            );
        }
        if let Some(m) = &self.many_handlers {
            row(
                &format!(
                    "{} handlers in one worker: connections to Redis / Redis commands per second while idle",
                    m.handlers
                ),
                format!("{} / {:.2}", m.connections, m.idle_commands_per_s),
                None,
            );
            let gap = crate::phases::IDLE_GAP.as_millis();
            row(
                &format!(
                    "{} handlers in one worker: pickup latency p50 / p99 / max ({} jobs, each to the next handler, {gap} ms apart)",
                    m.handlers,
                    count(m.pickups)
                ),
                percentiles(&m.pickup_latency),
                None,
            );
            row(
                &format!(
                    "{} handlers in one worker: pickup latency p50 / p99 / max ({} jobs, all to one handler, {gap} ms apart)",
                    m.handlers,
                    count(m.pickups)
                ),
                percentiles(&m.one_handler_pickup_latency),
                None,
            );
            if m.one_handler_pickup_latency.p50_us > 0.0 {
                // Judged as shown, to a tenth of a percent.
                let share = (m.pickup_latency.p50_us * 1_000.0
                    / m.one_handler_pickup_latency.p50_us)
                    .round()
                    / 10.0;
                row(
                    "pickup latency p50, each to the next handler ÷ all to one handler",
                    format!("{share:.1}%"),
                    Some(targets::MANY_PICKUP_OF_ONE.check(share)),
                );
            }
        }
        let local = self.network.iter().find(|n| n.round_trip_ms == 0.0);
        for n in &self.network {
            let through = format!(
                "through a proxy adding {} ms round trip (PING p50 {}; its sends late by p50 / p99 {} / {} over the run, its threads at {} priority)",
                trim_ms(n.round_trip_ms),
                micros(n.measured_round_trip_p50_us),
                micros(n.proxy_late.p50_us),
                micros(n.proxy_late.p99_us),
                if n.proxy_realtime {
                    "real-time"
                } else {
                    "normal (real-time refused)"
                }
            );
            // Drain and end to end are judged; the bulk dispatch is shown beside them.
            for (what, rounds, at_zero, judged) in [
                (
                    "bulk enqueue (one dispatch of all the jobs)",
                    &n.bulk_jobs_per_s,
                    local.map(|l| &l.bulk_jobs_per_s),
                    false,
                ),
                (
                    "drain",
                    &n.drain_jobs_per_s,
                    local.map(|l| &l.drain_jobs_per_s),
                    true,
                ),
                (
                    "end to end",
                    &n.end_to_end_jobs_per_s,
                    local.map(|l| &l.end_to_end_jobs_per_s),
                    true,
                ),
            ] {
                let value = NetworkRun::median(rounds);
                let kept = at_zero
                    .filter(|_| n.round_trip_ms > 0.0)
                    .map(|zero| NetworkRun::kept(rounds, zero));
                let value = match &kept {
                    Some((kept, shares)) => {
                        let shares: Vec<String> =
                            shares.iter().map(|s| format!("{s:.1}%")).collect();
                        format!(
                            "{} ({kept:.1}% of 0 ms; median of {} rounds: {})",
                            rate(value),
                            shares.len(),
                            shares.join(", ")
                        )
                    }
                    None => format!("{} (median of {} rounds)", rate(value), rounds.len()),
                };
                let target = kept
                    .filter(|_| judged && n.round_trip_ms == 1.0)
                    .map(|(kept, _)| targets::NETWORK_KEPT_AT_1MS.check(kept));
                row(&format!("{what} {through}"), value, target);
            }
        }
        if let Some(r) = &self.redis {
            row(
                "idle worker: Redis commands per second",
                format!("{:.2}", r.idle_commands_per_s),
                Some(targets::REDIS_IDLE_COMMANDS.check(r.idle_commands_per_s)),
            );
            row(
                &format!(
                    "Redis memory per queued job beyond its {:.0}-byte payload",
                    r.payload_bytes
                ),
                format!("{:.0} bytes", r.memory_per_job_beyond_payload_bytes),
                Some(targets::REDIS_MEMORY_PER_JOB.check(r.memory_per_job_beyond_payload_bytes)),
            );
            row(
                "Redis CPU per job: bulk enqueue",
                micros(r.cpu_per_job_bulk_enqueue_us),
                None,
            );
            row(
                "Redis CPU per job: enqueue one by one",
                micros(r.cpu_per_job_one_by_one_enqueue_us),
                None,
            );
            row(
                "Redis CPU per job: reserve + ack",
                micros(r.cpu_per_job_reserve_ack_us),
                None,
            );
            row(
                "Redis CPU per job: whole life (bulk enqueue + reserve + ack)",
                micros(r.cpu_per_job_whole_life_us),
                Some(targets::REDIS_CPU_WHOLE_LIFE.check(r.cpu_per_job_whole_life_us)),
            );
            row(
                "Redis commands per job (bulk enqueue + drain, counting commands inside scripts)",
                format!("{:.3}", r.commands_per_job_enqueue_drain),
                None,
            );
        }
        if self.scaling.len() > 1 {
            let (worker, redis_cpu) = widest_spreads(&self.scaling);
            let first = &self.scaling[0];
            let largest = self
                .scaling
                .iter()
                .map(|r| r.ready_jobs.max(r.delayed_jobs));
            let (what, value, widest) = match redis_cpu {
                Some(redis_cpu) => (
                    "worker CPU / Redis CPU",
                    format!("{} / {}", percent(worker), percent(redis_cpu)),
                    worker.abs().max(redis_cpu.abs()),
                ),
                None => ("worker CPU", percent(worker), worker.abs()),
            };
            row(
                &format!(
                    "per-job cost, widest change from {} to {} queued (first {} jobs of each \
                     drain; {what}; table below)",
                    count(first.ready_jobs),
                    count(largest.max().unwrap_or(0)),
                    count(first.opening_jobs),
                ),
                value,
                Some(targets::COST_SPREAD.check(widest)),
            );
        }
        if let (Some(baseline), Some(ratios)) = (&self.baseline, &self.vs_baseline) {
            for (what, value) in baseline_rows(baseline, ratios) {
                row(&what, value, None);
            }
        }
        rows
    }
}

impl LimitedRun {
    /// The main table's rows of the rate-limited phase: what, the figure, the target.
    fn rows(&self) -> Vec<(String, String, Option<Verdict>)> {
        let kept = self.most_in_a_window as f64 * 100.0 / self.rate as f64;
        let mut rows = vec![(
            format!(
                "rate limit {}/1s over 2 workers ({} jobs): most starts in any 1 s window, by the \
                 starts the storage assigned",
                count(self.rate),
                count(self.jobs)
            ),
            format!("{} ({kept:.1}% of the limit)", count(self.most_in_a_window)),
            Some(targets::LIMIT_KEPT.check(kept)),
        )];
        let share = self.throughput_of_limit * 100.0;
        rows.push((
            "rate-limited throughput (first start to one window after the last) of the limit"
                .into(),
            format!("{share:.1}%"),
            None,
        ));
        let exact = self.against_exact * 100.0;
        rows.push((
            "rate-limited throughput against an exact limiter with the same workers".into(),
            format!("{exact:.1}%"),
            Some(targets::LIMIT_THROUGHPUT.check(exact)),
        ));
        if let Some(cpu) = self.server_cpu_per_job_us {
            rows.push((
                "Redis CPU per job, rate-limited drain".into(),
                micros(cpu),
                None,
            ));
        }
        rows
    }
}

/// The baseline's rows: its tests before and after the phases, what the figures are divided by,
/// and the figures divided by it.
fn baseline_rows(baseline: &Baseline, ratios: &Ratios) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let run = &baseline.before;
    let tests = format!(
        "LPUSH / RPOP / EVALSHA of a one-command script (redis-benchmark, pipelines of {}, {} \
         clients; {} / {} / {} requests)",
        baseline.pipeline,
        baseline.clients,
        count(run.lpush.requests),
        count(run.rpop.requests),
        count(run.evalsha.requests),
    );
    for (when, run) in [
        ("before the Redis phases", &baseline.before),
        ("after the Redis phases", &baseline.after),
    ] {
        let [lpush, rpop, evalsha] = [&run.lpush, &run.rpop, &run.evalsha];
        rows.push((
            format!("baseline {when}: {tests}"),
            format!(
                "{} / {} / {} calls/s",
                thousands(lpush.calls_per_s),
                thousands(rpop.calls_per_s),
                thousands(evalsha.calls_per_s)
            ),
        ));
        if let (Some(l), Some(r), Some(e)) = (
            lpush.redis_cpu_per_call_us,
            rpop.redis_cpu_per_call_us,
            evalsha.redis_cpu_per_call_us,
        ) {
            rows.push((
                format!("baseline {when}: Redis CPU per call, LPUSH / RPOP / EVALSHA"),
                format!("{l:.2} / {r:.2} / {e:.2} µs"),
            ));
        }
    }
    rows.push((
        "baseline: LPUSH and RPOP calls over the time they took (mean of before and after)".into(),
        format!("{} calls/s", thousands(baseline.list_calls_per_s)),
    ));
    let ratio = |value: f64| format!("{value:.3}");
    for (what, value) in [
        ("bulk enqueue", ratios.bulk_enqueue_per_list_call),
        (
            "enqueue one by one",
            ratios.one_by_one_enqueue_per_list_call,
        ),
        ("drain", ratios.drain_per_list_call),
        ("end to end", ratios.end_to_end_per_list_call),
    ] {
        rows.push((
            format!("{what} (jobs/s) ÷ baseline LPUSH and RPOP calls/s"),
            ratio(value),
        ));
    }
    if let Some(evalsha) = baseline.evalsha_redis_cpu_per_call_us {
        rows.push((
            "baseline: Redis CPU per EVALSHA call (mean of before and after)".into(),
            micros(evalsha),
        ));
    }
    for (what, value) in [
        ("bulk enqueue", ratios.redis_cpu_bulk_enqueue_per_evalsha),
        (
            "enqueue one by one",
            ratios.redis_cpu_one_by_one_enqueue_per_evalsha,
        ),
        ("reserve + ack", ratios.redis_cpu_reserve_ack_per_evalsha),
        ("whole life", ratios.redis_cpu_whole_life_per_evalsha),
    ] {
        if let Some(value) = value {
            rows.push((
                format!("Redis CPU per job: {what} ÷ baseline Redis CPU per EVALSHA call"),
                ratio(value),
            ));
        }
    }
    rows
}

/// The markdown report: header, main table, observed against bare (with `--observe`), scaling
/// table.
pub(crate) fn markdown(run: &RunInfo, reports: &[DriverReport]) -> String {
    let mut out = String::from("# queue-bench\n\n");
    out += &run_lines(run);
    out += &format!(
        "- No-op handler, concurrency 50; payload `{{\"id\": n, \"email\": \"user<n>@example.com\"}}`; \
         {} jobs per throughput phase\n",
        count(run.jobs)
    );
    if reports.iter().any(|r| r.baseline.is_some()) {
        out += &format!(
            "- Baseline: `redis-benchmark` against the same Redis before and after its phases \
             (pipelined LPUSH and RPOP on one list, EVALSHA of `{}`); Redis throughput is also \
             given divided by its LPUSH and RPOP calls per second, Redis CPU per job divided by \
             its Redis CPU per EVALSHA call (each the mean of before and after)\n",
            baseline::SCRIPT
        );
    }
    out += "\n| measurement | result | target (issue 3) |\n|---|---|---|\n";
    for report in reports {
        for row in report.rows() {
            let target = row.target.as_ref().map_or(String::new(), Verdict::markdown);
            out += &format!("| {} | {} | {} |\n", row.measurement, row.value, target);
        }
    }
    let observed = observed_shares(reports);
    if !observed.is_empty() {
        out += "\nObserved against bare: each driver's per-job CPU with observation on, as a \
                share of its bare pass's in the same invocation.\n\n\
                | measurement | observed ÷ bare | target (issue 11) |\n|---|---|---|\n";
        for share in &observed {
            out += &share.markdown_row();
        }
    }
    if reports.iter().any(|r| !r.scaling.is_empty()) {
        out += "\nScaling: drain (concurrency 50) with the whole backlog queued first, by a \
                worker already started on the paused queue (timed from the resume); the queue is \
                purged after each run. Five rounds each drain every backlog once (the smallest \
                several times); a row's figures are the medians of all its runs. CPU per job is \
                given over the whole drain and over its first 10k jobs (the opening). A row's \
                change against the first compares openings (runs of the same length whatever \
                the backlog) within each round, and is the median over the rounds.\n\n";
        out += "| backlog | drain | worker CPU per job: whole drain / opening | Redis CPU per \
                job (reserve + ack): whole drain / opening | opening's per-job cost vs first \
                row | Redis memory left after purge |\n\
                |---|---|---|---|---|---|\n";
        for report in reports {
            for (i, run) in report.scaling.iter().enumerate() {
                let worker = percent(run.worker_cpu_vs_first_percent);
                let vs_first = match run.redis_cpu_vs_first_percent {
                    _ if i == 0 => "(baseline)".to_string(),
                    Some(redis) => format!("worker {worker}, Redis {}", percent(redis)),
                    None => format!("worker {worker}"),
                };
                let worker_cpu = format!(
                    "{} / {}",
                    micros(run.worker_cpu_per_job_us),
                    micros(run.opening_worker_cpu_per_job_us)
                );
                let redis_cpu = match (run.redis_cpu_per_job_us, run.opening_redis_cpu_per_job_us) {
                    (Some(whole), Some(opening)) => {
                        format!("{} / {}", micros(whole), micros(opening))
                    }
                    _ => "—".into(),
                };
                out += &format!(
                    "| {}: {} | {} | {} | {} | {} | {} |\n",
                    report.driver,
                    run.backlog(),
                    rate(run.drain_jobs_per_s),
                    worker_cpu,
                    redis_cpu,
                    vs_first,
                    run.redis_memory_left_after_purge_bytes
                        .map_or("—".into(), bytes_left),
                );
            }
        }
    }
    out
}

/// One observed per-job CPU figure as a share of the bare pass's (`--observe`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ObservedShare {
    /// What is compared: `redis+observed ÷ redis: worker CPU per job (drain)`.
    measurement: String,
    /// The observed figure over the bare one, in percent, to a tenth (as judged).
    percent: f64,
    /// The observed figure, µs per job.
    observed_us: f64,
    /// The bare figure, µs per job.
    bare_us: f64,
    /// Issue 11's bound and whether the share is within it.
    #[serde(flatten)]
    target: Verdict,
}

impl ObservedShare {
    /// Its line of the markdown table.
    fn markdown_row(&self) -> String {
        format!(
            "| {} | {:.1}% ({} / {}) | {} |\n",
            self.measurement,
            self.percent,
            micros(self.observed_us),
            micros(self.bare_us),
            self.target.markdown()
        )
    }
}

/// Per driver measured both bare and observed (`--observe`), the observed pass's per-job CPU
/// as a share of the bare pass's: the worker's over the drain, and the Redis server's for
/// reserve + ack. A figure whose bare pass is missing or measured nothing is left out.
fn observed_shares(reports: &[DriverReport]) -> Vec<ObservedShare> {
    let mut shares = Vec::new();
    for observed in reports {
        let Some(bare_name) = observed.driver.strip_suffix("+observed") else {
            continue;
        };
        let Some(bare) = reports.iter().find(|r| r.driver == bare_name) else {
            continue;
        };
        let mut share = |what: &str, bare_us: f64, observed_us: f64| {
            if bare_us > 0.0 {
                // Rounded before it is judged, so that the verdict is that of the figure shown.
                let percent = (observed_us / bare_us * 1000.0).round() / 10.0;
                shares.push(ObservedShare {
                    measurement: format!("{bare_name}+observed ÷ {bare_name}: {what}"),
                    percent,
                    observed_us,
                    bare_us,
                    target: targets::OBSERVED_COST.check(percent),
                });
            }
        };
        share(
            "worker CPU per job (drain)",
            bare.worker_cpu_per_job_drain_us,
            observed.worker_cpu_per_job_drain_us,
        );
        if let (Some(bare), Some(observed)) = (&bare.redis, &observed.redis) {
            share(
                "Redis CPU per job, reserve + ack",
                bare.cpu_per_job_reserve_ack_us,
                observed.cpu_per_job_reserve_ack_us,
            );
        }
    }
    shares
}

/// The report's first lines: date, machine, Redis server, command.
fn run_lines(run: &RunInfo) -> String {
    let mut out = format!("- Date: {}\n", run.date);
    out += &format!("- Machine: {}\n", run.machine.describe());
    if let Some(redis) = &run.redis_server {
        out += &format!("- Redis: {redis}\n");
    }
    out += &format!("- Command: `{}`\n", run.command);
    out
}

/// The report of `--only limited`: the run and the rate-limited phase's rows per driver.
pub(crate) fn markdown_limited(run: &RunInfo, runs: &[(&str, LimitedRun)]) -> String {
    let mut out = String::from("# queue-bench: the rate-limited phase alone\n\n");
    out += &run_lines(run);
    out += "- A no-op handler limited to 20,000 starts per 1 s window (sliding), concurrency 50 \
            in each of two workers, drains 60,000 jobs queued first; each start is the time the \
            storage assigned to the run (the reserve that leased it, by the storage's clock)\n";
    out += "\n| measurement | result | target |\n|---|---|---|\n";
    for (driver, limited) in runs {
        for (what, value, target) in limited.rows() {
            let target = target.as_ref().map_or(String::new(), Verdict::markdown);
            out += &format!("| {driver}: {what} | {value} | {target} |\n");
        }
    }
    out
}

/// The JSON report of `--only limited`: the run, then per driver the phase's measurements and
/// its rows that have a target.
pub(crate) fn json_limited(run: &RunInfo, runs: &[(&str, LimitedRun)]) -> String {
    /// One driver.
    #[derive(Serialize)]
    struct Driver<'a> {
        /// `memory` or `redis`.
        driver: &'a str,
        /// What the phase measured.
        limited: &'a LimitedRun,
        /// The rows that have a target, with whether it was met.
        targets: Vec<Row>,
    }
    /// The whole JSON report.
    #[derive(Serialize)]
    struct Json<'a> {
        /// The run.
        #[serde(flatten)]
        run: &'a RunInfo,
        /// The phase run alone.
        only: &'static str,
        /// Per driver.
        drivers: Vec<Driver<'a>>,
    }
    let drivers = runs
        .iter()
        .map(|(driver, limited)| Driver {
            driver,
            limited,
            targets: limited
                .rows()
                .into_iter()
                .filter_map(|(what, value, target)| {
                    target.map(|target| Row {
                        measurement: format!("{driver}: {what}"),
                        value,
                        target: Some(target),
                    })
                })
                .collect(),
        })
        .collect();
    let report = Json {
        run,
        only: "limited",
        drivers,
    };
    serde_json::to_string_pretty(&report).expect("the report serializes") + "\n"
}

/// The JSON report: the run, then per driver its measurements and the table's rows with their
/// targets, and with `--observe` the observed figures as shares of the bare ones
/// (`observed_against_bare`).
pub(crate) fn json(run: &RunInfo, reports: &[DriverReport]) -> String {
    /// One driver in the JSON report.
    #[derive(Serialize)]
    struct Driver<'a> {
        /// Its measurements.
        #[serde(flatten)]
        report: &'a DriverReport,
        /// The rows that have a target, with whether it was met.
        targets: Vec<Row>,
    }
    /// The whole JSON report.
    #[derive(Serialize)]
    struct Json<'a> {
        /// The run.
        #[serde(flatten)]
        run: &'a RunInfo,
        /// Per driver.
        drivers: Vec<Driver<'a>>,
        /// Observed against bare, per driver measured both ways.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        observed_against_bare: Vec<ObservedShare>,
    }
    let drivers = reports
        .iter()
        .map(|report| Driver {
            report,
            targets: report
                .rows()
                .into_iter()
                .filter(|r| r.target.is_some())
                .collect(),
        })
        .collect();
    let json = Json {
        run,
        drivers,
        observed_against_bare: observed_shares(reports),
    };
    serde_json::to_string_pretty(&json).expect("the report serializes") + "\n"
}

/// `0.5` for half a millisecond, `2` for two.
fn trim_ms(ms: f64) -> String {
    let text = format!("{ms:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `146,165 jobs/s`.
fn rate(jobs_per_s: f64) -> String {
    format!("{} jobs/s", thousands(jobs_per_s))
}

/// `5.32 µs`.
fn micros(us: f64) -> String {
    format!("{us:.2} µs")
}

/// `+4%`, `-12%`.
fn percent(value: f64) -> String {
    format!("{value:+.0}%")
}

/// `321 / 530 / 2,449 µs`.
fn percentiles(p: &Percentiles) -> String {
    format!(
        "{} / {} / {} µs",
        thousands(p.p50_us),
        thousands(p.p99_us),
        thousands(p.max_us)
    )
}

/// Memory left after a purge: `+1,234 bytes`, flagged when it did not come back down.
fn bytes_left(bytes: f64) -> String {
    /// More than this left over means the purge did not free the backlog.
    const SLACK: f64 = 1024.0 * 1024.0;
    let sign = if bytes >= 0.0 { "+" } else { "" };
    let text = format!("{sign}{} bytes", thousands(bytes));
    if bytes > SLACK {
        format!("{text} (**not freed**)")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(146_165.4), "146,165");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1_234.0), "-1,234");
        assert_eq!(count(1_000_000), "1M");
        assert_eq!(count(20_000), "20k");
        assert_eq!(count(12_345), "12,345");
        assert_eq!(percent(4.4), "+4%");
        assert_eq!(percent(-12.0), "-12%");
        assert_eq!(bytes_left(2e6), "+2,000,000 bytes (**not freed**)");
    }

    #[test]
    fn many_handlers_pickup_is_judged_against_one_handlers() {
        let p50 = |p50_us| Percentiles {
            p50_us,
            p99_us: 2.0 * p50_us,
            max_us: 3.0 * p50_us,
        };
        let ratio_row = |each_next, one| {
            let mut report = crate::measurements::report_fixture([1.0; 4], None);
            report.many_handlers = Some(crate::measurements::ManyHandlersRun {
                handlers: 200,
                connections: 9,
                idle_commands_per_s: 0.0,
                pickups: 400,
                pickup_latency: p50(each_next),
                one_handler_pickup_latency: p50(one),
            });
            let row = report
                .rows()
                .into_iter()
                .find(|r| r.measurement.contains("÷ all to one handler"))?;
            Some((row.value, row.target.expect("judged").met))
        };
        let with = |each_next, one| ratio_row(each_next, one).expect("the ratio row");
        assert_eq!(with(990.0, 900.0), ("110.0%".to_string(), true));
        assert_eq!(with(1_000.0, 900.0), ("111.1%".to_string(), false));
        assert_eq!(with(450.0, 900.0), ("50.0%".to_string(), true));
        // 110.04% shows as 110.0% and is judged so.
        assert_eq!(with(990.36, 900.0), ("110.0%".to_string(), true));
        // Nothing to divide by: no ratio.
        assert!(ratio_row(0.0, 0.0).is_none());
    }

    #[test]
    fn observed_runs_are_judged_against_their_bare_runs() {
        let driver = |name, worker_us, reserve_ack_us: Option<f64>| {
            let mut report = crate::measurements::report_fixture(
                [1.0; 4],
                reserve_ack_us.map(|us| [1.0, 1.0, us]),
            );
            report.driver = name;
            report.worker_cpu_per_job_drain_us = worker_us;
            report
        };
        let reports = [
            driver("memory", 0.40, None),
            driver("redis", 2.00, Some(4.00)),
            driver("memory+observed", 0.50, None),
            driver("redis+observed", 2.60, Some(4.80)),
        ];
        let rows: Vec<String> = observed_shares(&reports)
            .iter()
            .map(ObservedShare::markdown_row)
            .collect();
        assert_eq!(
            rows,
            [
                "| memory+observed ÷ memory: worker CPU per job (drain) | 125.0% (0.50 µs / \
                 0.40 µs) | ≤ 125%: met |\n",
                "| redis+observed ÷ redis: worker CPU per job (drain) | 130.0% (2.60 µs / 2.00 \
                 µs) | ≤ 125%: **not met** |\n",
                "| redis+observed ÷ redis: Redis CPU per job, reserve + ack | 120.0% (4.80 µs / \
                 4.00 µs) | ≤ 125%: met |\n",
            ]
        );
        // Judged as shown: 125.04% shows as 125.0%, and is within the bound.
        let close = [
            driver("redis", 1.0, None),
            driver("redis+observed", 1.2504, None),
        ];
        let shares = observed_shares(&close);
        assert_eq!((shares[0].percent, shares[0].target.met), (125.0, true));
        assert!(
            observed_shares(&reports[..2]).is_empty(),
            "no shares without observed passes"
        );
        // No bare pass, a bare figure of nothing, a bare pass without Redis figures: left out.
        let lone = [driver("redis+observed", 2.6, Some(4.8))];
        assert!(observed_shares(&lone).is_empty());
        let nothing = [
            driver("redis", 0.0, Some(0.0)),
            driver("redis+observed", 2.6, Some(4.8)),
        ];
        assert!(observed_shares(&nothing).is_empty());
        let no_server = [
            driver("redis", 2.0, None),
            driver("redis+observed", 2.6, Some(4.8)),
        ];
        let shares = observed_shares(&no_server);
        assert_eq!(shares.len(), 1, "the worker's share only");
        assert_eq!(shares[0].percent, 130.0);
        let json: serde_json::Value =
            serde_json::from_str(&json(&crate::measurements::run_fixture(), &reports))
                .expect("the report is JSON");
        assert_eq!(
            json["observed_against_bare"][1],
            serde_json::json!({
                "measurement": "redis+observed ÷ redis: worker CPU per job (drain)",
                "percent": 130.0,
                "observed_us": 2.6,
                "bare_us": 2.0,
                "target": "≤ 125%",
                "met": false,
            })
        );
    }

    #[test]
    fn baseline_rows_show_both_runs_and_the_ratios() {
        let test = |command: &str, requests, calls_per_s, cpu| baseline::Test {
            command: command.into(),
            requests,
            calls_per_s,
            redis_cpu_per_call_us: cpu,
        };
        let run = |calls_per_s: f64, evalsha_cpu| baseline::Run {
            lpush: test("LPUSH k x", 1_000_000, calls_per_s, Some(1.25)),
            rpop: test("RPOP k", 1_000_000, calls_per_s, Some(0.5)),
            evalsha: test("EVALSHA s 1 c", 400_000, 300_000.4, evalsha_cpu),
        };
        let baseline = Baseline::of(run(800_000.0, Some(2.0)), run(1_000_000.0, Some(3.0)));
        let ratios = Ratios {
            bulk_enqueue_per_list_call: 0.4,
            one_by_one_enqueue_per_list_call: 0.12,
            drain_per_list_call: 0.2,
            end_to_end_per_list_call: 0.1504,
            redis_cpu_bulk_enqueue_per_evalsha: Some(0.4),
            redis_cpu_one_by_one_enqueue_per_evalsha: Some(1.0),
            redis_cpu_reserve_ack_per_evalsha: Some(1.2),
            redis_cpu_whole_life_per_evalsha: Some(1.6),
        };
        let rows = baseline_rows(&baseline, &ratios);
        let tests = "LPUSH / RPOP / EVALSHA of a one-command script (redis-benchmark, pipelines \
                     of 16, 50 clients; 1M / 1M / 400k requests)";
        let expected = [
            (
                format!("baseline before the Redis phases: {tests}"),
                "800,000 / 800,000 / 300,000 calls/s",
            ),
            (
                "baseline before the Redis phases: Redis CPU per call, LPUSH / RPOP / EVALSHA"
                    .into(),
                "1.25 / 0.50 / 2.00 µs",
            ),
            (
                format!("baseline after the Redis phases: {tests}"),
                "1,000,000 / 1,000,000 / 300,000 calls/s",
            ),
            (
                "baseline after the Redis phases: Redis CPU per call, LPUSH / RPOP / EVALSHA"
                    .into(),
                "1.25 / 0.50 / 3.00 µs",
            ),
            (
                "baseline: LPUSH and RPOP calls over the time they took (mean of before and \
                 after)"
                    .into(),
                "900,000 calls/s",
            ),
            (
                "bulk enqueue (jobs/s) ÷ baseline LPUSH and RPOP calls/s".into(),
                "0.400",
            ),
            (
                "enqueue one by one (jobs/s) ÷ baseline LPUSH and RPOP calls/s".into(),
                "0.120",
            ),
            (
                "drain (jobs/s) ÷ baseline LPUSH and RPOP calls/s".into(),
                "0.200",
            ),
            (
                "end to end (jobs/s) ÷ baseline LPUSH and RPOP calls/s".into(),
                "0.150",
            ),
            (
                "baseline: Redis CPU per EVALSHA call (mean of before and after)".into(),
                "2.50 µs",
            ),
            (
                "Redis CPU per job: bulk enqueue ÷ baseline Redis CPU per EVALSHA call".into(),
                "0.400",
            ),
            (
                "Redis CPU per job: enqueue one by one ÷ baseline Redis CPU per EVALSHA call"
                    .into(),
                "1.000",
            ),
            (
                "Redis CPU per job: reserve + ack ÷ baseline Redis CPU per EVALSHA call".into(),
                "1.200",
            ),
            (
                "Redis CPU per job: whole life ÷ baseline Redis CPU per EVALSHA call".into(),
                "1.600",
            ),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(what, value)| (what, value.to_string()))
            .collect();
        assert_eq!(rows, expected);
    }
}
