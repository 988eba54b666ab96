//! Retry policy: how many attempts a unit of work gets and how long to wait between them.

use std::time::Duration;

/// How often, and after what delay, failed work is tried again.
///
/// Attempt `n` (1-based) that fails is retried after
/// `min(initial_delay × backoff_multiplier^(n-1), max_delay)`, shortened by a random
/// fraction of at most `jitter` (0.0 = exact delays, 1.0 = anywhere between zero and the
/// full delay) so that many failures at once do not retry in lock-step.
///
/// ```
/// use std::time::Duration;
/// use zart::scheduler::RetryConfig;
///
/// let retry = RetryConfig { max_attempts: 5, jitter: 0.0, ..RetryConfig::default() };
/// assert_eq!(retry.delay_after(1), Some(Duration::from_secs(1)));
/// assert_eq!(retry.delay_after(2), Some(Duration::from_secs(2)));
/// assert_eq!(retry.delay_after(5), None); // the fifth attempt was the last
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    /// Total attempts, the first included: `1` never retries. `0` is treated as `1`.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Factor applied to the delay after each further failure.
    pub backoff_multiplier: f64,
    /// Upper bound of any delay.
    pub max_delay: Duration,
    /// Fraction (0.0 to 1.0) of each delay that is randomised away.
    pub jitter: f64,
}

impl Default for RetryConfig {
    /// Three attempts, 1 s doubling up to 60 s, 20 % jitter.
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            backoff_multiplier: 2.0,
            max_delay: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

impl RetryConfig {
    /// One attempt, no retries: the default for plain scheduled tasks.
    pub fn none() -> Self {
        RetryConfig {
            max_attempts: 1,
            ..RetryConfig::default()
        }
    }

    /// `max_attempts` attempts with the default exponential backoff.
    pub fn exponential(max_attempts: u32) -> Self {
        RetryConfig {
            max_attempts,
            ..RetryConfig::default()
        }
    }

    /// The delay before retrying after failed attempt `attempt` (1-based), without jitter,
    /// or `None` when that attempt was the last one allowed.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt >= self.max_attempts.max(1) {
            return None;
        }
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let multiplier = if self.backoff_multiplier.is_finite() {
            self.backoff_multiplier.max(1.0)
        } else {
            1.0
        };
        let secs = self.initial_delay.as_secs_f64() * multiplier.powi(exponent);
        let capped = secs.min(self.max_delay.as_secs_f64());
        Some(Duration::try_from_secs_f64(capped).unwrap_or(self.max_delay))
    }

    /// [`delay_after`](Self::delay_after) with jitter applied.
    pub fn jittered_delay_after(&self, attempt: u32) -> Option<Duration> {
        let delay = self.delay_after(attempt)?;
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some(delay.mul_f64(1.0 - jitter * fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_is_capped() {
        let retry = RetryConfig {
            max_attempts: 10,
            initial_delay: Duration::from_millis(200),
            backoff_multiplier: 3.0,
            max_delay: Duration::from_secs(2),
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..10).filter_map(|n| retry.delay_after(n)).collect();
        assert_eq!(delays[0], Duration::from_millis(200));
        assert_eq!(delays[1], Duration::from_millis(600));
        assert_eq!(delays[2], Duration::from_millis(1800));
        assert_eq!(delays[3], Duration::from_secs(2));
        assert_eq!(delays.len(), 9);
        assert_eq!(retry.delay_after(10), None);
    }

    #[test]
    fn no_retry_means_one_attempt() {
        assert_eq!(RetryConfig::none().delay_after(1), None);
        let zero = RetryConfig {
            max_attempts: 0,
            ..RetryConfig::default()
        };
        assert_eq!(zero.delay_after(1), None);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let retry = RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_secs(10),
            jitter: 0.5,
            ..RetryConfig::default()
        };
        let delays: Vec<_> = (0..200)
            .filter_map(|_| retry.jittered_delay_after(1))
            .collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_secs(5) && *d <= Duration::from_secs(10)));
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "jitter must vary the delay"
        );
    }
}
