//! Retry policy: exponential backoff with full jitter, capped, honouring a server's `Retry-After`.

use std::time::Duration;

/// When and how often a failed attempt is tried again.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub multiplier: f64,
    pub max_delay: Duration,
    /// No attempt starts later than this after the first one.
    pub deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay: Duration::from_secs(30),
            multiplier: 2.0,
            max_delay: Duration::from_secs(600),
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// Whether another attempt may follow attempt number `attempt` (1-based).
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Whether an attempt at `next` is still inside the deadline counted from `first`.
    pub fn within_deadline(&self, first: chrono::DateTime<chrono::Utc>, next: chrono::DateTime<chrono::Utc>) -> bool {
        self.deadline.is_none_or(|d| next - first <= chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX))
    }

    /// The ceiling of the delay after attempt `attempt` (1-based): initial × multiplier^(attempt-1), capped.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = self.multiplier.powi(attempt.saturating_sub(1).min(64) as i32);
        let secs = (self.initial_delay.as_secs_f64() * exp).min(self.max_delay.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay before the next attempt: full jitter (`unit` in [0, 1) scales the ceiling), but
    /// never sooner than the server asked (`retry_after`) and never above the cap unless the server
    /// asked for longer.
    pub fn delay(&self, attempt: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let jittered = self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0));
        match retry_after {
            Some(ra) if ra > jittered => ra,
            _ => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_grow_and_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(10),
            deadline: None,
        };
        let c: Vec<u64> = (1..=6).map(|a| p.ceiling(a).as_secs()).collect();
        assert_eq!(c, vec![1, 2, 4, 8, 10, 10]);
        assert!(p.allows_another(9));
        assert!(!p.allows_another(10));
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_retry_after_wins() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0, None), Duration::ZERO);
        assert_eq!(p.delay(1, 0.5, None), Duration::from_secs(15));
        assert_eq!(p.delay(1, 7.0, None), Duration::from_secs(30));
        assert_eq!(p.delay(1, 0.1, Some(Duration::from_secs(120))), Duration::from_secs(120));
        assert_eq!(p.delay(30, 1.0, None), Duration::from_secs(600));
    }
}
