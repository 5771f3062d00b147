//! The `fault-worker` binary's settings, read from environment variables.

use std::path::PathBuf;
use std::time::Duration;

/// Where the queue is (required), as for every program of the framework.
pub const URL_ENV: &str = queue_core::URL_ENV;
/// The history file to append to; standard output when unset.
pub const HISTORY_ENV: &str = "FAULT_HISTORY";
/// The lease in milliseconds (default: the worker's default).
pub const LEASE_ENV: &str = "FAULT_LEASE_MS";
/// How many jobs run at once (default 4).
pub const CONCURRENCY_ENV: &str = "FAULT_CONCURRENCY";
/// The shutdown grace period in milliseconds (default: the worker's default).
pub const GRACE_ENV: &str = "FAULT_GRACE_MS";
/// `1` lets [`Action::SucceedThenKill`](crate::Action::SucceedThenKill) kill the process
/// (default `0`).
pub const KILL_AFTER_SUCCESS_ENV: &str = "FAULT_KILL_AFTER_SUCCESS";

/// Default concurrency.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A worker process's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The queue's URL.
    pub url: String,
    /// The history file, or `None` for standard output.
    pub history: Option<PathBuf>,
    /// The lease, or `None` for the worker's default.
    pub lease: Option<Duration>,
    /// How many jobs run at once.
    pub concurrency: usize,
    /// The shutdown grace period, or `None` for the worker's default.
    pub grace: Option<Duration>,
    /// Whether a succeed-then-kill task kills the process.
    pub kill_after_success: bool,
}

impl WorkerConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (a variable's value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let url = lookup(URL_ENV)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{URL_ENV} is not set: give the queue's URL"))?;
        let millis = |name: &str| -> Result<Option<Duration>, String> {
            lookup(name)
                .map(|v| {
                    v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                        format!("{name} must be a whole number of milliseconds, got `{v}`")
                    })
                })
                .transpose()
        };
        let concurrency = match lookup(CONCURRENCY_ENV) {
            None => DEFAULT_CONCURRENCY,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "{CONCURRENCY_ENV} must be a whole number above zero, got `{v}`"
                    ))
                }
            },
        };
        let kill_after_success = match lookup(KILL_AFTER_SUCCESS_ENV).as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => {
                return Err(format!(
                    "{KILL_AFTER_SUCCESS_ENV} must be `0` or `1`, got `{other}`"
                ))
            }
        };
        Ok(Self {
            url,
            history: lookup(HISTORY_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            lease: millis(LEASE_ENV)?,
            concurrency,
            grace: millis(GRACE_ENV)?,
            kill_after_success,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<WorkerConfig, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        WorkerConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_and_every_setting() {
        let config = read(&[(URL_ENV, "redis://x")]).unwrap();
        assert_eq!(
            config,
            WorkerConfig {
                url: "redis://x".into(),
                history: None,
                lease: None,
                concurrency: DEFAULT_CONCURRENCY,
                grace: None,
                kill_after_success: false,
            }
        );
        let config = read(&[
            (URL_ENV, "redis://x"),
            (HISTORY_ENV, "/tmp/h"),
            (LEASE_ENV, "1500"),
            (CONCURRENCY_ENV, "7"),
            (GRACE_ENV, "0"),
            (KILL_AFTER_SUCCESS_ENV, "1"),
        ])
        .unwrap();
        assert_eq!(config.history, Some(PathBuf::from("/tmp/h")));
        assert_eq!(config.lease, Some(Duration::from_millis(1500)));
        assert_eq!(config.concurrency, 7);
        assert_eq!(config.grace, Some(Duration::ZERO));
        assert!(config.kill_after_success);
    }

    #[test]
    fn bad_values_are_named() {
        let err = read(&[]).unwrap_err();
        assert_eq!(err, "QUEUE_URL is not set: give the queue's URL");
        let err = read(&[(URL_ENV, "redis://x"), (LEASE_ENV, "1s")]).unwrap_err();
        assert_eq!(
            err,
            "FAULT_LEASE_MS must be a whole number of milliseconds, got `1s`"
        );
        let err = read(&[(URL_ENV, "redis://x"), (CONCURRENCY_ENV, "0")]).unwrap_err();
        assert_eq!(
            err,
            "FAULT_CONCURRENCY must be a whole number above zero, got `0`"
        );
        let err = read(&[(URL_ENV, "redis://x"), (KILL_AFTER_SUCCESS_ENV, "yes")]).unwrap_err();
        assert_eq!(
            err,
            "FAULT_KILL_AFTER_SUCCESS must be `0` or `1`, got `yes`"
        );
    }
}
