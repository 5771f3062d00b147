//! Limits on how fast and how many of a lane's jobs start, across every worker.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// At most `count` job starts in any window of `per`, counted across every worker of the
/// storage (a sliding window: no window of that length, wherever it begins, holds more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    count: u32,
    per: Duration,
}

impl Rate {
    /// The rate of `count` starts per `per`. Zero for either, or a window under a millisecond,
    /// is an [`Error::InvalidLimit`].
    pub fn new(count: u32, per: Duration) -> Result<Self> {
        let spec = || format!("{count}/{per:?}");
        if count == 0 {
            return Err(Error::InvalidLimit {
                spec: spec(),
                reason: "the count must be at least 1",
            });
        }
        if per < Duration::from_millis(1) {
            return Err(Error::InvalidLimit {
                spec: spec(),
                reason: "the window must be at least 1ms",
            });
        }
        Ok(Self { count, per })
    }

    /// A rate as given, checked later with [`Rate::checked`] (for `const` definitions).
    pub(crate) const fn unchecked(count: u32, per: Duration) -> Self {
        Self { count, per }
    }

    /// This rate if [`Rate::new`] accepts it.
    pub fn checked(self) -> Result<Self> {
        Rate::new(self.count, self.per)
    }

    /// How many starts a window allows.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The window's length.
    pub fn per(&self) -> Duration {
        self.per
    }
}

/// Reads `"<count>/<duration>"`, e.g. `"100/1s"`, `"5/250ms"`, `"1000/1m"` (units `ms`, `s`,
/// `m`, `h`, `d`; a bare unit means one of it: `"10/s"`).
impl FromStr for Rate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |reason| Error::InvalidLimit {
            spec: text.to_owned(),
            reason,
        };
        let (count, per) = text
            .split_once('/')
            .ok_or_else(|| bad("expected `<count>/<window>`, e.g. `100/1s`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("the count must be a whole number, e.g. `100/1s`"))?;
        let per = parse_window(per.trim()).ok_or_else(|| {
            bad("the window must be a number and a unit (ms, s, m, h, d), e.g. `100/1s`")
        })?;
        Rate::new(count, per).map_err(|e| match e {
            Error::InvalidLimit { reason, .. } => bad(reason),
            other => other,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.count, self.per.as_millis())
    }
}

/// `"1s"`, `"250ms"`, `"s"`: a whole number (1 when left out) and a unit.
fn parse_window(text: &str) -> Option<Duration> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = if number.is_empty() {
        1
    } else {
        number.parse().ok()?
    };
    let unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(unit_ms).map(Duration::from_millis)
}

/// The limits of one lane (a handler's jobs in one queue), kept by the storage so that they
/// hold across every worker: a start rate and a number of jobs running at once. A lane with
/// neither ([`LimitSpec::is_none`]) is served by the plain reserve; with
/// [`keyed`](LimitSpec::keyed) both hold per rate key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LimitSpec {
    /// At most this many starts in any window.
    pub rate: Option<Rate>,
    /// At most this many jobs of the lane leased at once, across every worker (a leased job
    /// holds its slot until it is settled or its lease expires and is reaped).
    pub concurrency: Option<u32>,
    /// Whether the rate and the concurrency hold per rate key ([`RateKey`](crate::RateKey))
    /// rather than for the whole lane: the lane is then served through
    /// [`KeyedLimits`](crate::KeyedLimits), round robin by key.
    pub keyed: bool,
}

impl LimitSpec {
    /// No limits.
    pub const NONE: LimitSpec = LimitSpec {
        rate: None,
        concurrency: None,
        keyed: false,
    };

    /// Limits with this rate.
    pub fn with_rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    /// Limits with at most `max` jobs running at once; zero is an [`Error::InvalidLimit`].
    pub fn with_concurrency(mut self, max: u32) -> Result<Self> {
        if max == 0 {
            return Err(Error::InvalidLimit {
                spec: "global_concurrency = 0".into(),
                reason: "at least one job must be able to run",
            });
        }
        self.concurrency = Some(max);
        Ok(self)
    }

    /// The same limits, held per rate key.
    pub fn per_key(mut self) -> Self {
        self.keyed = true;
        self
    }

    /// These limits if they can be kept (no zero count, window or concurrency).
    pub fn checked(self) -> Result<Self> {
        let mut out = LimitSpec {
            keyed: self.keyed,
            ..LimitSpec::NONE
        };
        if let Some(rate) = self.rate {
            out = out.with_rate(rate.checked()?);
        }
        if let Some(max) = self.concurrency {
            out = out.with_concurrency(max)?;
        }
        Ok(out)
    }

    /// True when nothing is limited (and the lane is not served by key).
    pub fn is_none(&self) -> bool {
        self.rate.is_none() && self.concurrency.is_none() && !self.keyed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let rate: Rate = "100/1s".parse().unwrap();
        assert_eq!((rate.count(), rate.per()), (100, Duration::from_secs(1)));
        let rate: Rate = " 5 / 250ms ".parse().unwrap();
        assert_eq!((rate.count(), rate.per()), (5, Duration::from_millis(250)));
        let rate: Rate = "10/m".parse().unwrap();
        assert_eq!(rate.per(), Duration::from_secs(60));
    }

    #[test]
    fn bad_rates_name_the_problem() {
        let message = |text: &str| text.parse::<Rate>().unwrap_err().to_string();
        assert_eq!(
            message("0/1s"),
            "invalid limit `0/1s`: the count must be at least 1"
        );
        assert_eq!(
            message("100"),
            "invalid limit `100`: expected `<count>/<window>`, e.g. `100/1s`"
        );
        assert_eq!(
            message("100/1x"),
            "invalid limit `100/1x`: the window must be a number and a unit (ms, s, m, h, d), e.g. `100/1s`"
        );
        assert_eq!(
            message("x/1s"),
            "invalid limit `x/1s`: the count must be a whole number, e.g. `100/1s`"
        );
        assert_eq!(
            message("3/0s"),
            "invalid limit `3/0s`: the window must be at least 1ms"
        );
        assert!(LimitSpec::default().with_concurrency(0).is_err());
    }
}
