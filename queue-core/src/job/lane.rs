//! Lanes (a queue and a job name) and the rule for names that end up in storage keys.

use std::fmt;
use std::sync::Arc;

use super::name_rule::{name_problem, LONGEST};
use crate::error::{Error, Result};

/// Where ready jobs of one kind wait: a queue and a job name.
///
/// Each handler's pool takes jobs from its own lane, so a slow handler never holds up another
/// handler's jobs on the same queue. Scheduled, active and failed jobs are kept per lane too;
/// a queue groups lanes for pausing, counting and the failed list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    queue: Arc<str>,
    job: Arc<str>,
}

impl Lane {
    /// The lane for job `job` on queue `queue`; both names are validated.
    pub fn new(queue: &str, job: &str) -> Result<Self> {
        validate_name("queue name", queue)?;
        validate_name("job name", job)?;
        Ok(Lane {
            queue: queue.into(),
            job: job.into(),
        })
    }

    /// The lane of names already checked (a stored job's).
    pub(crate) fn unchecked(queue: &str, job: &str) -> Self {
        Lane {
            queue: queue.into(),
            job: job.into(),
        }
    }

    /// The queue name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.queue, self.job)
    }
}

/// Longest queue name, job name or job id accepted, in bytes.
pub const MAX_NAME_LEN: usize = LONGEST;

/// Checks a queue name, job name or job id: 1 to 200 bytes of ASCII letters, digits and `_-.:/@`.
///
/// Names end up inside storage keys, so braces, spaces and control characters are refused.
pub fn validate_name(what: &'static str, value: &str) -> Result<()> {
    let reason = name_problem(value);
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            value: value.chars().take(MAX_NAME_LEN).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("queue name", "mail").is_ok());
        assert!(validate_name("queue name", "a.b-c_d:e/f@g").is_ok());
        let err = validate_name("queue name", "ma{il}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid queue name `ma{il}`: only ASCII letters, digits and `_-.:/@` are allowed"
        );
        assert!(validate_name("job name", "").is_err());
        assert!(validate_name("job name", &"x".repeat(201)).is_err());
    }
}
