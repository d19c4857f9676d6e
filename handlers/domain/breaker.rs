//! Circuit breakers, pure: Closed → Open after N consecutive failures, or when a share of the
//! calls in a window failed (with a minimum number of calls, so that a job that runs a few times
//! a day still trips); Open for a cooldown; then HalfOpen, letting a limited number of probes
//! through: a success closes it, a failure opens it again. Every transition is returned so the
//! caller records it.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::catalog::model::BreakerPolicy;

/// The breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half-open",
        })
    }
}

/// One change of position, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub from: BreakerState,
    pub to: BreakerState,
    pub reason: String,
}

/// A breaker's durable state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Breaker {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    #[serde(default)]
    pub open_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub probes_in_flight: u32,
    /// Recent calls in the window: when, and whether each succeeded.
    #[serde(default)]
    pub recent: Vec<(DateTime<Utc>, bool)>,
    /// The latest transitions, oldest first (at most 50).
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

/// Whether a call may go through now.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Yes,
    /// Half open: this call is a probe (the caller records it as in flight).
    Probe,
    /// Not now; try again at `until`.
    No {
        until: DateTime<Utc>,
        reason: String,
    },
}

const MAX_TRANSITIONS: usize = 50;

impl Breaker {
    fn go(&mut self, to: BreakerState, now: DateTime<Utc>, reason: String) {
        if self.state != to {
            self.transitions.push(Transition { at: now, from: self.state, to, reason });
            if self.transitions.len() > MAX_TRANSITIONS {
                self.transitions.remove(0);
            }
            self.state = to;
        }
    }

    /// Decides whether a call may start; moves Open → HalfOpen when the cooldown is over.
    pub fn admit(&mut self, p: &BreakerPolicy, now: DateTime<Utc>) -> Admission {
        if self.state == BreakerState::Open {
            match self.open_until {
                Some(t) if t > now => return Admission::No { until: t, reason: format!("circuit breaker open until {}", t.to_rfc3339()) },
                _ => {
                    self.go(BreakerState::HalfOpen, now, "cooldown over: letting a probe through".into());
                    self.probes_in_flight = 0;
                }
            }
        }
        match self.state {
            BreakerState::Closed => Admission::Yes,
            BreakerState::HalfOpen if self.probes_in_flight < p.half_open_probes => {
                self.probes_in_flight += 1;
                Admission::Probe
            }
            _ => {
                let until = now + Duration::minutes(1);
                Admission::No { until, reason: "circuit breaker half open: a probe is in flight".into() }
            }
        }
    }

    /// Closed with no failure in the window: a success would change nothing.
    pub fn is_healthy(&self, p: &BreakerPolicy, now: DateTime<Utc>) -> bool {
        let window = Duration::from_std(p.window).unwrap_or_default();
        self.state == BreakerState::Closed
            && self.consecutive_failures == 0
            && !self.recent.iter().any(|(t, good)| !good && now - *t <= window)
    }

    /// Records a call's result; returns the transition it caused, if any.
    pub fn record(&mut self, p: &BreakerPolicy, ok: bool, now: DateTime<Utc>) -> Option<Transition> {
        let window = Duration::from_std(p.window).unwrap_or_default();
        // A success on a healthy breaker changes nothing that matters: it is not written, so that
        // a busy job does not turn its breaker into a hot spot. The failure ratio is therefore
        // over the calls since the first failure in the window (it can only trip sooner).
        let failures_in_window = self.recent.iter().any(|(t, good)| !good && now - *t <= window);
        if ok && self.state == BreakerState::Closed && self.consecutive_failures == 0 && !failures_in_window {
            return None;
        }
        self.recent.retain(|(t, _)| now - *t <= window);
        self.recent.push((now, ok));
        if self.recent.len() > 1000 {
            self.recent.remove(0);
        }
        let before = self.transitions.len();
        if ok {
            self.consecutive_failures = 0;
            if self.state == BreakerState::HalfOpen {
                self.probes_in_flight = 0;
                self.open_until = None;
                self.go(BreakerState::Closed, now, "a probe succeeded".into());
            }
        } else {
            self.consecutive_failures += 1;
            let calls = self.recent.len() as u32;
            let failed = self.recent.iter().filter(|(_, ok)| !ok).count() as f64;
            let ratio = failed / f64::from(calls.max(1));
            let reason = if self.state == BreakerState::HalfOpen {
                Some("a probe failed".to_string())
            } else if self.consecutive_failures >= p.consecutive_failures {
                Some(format!("{} consecutive failures", self.consecutive_failures))
            } else if calls >= p.min_calls && ratio >= p.failure_ratio {
                Some(format!("{failed} of the last {calls} calls failed ({:.0}%)", ratio * 100.0))
            } else {
                None
            };
            if let Some(reason) = reason {
                self.probes_in_flight = 0;
                self.open_until = Some(now + Duration::from_std(p.cooldown).unwrap_or_default());
                self.go(BreakerState::Open, now, reason);
            }
        }
        (self.transitions.len() > before).then(|| self.transitions.last().cloned()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z").unwrap().with_timezone(&Utc) + Duration::minutes(m)
    }

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            consecutive_failures: 3,
            cooldown: StdDuration::from_secs(600),
            failure_ratio: 0.5,
            window: StdDuration::from_secs(86_400),
            min_calls: 4,
            half_open_probes: 1,
        }
    }

    #[test]
    fn opens_on_consecutive_failures_then_probes_and_closes() {
        let p = policy();
        let mut b = Breaker::default();
        assert_eq!(b.admit(&p, t(0)), Admission::Yes);
        assert!(b.record(&p, false, t(0)).is_none());
        assert!(b.record(&p, false, t(1)).is_none());
        let tr = b.record(&p, false, t(2)).unwrap();
        assert_eq!((tr.from, tr.to), (BreakerState::Closed, BreakerState::Open));
        assert!(matches!(b.admit(&p, t(5)), Admission::No { until, .. } if until == t(12)));
        assert_eq!(b.admit(&p, t(12)), Admission::Probe);
        assert!(matches!(b.admit(&p, t(12)), Admission::No { .. }), "one probe at a time");
        let tr = b.record(&p, true, t(13)).unwrap();
        assert_eq!((tr.from, tr.to), (BreakerState::HalfOpen, BreakerState::Closed));
        assert_eq!(b.admit(&p, t(14)), Admission::Yes);
        assert_eq!(b.transitions.len(), 3);
    }

    #[test]
    fn a_failed_probe_reopens() {
        let p = policy();
        let mut b = Breaker::default();
        for m in 0..3 {
            b.record(&p, false, t(m));
        }
        assert_eq!(b.admit(&p, t(20)), Admission::Probe);
        let tr = b.record(&p, false, t(21)).unwrap();
        assert_eq!((tr.from, tr.to, tr.reason.as_str()), (BreakerState::HalfOpen, BreakerState::Open, "a probe failed"));
        assert_eq!(b.open_until, Some(t(31)));
    }

    #[test]
    fn low_volume_jobs_trip_on_the_failure_ratio() {
        // A job that runs four times a day, alternating: never three failures in a row.
        let p = policy();
        let mut b = Breaker::default();
        b.record(&p, false, t(0));
        b.record(&p, true, t(360));
        b.record(&p, false, t(720));
        let tr = b.record(&p, false, t(1080)).unwrap();
        assert!(tr.reason.contains("3 of the last 4 calls failed"), "{}", tr.reason);
    }
}
