//! What the figures were measured on: machine, date, command line.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The machine and run a report describes.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// Cores this process may use.
    pub(crate) cores: usize,
    /// `MemTotal` from /proc/meminfo, in bytes.
    pub(crate) memory_bytes: Option<u64>,
    /// The kernel's name and release, e.g. `Linux 6.18.0`.
    pub(crate) os: String,
    /// The load averages (1, 5, 15 min) when the run started: other work on the machine skews
    /// the figures.
    pub(crate) load_average_at_start: Option<[f64; 3]>,
}

impl Machine {
    /// Reads it from /proc (fields stay empty where /proc is missing).
    pub(crate) fn read() -> Self {
        let proc = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = proc("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let memory_bytes = proc("/proc/meminfo").lines().find_map(|l| {
            let kib = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
            Some(kib.trim().parse::<u64>().ok()? * 1024)
        });
        let release = proc("/proc/sys/kernel/osrelease");
        let os = format!("{} {}", capitalized(std::env::consts::OS), release.trim());
        let loads: Vec<f64> = proc("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect();
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            os: os.trim().to_string(),
            load_average_at_start: loads.try_into().ok(),
        }
    }

    /// One line for the markdown header.
    pub(crate) fn describe(&self) -> String {
        let mut line = format!("{}, {} cores", self.cpu_model, self.cores);
        if let Some(bytes) = self.memory_bytes {
            line += &format!(", {:.1} GiB", bytes as f64 / (1u64 << 30) as f64);
        }
        line += &format!(", {}", self.os);
        if let Some([one, five, fifteen]) = self.load_average_at_start {
            line += &format!("; load average at start {one:.2} {five:.2} {fifteen:.2}");
        }
        line
    }
}

/// `linux` → `Linux`.
fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The command line as typed: the program's file name and its arguments.
pub(crate) fn command_line() -> String {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program = std::path::Path::new(&program)
        .file_name()
        .map_or(program.clone(), |name| name.to_string_lossy().into_owned());
    std::iter::once(program)
        .chain(args.map(|arg| {
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Now, in UTC, as `2026-11-23T10:04:05Z`.
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// Seconds since the Unix epoch, in UTC, as `2026-11-23T10:04:05Z`.
fn utc(secs: u64) -> String {
    let (days, time) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The Gregorian (year, month, day) of a day counted from 1970-01-01.
///
/// Counts in 400-year eras starting on 1 March, so the leap day ends a year: an era is 146,097
/// days, a year starting in March is 365 days plus a leap day every 4 years except every 100
/// except every 400.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 28/29 days; five of them
    // span 153 days.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(utc(1_798_761_600), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn reads_this_machine() {
        let m = Machine::read();
        assert!(m.cores >= 1);
        assert!(!m.describe().is_empty());
        assert_eq!(capitalized("linux"), "Linux");
    }
}
