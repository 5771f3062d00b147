//! The same-run machine baseline: `redis-benchmark`'s pipelined LPUSH and RPOP and a
//! one-command EVALSHA against the Redis under test, before and after its phases, and the Redis
//! figures as fractions of it.
//!
//! This machine's speed drifts 2-3x from one day to the next, and Redis figures from different
//! machines differ more. Plain Redis commands on the same server, in the same run, drift with it:
//! a figure divided by its baseline compares across days and machines where the figure does not.
//!
//! - Throughput (jobs/s) is divided by the baseline's list calls per second: the LPUSH and RPOP
//!   calls over the time they took together. A job is pushed onto a list and popped from one,
//!   so this is the rate of Redis's cheapest way to move an item through a list, with
//!   pipelining (like the driver's batches) taking most of the round trips out of it.
//! - Redis CPU per job is divided by Redis CPU per EVALSHA call: what the server spends to
//!   receive, run and answer a script of one command. The driver does its work in scripts, so
//!   the ratio reads as "this job costs the server as much as that many trivial script calls",
//!   which leaves out how fast the CPU is and keeps what the scripts do per job.
//!
//! Both baselines are the mean of the run before the Redis phases and the run after them, so
//! a drift during the run falls on both sides.

use std::path::Path;

use serde::Serialize;

use crate::probe;
use crate::redis_benchmark;

/// Requests in flight per `redis-benchmark` connection (`-P`).
pub(crate) const PIPELINE: u64 = 16;
/// `redis-benchmark` connections (`-c`).
pub(crate) const CLIENTS: u64 = 50;
/// Requests of the LPUSH test and of the RPOP test: about a second each on the machine of
/// BENCHMARKS.md.
pub(crate) const LIST_REQUESTS: u64 = 1_000_000;
/// Requests of the EVALSHA test: about a second on the machine of BENCHMARKS.md.
pub(crate) const EVALSHA_REQUESTS: u64 = 400_000;
/// The list the LPUSH test fills and the RPOP test empties (under the harness's prefix, apart
/// from the driver's `{bench:<queue>}` keys).
const LIST_KEY: &str = "bench:baseline:list";
/// The counter the EVALSHA test's script increments.
const COUNTER_KEY: &str = "bench:baseline:counter";
/// The EVALSHA test's script: one command.
pub(crate) const SCRIPT: &str = "return redis.call('INCR', KEYS[1])";

/// One `redis-benchmark` test.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Test {
    /// The command `redis-benchmark` sent, with its arguments.
    pub(crate) command: String,
    /// Requests asked for.
    pub(crate) requests: u64,
    /// Requests per second, as `redis-benchmark` reports them.
    pub(crate) calls_per_s: f64,
    /// The server's CPU time (`INFO cpu`) over the test, per call of the command (from `INFO
    /// commandstats`); `None` when INFO could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_per_call_us: Option<f64>,
}

/// The three tests, run once.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Run {
    /// LPUSH of a 1-byte value onto one list.
    pub(crate) lpush: Test,
    /// RPOP of the items the LPUSH test pushed.
    pub(crate) rpop: Test,
    /// EVALSHA of [`SCRIPT`] (INCR of one key).
    pub(crate) evalsha: Test,
}

impl Run {
    /// LPUSH and RPOP calls over the time they took together.
    pub(crate) fn list_calls_per_s(&self) -> f64 {
        let calls = (self.lpush.requests + self.rpop.requests) as f64;
        let seconds = self.lpush.requests as f64 / self.lpush.calls_per_s
            + self.rpop.requests as f64 / self.rpop.calls_per_s;
        calls / seconds
    }

    /// Runs the three tests against the server behind `client`, reached by `redis-benchmark`
    /// through `connection` (its connection flags), and removes the keys they used. Panics,
    /// saying why, when a test cannot be run or read.
    pub(crate) async fn measure(
        client: &redis::Client,
        binary: &Path,
        connection: &[String],
    ) -> Self {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis for the baseline");
        let clear = redis::cmd("DEL").arg(LIST_KEY).arg(COUNTER_KEY).clone();
        let _: u64 = clear
            .query_async(&mut conn)
            .await
            .expect("DEL of the baseline keys");
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(SCRIPT)
            .query_async(&mut conn)
            .await
            .expect("SCRIPT LOAD of the baseline script");
        let test = |command: &str, requests: u64| {
            let mut args: Vec<String> = connection.to_vec();
            args.extend(
                ["-c", &CLIENTS.to_string(), "-P", &PIPELINE.to_string()].map(String::from),
            );
            args.extend(["-n".to_string(), requests.to_string()]);
            args.extend(command.split(' ').map(String::from));
            (command.to_string(), requests, args)
        };
        let lpush = test(&format!("LPUSH {LIST_KEY} x"), LIST_REQUESTS);
        let rpop = test(&format!("RPOP {LIST_KEY}"), LIST_REQUESTS);
        let evalsha = test(&format!("EVALSHA {sha} 1 {COUNTER_KEY}"), EVALSHA_REQUESTS);
        let mut tests = Vec::new();
        for (command, requests, args) in [lpush, rpop, evalsha] {
            let name = command.split(' ').next().unwrap_or_default().to_string();
            eprintln!(
                "queue-bench: redis: baseline: redis-benchmark {command} ({} requests)",
                crate::numbers::count(requests)
            );
            let before = Counters::read(client, &name).await;
            let (binary, command_name) = (binary.to_path_buf(), name.clone());
            let rate = tokio::task::spawn_blocking(move || {
                redis_benchmark::run(&binary, &args, &command_name)
            })
            .await
            .expect("the redis-benchmark runner panicked")
            .unwrap_or_else(|e| panic!("baseline: {e}"));
            let after = Counters::read(client, &name).await;
            tests.push(Test {
                command,
                requests,
                calls_per_s: rate,
                redis_cpu_per_call_us: Counters::cpu_per_call_us(before, after),
            });
        }
        let counter: u64 = redis::cmd("GET")
            .arg(COUNTER_KEY)
            .query_async(&mut conn)
            .await
            .expect("GET of the baseline counter");
        assert!(
            counter >= EVALSHA_REQUESTS,
            "the baseline script ran {counter} times, fewer than the {EVALSHA_REQUESTS} \
             EVALSHA requests"
        );
        let _: u64 = clear
            .query_async(&mut conn)
            .await
            .expect("DEL of the baseline keys");
        let [lpush, rpop, evalsha] = <[Test; 3]>::try_from(tests).expect("three tests");
        Self {
            lpush,
            rpop,
            evalsha,
        }
    }
}

/// The server's CPU time and the calls of one command so far.
#[derive(Debug, Clone, Copy)]
struct Counters {
    /// `used_cpu_user` + `used_cpu_sys`, in seconds.
    cpu: f64,
    /// `calls=` of the command in `INFO commandstats`.
    calls: u64,
}

impl Counters {
    /// Reads them for `command` (any case); `None` when INFO cannot be read.
    async fn read(client: &redis::Client, command: &str) -> Option<Self> {
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let cpu = probe::info(&mut conn, "cpu").await?;
        let commandstats = probe::info(&mut conn, "commandstats").await?;
        Some(Self {
            cpu: probe::info_field(&cpu, "used_cpu_user")?
                + probe::info_field(&cpu, "used_cpu_sys")?,
            calls: probe::command_calls(&commandstats, command).unwrap_or(0),
        })
    }

    /// The CPU time from `before` to `after` per call of the command in between, in µs.
    fn cpu_per_call_us(before: Option<Self>, after: Option<Self>) -> Option<f64> {
        let (before, after) = (before?, after?);
        let calls = after.calls.checked_sub(before.calls).filter(|&c| c > 0)?;
        Some((after.cpu - before.cpu).max(0.0) * 1e6 / calls as f64)
    }
}

/// The baseline of a run: the tests before and after the Redis phases.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Baseline {
    /// Requests in flight per connection.
    pub(crate) pipeline: u64,
    /// Connections.
    pub(crate) clients: u64,
    /// Before the Redis phases.
    pub(crate) before: Run,
    /// After them (scaling phases included).
    pub(crate) after: Run,
    /// The mean of before's and after's LPUSH and RPOP calls over their time: what throughput
    /// is divided by.
    pub(crate) list_calls_per_s: f64,
    /// The mean of before's and after's Redis CPU per EVALSHA call: what Redis CPU per job is
    /// divided by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) evalsha_redis_cpu_per_call_us: Option<f64>,
}

impl Baseline {
    /// Of these two runs.
    pub(crate) fn of(before: Run, after: Run) -> Self {
        let list_calls_per_s = (before.list_calls_per_s() + after.list_calls_per_s()) / 2.0;
        let evalsha_redis_cpu_per_call_us = before
            .evalsha
            .redis_cpu_per_call_us
            .zip(after.evalsha.redis_cpu_per_call_us)
            .map(|(b, a)| (b + a) / 2.0);
        Self {
            pipeline: PIPELINE,
            clients: CLIENTS,
            before,
            after,
            list_calls_per_s,
            evalsha_redis_cpu_per_call_us,
        }
    }
}

/// The Redis figures as fractions of the baseline. Throughput: jobs/s ÷ the baseline's LPUSH +
/// RPOP calls/s. Redis CPU: µs per job ÷ µs per EVALSHA call of a one-command script.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratios {
    /// Bulk enqueue.
    pub(crate) bulk_enqueue_per_list_call: f64,
    /// Enqueue one by one.
    pub(crate) one_by_one_enqueue_per_list_call: f64,
    /// Drain.
    pub(crate) drain_per_list_call: f64,
    /// End to end.
    pub(crate) end_to_end_per_list_call: f64,
    /// Redis CPU per job of the bulk enqueue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_bulk_enqueue_per_evalsha: Option<f64>,
    /// Redis CPU per job of the one-by-one enqueue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_one_by_one_enqueue_per_evalsha: Option<f64>,
    /// Redis CPU per job of reserve + ack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_reserve_ack_per_evalsha: Option<f64>,
    /// Redis CPU per job over its whole life.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) redis_cpu_whole_life_per_evalsha: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test of `requests` calls at `calls_per_s`, with this CPU per call.
    fn test(requests: u64, calls_per_s: f64, cpu_us: Option<f64>) -> Test {
        Test {
            command: "PING".into(),
            requests,
            calls_per_s,
            redis_cpu_per_call_us: cpu_us,
        }
    }

    /// A run whose LPUSH and RPOP tests take 1.25 s and 1 s.
    fn run(scale: f64, evalsha_cpu_us: Option<f64>) -> Run {
        Run {
            lpush: test(1_000_000, 800_000.0 * scale, Some(1.0)),
            rpop: test(1_000_000, 1_000_000.0 * scale, Some(0.8)),
            evalsha: test(400_000, 300_000.0 * scale, evalsha_cpu_us),
        }
    }

    /// `a` and `b` agree to 1e-9 of `b`.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 1e-9
    }

    #[test]
    fn list_calls_are_counted_over_the_time_of_both_tests() {
        // 2M calls in 1.25 s + 1 s, not the mean of the two rates (900,000).
        let rate = run(1.0, None).list_calls_per_s();
        assert!(close(rate, 2_000_000.0 / 2.25), "{rate}");
    }

    #[test]
    fn the_baseline_is_the_mean_of_before_and_after() {
        let baseline = Baseline::of(run(1.0, Some(2.0)), run(0.5, Some(3.0)));
        let expected = (2_000_000.0 / 2.25 + 2_000_000.0 / 4.5) / 2.0;
        assert!(close(baseline.list_calls_per_s, expected));
        assert_eq!(baseline.evalsha_redis_cpu_per_call_us, Some(2.5));
        assert_eq!((baseline.pipeline, baseline.clients), (PIPELINE, CLIENTS));
        let half = Baseline::of(run(1.0, Some(2.0)), run(1.0, None));
        assert_eq!(half.evalsha_redis_cpu_per_call_us, None);
    }

    #[test]
    fn cpu_per_call_needs_calls_between_two_readings() {
        let at = |cpu, calls| Some(Counters { cpu, calls });
        let per_call = Counters::cpu_per_call_us(at(1.0, 100), at(1.5, 200_100)).unwrap();
        assert!(close(per_call, 2.5), "{per_call}");
        assert_eq!(Counters::cpu_per_call_us(at(1.0, 5), at(2.0, 5)), None);
        assert_eq!(Counters::cpu_per_call_us(None, at(2.0, 5)), None);
    }
}
