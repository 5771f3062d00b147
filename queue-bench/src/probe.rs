//! Counters read before and after a phase: this process's CPU time (getrusage) and the Redis
//! server's CPU time, command count and memory (INFO).

use std::time::Duration;

/// CPU time (user + system) this process has used so far, every thread included.
///
/// Read with `CLOCK_PROCESS_CPUTIME_ID`, which counts up to the moment of the call;
/// `getrusage` can lag running threads by a scheduler tick (4 ms at 250 Hz), as long as a
/// whole 10k-job drain on the memory driver.
pub(crate) fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the `timespec` it is pointed at; the clock id is valid.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(
        rc,
        0,
        "clock_gettime failed: {}",
        std::io::Error::last_os_error()
    );
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Redis server counters.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServerStats {
    /// CPU seconds, user + system (`used_cpu_user` + `used_cpu_sys`).
    pub(crate) cpu: f64,
    /// Commands processed, counting those run inside scripts (sum of `calls=` in commandstats).
    pub(crate) commands: u64,
    /// `used_memory`, in bytes.
    pub(crate) memory: f64,
}

/// INFO calls [`server_stats`] makes, each counted by the server as one command.
pub(crate) const INFO_CALLS: u64 = 3;

/// Reads the counters of the Redis server behind `client`; `None` without a client.
pub(crate) async fn server_stats(client: Option<&redis::Client>) -> Option<ServerStats> {
    let mut conn = client?.get_multiplexed_async_connection().await.ok()?;
    let cpu = info(&mut conn, "cpu").await?;
    let commandstats = info(&mut conn, "commandstats").await?;
    let memory = info(&mut conn, "memory").await?;
    let commands = commands_total(&commandstats);
    Some(ServerStats {
        cpu: info_field(&cpu, "used_cpu_user").unwrap_or(0.0)
            + info_field(&cpu, "used_cpu_sys").unwrap_or(0.0),
        commands,
        memory: info_field(&memory, "used_memory").unwrap_or(0.0),
    })
}

/// One section of the server's INFO reply.
pub(crate) async fn info(
    conn: &mut redis::aio::MultiplexedConnection,
    section: &str,
) -> Option<String> {
    redis::cmd("INFO").arg(section).query_async(conn).await.ok()
}

/// The calls of every command so far, from an `INFO commandstats` reply (a script's inner
/// commands are counted too, as `cmdstat_` lines of their own).
pub(crate) fn commands_total(commandstats: &str) -> u64 {
    commandstats
        .lines()
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// A numeric `name:value` field of an INFO reply.
pub(crate) fn info_field(info: &str, name: &str) -> Option<f64> {
    info_text(info, name)?.parse().ok()
}

/// The calls of one command (any case) so far, from an `INFO commandstats` reply
/// (`cmdstat_lpush:calls=12,usec=...`); `None` when it has not run.
pub(crate) fn command_calls(commandstats: &str, command: &str) -> Option<u64> {
    let name = format!("cmdstat_{}:", command.to_ascii_lowercase());
    commandstats.lines().find_map(|l| {
        l.strip_prefix(name.as_str())?
            .split(',')
            .find_map(|field| field.strip_prefix("calls="))?
            .parse()
            .ok()
    })
}

/// A `name:value` field of an INFO reply, as text.
pub(crate) fn info_text<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// Both processes' counters at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Snapshot {
    /// This process's CPU time before reading the server's counters.
    cpu_before: Duration,
    /// The Redis server's counters, when measuring Redis.
    server: Option<ServerStats>,
    /// This process's CPU time after reading them.
    cpu_after: Duration,
}

impl Snapshot {
    /// Reads the counters. This process's CPU is read on both sides of the INFO calls, so the
    /// CPU they cost this process falls outside the phases the snapshot starts and ends.
    /// The metrics recorder's pending samples are bucketed first ([`crate::observed::upkeep`]).
    pub(crate) async fn take(client: Option<&redis::Client>) -> Self {
        crate::observed::upkeep();
        let cpu_before = process_cpu();
        let server = server_stats(client).await;
        Self {
            cpu_before,
            server,
            cpu_after: process_cpu(),
        }
    }

    /// What was used from `earlier` to this snapshot.
    pub(crate) fn since(&self, earlier: &Snapshot) -> Usage {
        let server = match (self.server, earlier.server) {
            (Some(now), Some(then)) => Some(ServerUsage {
                cpu: Duration::from_secs_f64((now.cpu - then.cpu).max(0.0)),
                commands: (now.commands - then.commands).saturating_sub(INFO_CALLS),
                memory: now.memory - then.memory,
            }),
            _ => None,
        };
        Usage {
            cpu: self.cpu_before.saturating_sub(earlier.cpu_after),
            server,
        }
    }
}

/// What a phase used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// CPU time of this process (producers, workers and, for the memory driver, the storage).
    pub(crate) cpu: Duration,
    /// The Redis server's share, when measuring Redis.
    pub(crate) server: Option<ServerUsage>,
}

/// What a phase cost the Redis server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerUsage {
    /// CPU time.
    pub(crate) cpu: Duration,
    /// Commands, without the INFO calls of the snapshot that ended the phase.
    pub(crate) commands: u64,
    /// Change of `used_memory`, in bytes.
    pub(crate) memory: f64,
}

impl Usage {
    /// This process's CPU per job, in µs.
    pub(crate) fn cpu_per_job_us(&self, jobs: u64) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / jobs as f64
    }

    /// The Redis server's CPU per job, in µs.
    pub(crate) fn server_cpu_per_job_us(&self, jobs: u64) -> Option<f64> {
        Some(self.server?.cpu.as_secs_f64() * 1e6 / jobs as f64)
    }
}

/// p50, p99 and max of some durations, in µs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct Percentiles {
    /// The median.
    pub(crate) p50_us: f64,
    /// The 99th percentile.
    pub(crate) p99_us: f64,
    /// The largest.
    pub(crate) max_us: f64,
}

impl Percentiles {
    /// Of these samples (all zero when there are none).
    pub(crate) fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort();
        let at = |p: f64| {
            let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
            samples[rank].as_secs_f64() * 1e6
        };
        Self {
            p50_us: at(0.5),
            p99_us: at(0.99),
            max_us: at(1.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_samples() {
        let samples = (1..=101).map(Duration::from_micros).collect();
        let p = Percentiles::of(samples);
        assert_eq!((p.p50_us, p.p99_us, p.max_us), (51.0, 100.0, 101.0));
        assert_eq!(Percentiles::of(Vec::new()).max_us, 0.0);
    }

    #[test]
    fn process_cpu_grows_with_work() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(process_cpu() > before, "{x}");
    }

    #[test]
    fn reads_info_fields() {
        let info = "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n";
        assert_eq!(info_field(info, "used_cpu_user"), Some(2.25));
        assert_eq!(info_field(info, "used_cpu"), None);
        assert_eq!(
            info_text("redis_version:7.0.15\r\n", "redis_version"),
            Some("7.0.15")
        );
        let commandstats = "# Commandstats\r\n\
            cmdstat_evalsha:calls=500000,usec=661788,usec_per_call=1.32,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_incr:calls=500001,usec=68047,usec_per_call=0.14,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_config|get:calls=2,usec=59,usec_per_call=29.50,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(command_calls(commandstats, "EVALSHA"), Some(500_000));
        assert_eq!(command_calls(commandstats, "incr"), Some(500_001));
        assert_eq!(command_calls(commandstats, "config|get"), Some(2));
        assert_eq!(command_calls(commandstats, "eval"), None);
    }
}
