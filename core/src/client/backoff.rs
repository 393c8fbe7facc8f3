//! Delays between retries and between reconnects, as pure values.

use std::fmt;
use std::time::Duration;

use crate::rng::Rng;
use crate::time::MAX_DURATION;

/// How long to wait before re-sending a request whose attempt failed.
///
/// Off by default: like Salt, a failed attempt is retried at once.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Backoff {
    /// Retry at once.
    #[default]
    Immediate,
    /// Wait an exponentially growing, jittered delay.
    Exponential(ExponentialBackoff),
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry).
    pub(crate) fn delay(&self, retry: u32, rng: &mut Rng) -> Duration {
        match self {
            Backoff::Immediate => Duration::ZERO,
            Backoff::Exponential(exp) => exp.delay(retry, rng),
        }
    }
}

/// `initial * factor^(n-1)`, capped at `max`, then reduced by up to `jitter` of itself
/// with seeded randomness ("equal jitter" when `jitter` is 0.5).
///
/// Validated when built, so a policy in hand is always usable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: f64,
}

impl ExponentialBackoff {
    /// Doubling from `initial` up to `max`, no jitter.
    pub fn new(initial: Duration, max: Duration) -> Result<Self, InvalidBackoff> {
        if initial.is_zero() {
            return Err(InvalidBackoff("initial delay must be greater than zero"));
        }
        if max < initial {
            return Err(InvalidBackoff("max delay must be at least the initial delay"));
        }
        if max > MAX_DURATION {
            return Err(InvalidBackoff("max delay must be at most MAX_DURATION (a year)"));
        }
        Ok(Self { initial, max, factor: 2, jitter: 0.0 })
    }

    /// Multiply the delay by `factor` after each retry (1 gives a constant delay).
    pub fn with_factor(mut self, factor: u32) -> Result<Self, InvalidBackoff> {
        if factor == 0 {
            return Err(InvalidBackoff("factor must be at least 1"));
        }
        self.factor = factor;
        Ok(self)
    }

    /// Shorten each delay by a random fraction of up to `jitter` (from 0.0 to 1.0).
    pub fn with_jitter(mut self, jitter: f64) -> Result<Self, InvalidBackoff> {
        if !(0.0..=1.0).contains(&jitter) {
            return Err(InvalidBackoff("jitter must be between 0.0 and 1.0"));
        }
        self.jitter = jitter;
        Ok(self)
    }

    /// The longest delay this policy waits (before jitter shortens it).
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay before retry number `retry` (1 for the first retry).
    pub(crate) fn delay(&self, retry: u32, rng: &mut Rng) -> Duration {
        let mut delay = self.initial;
        for _ in 1..retry {
            if delay >= self.max || self.factor == 1 {
                break;
            }
            delay = delay.saturating_mul(self.factor);
        }
        let delay = delay.min(self.max);
        if self.jitter == 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 - self.jitter * rng.next_unit())
    }
}

/// A backoff policy that cannot work, refused when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBackoff(&'static str);

impl fmt::Display for InvalidBackoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid backoff: {}", self.0)
    }
}

impl std::error::Error for InvalidBackoff {}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_doubles_then_caps() {
        let b = ExponentialBackoff::new(100 * MS, 1000 * MS).unwrap();
        let mut rng = Rng::new(0);
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n, &mut rng)).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]);
        assert_eq!(b.delay(u32::MAX, &mut rng), 1000 * MS);
    }

    #[test]
    fn jitter_stays_within_bounds_and_follows_the_seed() {
        let b = ExponentialBackoff::new(100 * MS, 100 * MS).unwrap().with_jitter(0.5).unwrap();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..64).map(|_| b.delay(1, &mut rng)).collect::<Vec<_>>()
        };
        let a = run(3);
        assert_eq!(a, run(3));
        assert_ne!(a, run(4));
        assert!(a.iter().all(|d| (50 * MS..=100 * MS).contains(d)), "{a:?}");
        assert!(a.iter().any(|d| *d < 90 * MS), "jitter never applied: {a:?}");
    }

    #[test]
    fn a_constant_policy_costs_the_same_at_any_retry() {
        // factor 1 never reaches `max`: the delay must not be found by stepping through
        // every earlier retry (a reconnect loop counts failures without bound).
        let b = ExponentialBackoff::new(100 * MS, 5000 * MS).unwrap().with_factor(1).unwrap();
        let mut rng = Rng::new(0);
        for retry in [1, 2, 1_000, u32::MAX] {
            assert_eq!(b.delay(retry, &mut rng), 100 * MS);
        }
    }

    #[test]
    fn invalid_policies_are_refused_when_built() {
        assert!(ExponentialBackoff::new(Duration::ZERO, MS).is_err());
        assert!(ExponentialBackoff::new(2 * MS, MS).is_err());
        let ok = ExponentialBackoff::new(MS, MS).unwrap();
        assert!(ok.with_factor(0).is_err());
        assert!(ok.with_jitter(1.5).is_err());
        assert!(ok.with_jitter(f64::NAN).is_err());
        assert!(ok.with_jitter(-0.1).is_err());
    }
}
