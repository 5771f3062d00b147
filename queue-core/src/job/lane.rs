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
///
/// A lane is one shared allocation holding both names: cloning it costs one reference count.
#[derive(Clone)]
pub struct Lane {
    /// The queue name followed by the job name.
    names: Arc<str>,
    /// Where the job name starts in `names`.
    split: usize,
}

impl Lane {
    /// The lane for job `job` on queue `queue`; both names are validated.
    pub fn new(queue: &str, job: &str) -> Result<Self> {
        validate_name("queue name", queue)?;
        validate_name("job name", job)?;
        Ok(Lane::unchecked(queue, job))
    }

    /// The lane of names already checked (a stored job's).
    pub(crate) fn unchecked(queue: &str, job: &str) -> Self {
        let mut names = String::with_capacity(queue.len() + job.len());
        names.push_str(queue);
        names.push_str(job);
        Lane {
            names: names.into(),
            split: queue.len(),
        }
    }

    /// The queue name.
    pub fn queue(&self) -> &str {
        &self.names[..self.split]
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.names[self.split..]
    }

    /// The names, queue first, for comparing and hashing.
    fn key(&self) -> (&str, &str) {
        (self.queue(), self.job())
    }
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lane")
            .field("queue", &self.queue())
            .field("job", &self.job())
            .finish()
    }
}

impl PartialEq for Lane {
    fn eq(&self, other: &Self) -> bool {
        self.split == other.split && self.names == other.names
    }
}

impl Eq for Lane {}

impl std::hash::Hash for Lane {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialOrd for Lane {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Lane {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.queue(), self.job())
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
    fn a_lane_keeps_its_two_names_apart() {
        let a = Lane::new("ab", "c").unwrap();
        let b = Lane::new("a", "bc").unwrap();
        assert_eq!((a.queue(), a.job()), ("ab", "c"));
        assert_eq!((b.queue(), b.job()), ("a", "bc"));
        assert_ne!(a, b);
        assert!(b < a, "ordered by queue, then job");
        assert_eq!(a, Lane::new("ab", "c").unwrap());
        assert_eq!(format!("{a:?}"), r#"Lane { queue: "ab", job: "c" }"#);
        assert_eq!(a.to_string(), "ab/c");
    }

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
