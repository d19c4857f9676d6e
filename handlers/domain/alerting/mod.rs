//! Alerts that behave like Alertmanager's (monitoring.md §2.2), pure: each alert, identified by
//! its fingerprint, moves inactive → firing → resolved; a firing alert is sent once, again only
//! when its repeat interval has passed (4 h at Sev1–2, 24 h otherwise), and its resolve is sent
//! once. A silence holds sends (never the state). The flow stores the state and claims each send
//! with a conditional write, so two overlapping ticks never send the same thing twice.

pub mod azure;
pub mod delivery;
pub mod rules;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::notify::{Alert, Severity, Status};

/// What makes an alert stop firing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Until {
    /// A rule evaluated from its source on the ticks that sample it (breakers, quarantine,
    /// freshness, dead letters, releases): it resolves when the source no longer shows it.
    #[default]
    Gauge,
    /// The run succeeds or its slot is skipped (an SLA breach: the work was delivered after all).
    RunSettled { job: String, logical: DateTime<Utc> },
    /// The run ends, or the instant passes (an SLA warning: a breach takes over at the deadline).
    RunEndedOr { job: String, logical: DateTime<Utc>, at: DateTime<Utc> },
    /// A release is switched to after the alert fired (a canary aborted, a switch that failed).
    NextSwitch,
    /// The active release no longer carries this canary (an inconclusive canary was decided).
    CanaryDecided { rollout: String },
    /// Azure Monitor says so (`AlertIngest` received its `Resolved`).
    Azure { resolved: bool },
}

/// What the Store keeps per fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub fingerprint: String,
    /// The alert as last evaluated (its status says firing or resolved).
    pub alert: Alert,
    /// When it last started firing.
    pub fired_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// When its last firing notification was sent (claimed).
    pub last_sent: Option<DateTime<Utc>>,
    /// Firing notifications sent since it last started firing.
    pub sends: u32,
    /// Its resolve has been sent.
    pub resolve_sent: bool,
    /// Times it has fired (a flapping alert fires often).
    pub fired_count: u32,
    /// What makes it stop firing.
    #[serde(default)]
    pub until: Until,
}

impl AlertState {
    /// An alert opened by an event (an SLA breach, a canary aborted): firing, not yet sent; the
    /// next monitor tick sends it.
    pub fn opened(alert: &Alert, until: Until, now: DateTime<Utc>) -> Self {
        let mut a = alert.clone();
        a.status = Status::Firing;
        a.ends_at = None;
        Self {
            fingerprint: alert.fingerprint(),
            alert: a,
            fired_at: now,
            resolved_at: None,
            last_sent: None,
            sends: 0,
            resolve_sent: false,
            fired_count: 1,
            until,
        }
    }
    pub fn is_firing(&self) -> bool {
        self.alert.status == Status::Firing
    }
    /// Whether an alert opened by an event still fires: while its condition holds, and until its
    /// firing notification went out once (a late success's breach is still told), unless silenced.
    pub fn holds(&self, condition: bool, silenced: bool) -> bool {
        condition || (self.until != Until::Gauge && self.is_firing() && self.sends == 0 && !silenced)
    }
    /// Resolved a day ago or more: its state can leave the open set for the history.
    pub fn settled(&self, now: DateTime<Utc>) -> bool {
        self.resolved_at.is_some_and(|r| now - r >= chrono::Duration::hours(24))
    }
}

/// A silence: no sends for matching alerts until `until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// The alert name it covers, and the job when it names one.
    pub name: String,
    pub job: Option<String>,
    pub until: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

impl Silence {
    pub fn covers(&self, a: &Alert, now: DateTime<Utc>) -> bool {
        now < self.until && self.name == a.name && self.job.as_ref().is_none_or(|j| a.labels.get("job") == Some(j))
    }
}

/// What to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Send {
    Nothing,
    /// It started firing.
    Firing,
    /// Still firing, and its repeat interval has passed.
    Repeat,
    /// It stopped firing.
    Resolved,
}

/// The next state of an alert evaluated at `now` (`firing`: the rule holds now), and what to send.
/// `None` state: nothing to keep (an alert that was never firing and is not now).
pub fn evaluate(prev: Option<&AlertState>, alert: &Alert, firing: bool, silenced: bool, now: DateTime<Utc>) -> (Option<AlertState>, Send) {
    let was_firing = prev.is_some_and(|p| p.alert.status == Status::Firing);
    match (was_firing, firing) {
        (false, false) => (prev.cloned(), Send::Nothing),
        (false, true) => {
            let mut a = alert.clone();
            a.status = Status::Firing;
            a.ends_at = None;
            let state = AlertState {
                fingerprint: alert.fingerprint(),
                alert: a,
                fired_at: now,
                resolved_at: None,
                last_sent: (!silenced).then_some(now),
                sends: u32::from(!silenced),
                resolve_sent: false,
                fired_count: prev.map_or(0, |p| p.fired_count) + 1,
                until: prev.map_or(Until::Gauge, |p| p.until.clone()),
            };
            (Some(state), if silenced { Send::Nothing } else { Send::Firing })
        }
        (true, true) => {
            let p = prev.expect("was firing");
            let mut s = p.clone();
            s.alert = Alert { status: Status::Firing, ends_at: None, starts_at: p.alert.starts_at, ..alert.clone() };
            // Information is sent once; the others again at their repeat interval.
            let due = s.last_sent.is_none_or(|t| alert.severity != Severity::Info && now - t >= alert.severity.repeat_interval());
            if due && !silenced {
                let first = s.last_sent.is_none();
                s.last_sent = Some(now);
                s.sends += 1;
                (Some(s), if first { Send::Firing } else { Send::Repeat })
            } else {
                (Some(s), Send::Nothing)
            }
        }
        (true, false) => {
            let p = prev.expect("was firing");
            let mut s = p.clone();
            s.alert.status = Status::Resolved;
            s.alert.ends_at = Some(now);
            s.resolved_at = Some(now);
            // A resolve goes out only for an alert whose firing went out, and never for
            // information (a warning that a breach replaces).
            let send = s.sends > 0 && !silenced && alert.severity != Severity::Info;
            s.resolve_sent = send;
            (Some(s), if send { Send::Resolved } else { Send::Nothing })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn alert(sev: Severity) -> Alert {
        Alert {
            name: "BreakerOpen".into(),
            labels: [("job".to_string(), "classify".to_string())].into(),
            severity: sev,
            status: Status::Firing,
            starts_at: t(0),
            ends_at: None,
            summary: "breaker open".into(),
            facts: vec![],
            runbook: None,
            link: None,
        }
    }

    /// Runs `firing` at each minute; returns (minute, send) for every send.
    fn play(sev: Severity, firing: &dyn Fn(i64) -> bool, minutes: i64, silenced: &dyn Fn(i64) -> bool) -> Vec<(i64, Send)> {
        let (mut state, mut sends) = (None, Vec::new());
        for m in 0..minutes {
            let (next, send) = evaluate(state.as_ref(), &alert(sev), firing(m), silenced(m), t(m));
            state = next;
            if send != Send::Nothing {
                sends.push((m, send));
            }
        }
        sends
    }

    #[test]
    fn fires_once_repeats_at_its_interval_and_resolves_once() {
        let never = |_| false;
        // Sev2 firing for 9 hours from minute 10: sent at 10, repeated at 4 h and 8 h, resolved at 550.
        let s = play(Severity::Sev2, &|m| (10..550).contains(&m), 600, &never);
        assert_eq!(s, vec![(10, Send::Firing), (250, Send::Repeat), (490, Send::Repeat), (550, Send::Resolved)]);
        // Sev3 repeats daily only.
        let s = play(Severity::Sev3, &|m| (10..550).contains(&m), 600, &never);
        assert_eq!(s, vec![(10, Send::Firing), (550, Send::Resolved)]);
        // Never firing: nothing, ever.
        assert!(play(Severity::Sev1, &never, 600, &never).is_empty());
        // Information firing for two days: sent once, no repeat, no resolve.
        assert_eq!(play(Severity::Info, &|m| (10..3000).contains(&m), 3100, &never), vec![(10, Send::Firing)]);
    }

    #[test]
    fn flapping_fires_each_time_and_silences_hold_sends_not_state() {
        let never = |_| false;
        let s = play(Severity::Sev3, &|m| m % 100 < 50, 300, &never);
        assert_eq!(s.iter().filter(|(_, x)| *x == Send::Firing).count(), 3);
        assert_eq!(s.iter().filter(|(_, x)| *x == Send::Resolved).count(), 3);
        // Silenced for its whole firing: no firing and no resolve.
        assert!(play(Severity::Sev2, &|m| (10..100).contains(&m), 200, &|m| m < 150).is_empty());
        // Silenced when it started, unsilenced while still firing: sent then, resolved later.
        let s = play(Severity::Sev2, &|m| (10..100).contains(&m), 200, &|m| m < 30);
        assert_eq!(s, vec![(30, Send::Firing), (100, Send::Resolved)]);
    }
}
