//! How long a failed job waits before its next attempt.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// A retry delay policy, chosen per handler with `#[job(backoff = "...")]`.
///
/// In the attribute: `"fixed(5s)"`, `"exponential(1s)"`, `"exponential(1s, max = 10m)"`,
/// `"exponential(500ms, max = 1h, jitter = false)"`, or a path to a `fn(u32) -> Duration`
/// for a custom policy.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `base * 2^(attempt - 1)`, capped at `max`. With `jitter`, the delay is drawn uniformly
    /// from its upper half, so retries of many jobs that failed together spread out.
    Exponential {
        /// The delay after the first failure.
        base: Duration,
        /// The longest delay.
        max: Duration,
        /// Whether to randomize the delay within its upper half.
        jitter: bool,
    },
    /// A function of the attempt that just failed (1 for the first run).
    Custom(fn(u32) -> Duration),
}

impl Backoff {
    /// The default policy: exponential from 1 s, capped at 1 h, with jitter.
    pub const DEFAULT: Backoff = Backoff::Exponential {
        base: Duration::from_secs(1),
        max: Duration::from_secs(3600),
        jitter: true,
    };

    /// The delay after attempt `attempt` (from 1) failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        match *self {
            Backoff::Fixed(delay) => delay,
            Backoff::Custom(f) => f(attempt),
            Backoff::Exponential { base, max, jitter } => {
                let shift = attempt.saturating_sub(1).min(40);
                let delay = base.saturating_mul(1u32 << shift.min(31)).min(max);
                let delay = if shift > 31 { max } else { delay };
                if jitter {
                    let half = delay / 2;
                    half + half.mul_f64(random_unit())
                } else {
                    delay
                }
            }
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A random number in `[0, 1)`, from the standard library's randomly seeded hasher.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_custom() {
        assert_eq!(
            Backoff::Fixed(Duration::from_secs(5)).delay(7),
            Duration::from_secs(5)
        );
        fn linear(attempt: u32) -> Duration {
            Duration::from_secs(attempt as u64)
        }
        assert_eq!(Backoff::Custom(linear).delay(3), Duration::from_secs(3));
    }

    #[test]
    fn exponential_doubles_and_caps() {
        let b = Backoff::Exponential {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: false,
        };
        let delays: Vec<_> = (1..=6).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(500), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_upper_half() {
        let b = Backoff::Exponential {
            base: Duration::from_secs(8),
            max: Duration::from_secs(60),
            jitter: true,
        };
        let seen: Vec<_> = (0..200).map(|_| b.delay(1)).collect();
        assert!(seen
            .iter()
            .all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8)));
        assert!(
            seen.iter().any(|d| *d != seen[0]),
            "jitter should vary the delay"
        );
    }
}
