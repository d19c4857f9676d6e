//! The alert rules (monitoring.md §2.1): what each alert is called, its labels (its identity), its
//! severity, its words for people, and what makes it stop firing. Events (an SLA breach, a canary
//! aborted) open alerts; gauges (breakers, quarantine, freshness, dead letters, releases) are
//! evaluated from their source on every tick that samples them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Until;
use crate::domain::alert::{Alert as Signal, AlertKind};
use crate::domain::ids::{instant_key, RunKey};
use crate::domain::notify::{Alert, Severity, Status};

/// The names of the gauge rules, each sampled by its own source.
pub const BREAKER_OPEN: &str = "BreakerOpen";
pub const QUARANTINE_GROWTH: &str = "QuarantineGrowth";
pub const STALE_DATA: &str = "StaleData";
pub const DEAD_LETTERS: &str = "DeadLetterNonEmpty";
pub const NO_ACTIVE_RELEASE: &str = "NoActiveRelease";
pub const REVIEW_OVERDUE: &str = "EmergencyReviewOverdue";

/// Outstanding quarantine items of one job that fire `QuarantineGrowth` (monitoring.md: 1 for a
/// critical job, 5 otherwise; flowgate has no criticality per job yet, so every job is normal).
pub const QUARANTINE_THRESHOLD: usize = 5;

/// Where the runbooks are in the repository; `FLOWGATE_RUNBOOK_BASE_URL` replaces it when alerts
/// are sent (see `with_runbook_base`).
pub const RUNBOOKS: &str = "docs/runbooks";

fn runbook(name: &str) -> Option<String> {
    let page = match name {
        "SlaBreach" | "SlaWarning" | DEAD_LETTERS => "stuck-pipeline",
        BREAKER_OPEN => "circuit-breaker",
        QUARANTINE_GROWTH => "quarantine-growth",
        STALE_DATA => "failed-contract",
        _ => "failed-release",
    };
    Some(format!("{RUNBOOKS}/{page}.md"))
}

/// An alert's runbook link under another base (a fork's URL): `docs/runbooks/x.md` → `{base}/x.md`.
pub fn with_runbook_base(runbook: &str, base: &str) -> String {
    match runbook.strip_prefix(RUNBOOKS) {
        Some(rest) => format!("{}{rest}", base.trim_end_matches('/')),
        None => runbook.to_string(),
    }
}

fn alert(name: &str, labels: &[(&str, &str)], severity: Severity, at: DateTime<Utc>, summary: String) -> Alert {
    Alert {
        name: name.to_string(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        severity,
        status: Status::Firing,
        starts_at: at,
        ends_at: None,
        summary,
        facts: Vec::new(),
        runbook: runbook(name),
        link: None,
    }
}

/// The alert an event opens, and what resolves it; `None` for the kinds a gauge rule watches.
pub fn from_signal(s: &Signal) -> Option<(Alert, Until)> {
    let run = || RunKey::parse(&s.key);
    let (name, severity, until, labels) = match s.kind {
        AlertKind::SlaBreach => {
            let run = run()?;
            // A late success is Sev4; work not delivered by the deadline is Sev3. No criticality
            // per job yet (sla.rs).
            let late = s.late;
            let until = Until::RunSettled { job: run.job.to_string(), logical: run.logical_time };
            (
                "SlaBreach",
                if late { Severity::Sev4 } else { Severity::Sev3 },
                until,
                vec![("job", s.subject.clone()), ("run", s.key.clone())],
            )
        }
        AlertKind::SlaWarning => {
            let run = run()?;
            let until = Until::RunEndedOr { job: run.job.to_string(), logical: run.logical_time, at: s.due_at };
            ("SlaWarning", Severity::Info, until, vec![("job", s.subject.clone()), ("run", s.key.clone())])
        }
        AlertKind::CanaryAborted => ("CanaryAborted", Severity::Sev3, Until::NextSwitch, vec![("rollout", s.key.clone())]),
        AlertKind::SwitchFailed => ("SwitchFailed", Severity::Sev2, Until::NextSwitch, vec![("rollout", s.key.clone())]),
        AlertKind::CanaryInconclusive => {
            ("CanaryInconclusive", Severity::Sev3, Until::CanaryDecided { rollout: s.key.clone() }, vec![("rollout", s.key.clone())])
        }
        AlertKind::StaleData | AlertKind::NoActiveRelease | AlertKind::EmergencyReviewOverdue => return None,
    };
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = alert(name, &labels, severity, s.raised_at, s.message.clone());
    a.facts.push(("Due".into(), instant_key(s.due_at)));
    if let Some(o) = &s.owner {
        a.facts.push(("Owner".into(), o.clone()));
    }
    Some((a, until))
}

/// A breaker that is open or half-open (`kind` is `job` or `endpoint`).
pub fn breaker_open(kind: &str, key: &str, since: DateTime<Utc>, reason: &str) -> Alert {
    let mut a = alert(
        BREAKER_OPEN,
        &[("breaker", &format!("{kind}:{key}"))],
        Severity::Sev2,
        since,
        format!("the {kind} breaker {key} is open: {reason}"),
    );
    if kind == "job" {
        a.labels.insert("job".into(), key.to_string());
    }
    a
}

/// Quarantine items of one job waiting for a person, by reason.
pub fn quarantine_growth(job: &str, outstanding: usize, reasons: &BTreeMap<String, usize>, oldest: DateTime<Utc>) -> Alert {
    let mut a = alert(
        QUARANTINE_GROWTH,
        &[("job", job)],
        Severity::Sev3,
        oldest,
        format!("{outstanding} quarantine item(s) of {job} wait for a person (`flowgate quarantine list`)"),
    );
    a.facts = reasons.iter().take(8).map(|(r, n)| (format!("{n}×"), crate::domain::text::excerpt(r, 120))).collect();
    a
}

/// A dataset with no accepted arrival for longer than its declared cadence.
pub fn stale_data(dataset: &str, since: DateTime<Utc>, message: String) -> Alert {
    alert(STALE_DATA, &[("dataset", dataset)], Severity::Sev3, since, message)
}

/// Messages on a queue's dead-letter queue (flowgate moves failures to quarantine, so this
/// should never happen).
pub fn dead_letters(queue: &str, count: u64, at: DateTime<Utc>) -> Alert {
    alert(DEAD_LETTERS, &[("queue", queue)], Severity::Sev2, at, format!("{count} message(s) on the dead-letter queue of `{queue}`"))
}

/// Releases are required and none is active: nothing runs.
pub fn no_active_release(at: DateTime<Utc>) -> Alert {
    alert(
        NO_ACTIVE_RELEASE,
        &[],
        Severity::Sev1,
        at,
        "no release is active and FLOWGATE_RELEASES=required: nothing runs until one is promoted".into(),
    )
}

/// An emergency change whose review by a second person is overdue.
pub fn review_overdue(release: &str, due: DateTime<Utc>, summary: String) -> Alert {
    alert(REVIEW_OVERDUE, &[("release", release)], Severity::Sev3, due, summary)
}

/// Grouping (Alertmanager's `group_by: [alertname, job]`): the job of an alert, if it has one.
pub fn group_job(a: &Alert) -> Option<String> {
    a.labels.get("job").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn signal(kind: AlertKind, key: &str, message: &str, late: bool) -> Signal {
        let due = Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap();
        Signal {
            kind,
            subject: "extract".into(),
            key: key.into(),
            raised_at: if late { due + chrono::Duration::minutes(12) } else { due },
            due_at: due,
            owner: Some("data-team".into()),
            message: message.into(),
            late,
        }
    }

    #[test]
    fn runbook_links_move_under_another_base() {
        assert_eq!(
            with_runbook_base("docs/runbooks/stuck-pipeline.md", "https://wiki.example/rb/"),
            "https://wiki.example/rb/stuck-pipeline.md"
        );
        assert_eq!(with_runbook_base("https://elsewhere/x", "https://wiki.example/rb"), "https://elsewhere/x");
    }

    #[test]
    fn events_open_alerts_with_their_resolve_condition_and_gauge_kinds_do_not() {
        let key = "extract@2026-11-30T06:00:00.000Z";
        let (a, until) = from_signal(&signal(AlertKind::SlaBreach, key, "run missed its deadline", false)).unwrap();
        assert_eq!((a.name.as_str(), a.severity), ("SlaBreach", Severity::Sev3));
        assert_eq!(a.labels.get("run").map(String::as_str), Some(key));
        assert!(matches!(until, Until::RunSettled { ref job, .. } if job == "extract"));
        let (late, _) =
            from_signal(&signal(AlertKind::SlaBreach, key, "run x missed its deadline: it ended succeeded, 12m late", true)).unwrap();
        assert_eq!(late.severity, Severity::Sev4);
        assert_ne!(a.fingerprint(), from_signal(&signal(AlertKind::SlaWarning, key, "w", false)).unwrap().0.fingerprint());
        assert!(from_signal(&signal(AlertKind::StaleData, "feed@x", "stale", false)).is_none());
        assert!(from_signal(&signal(AlertKind::SlaBreach, "not a run key", "x", false)).is_none());
        assert_eq!(group_job(&a).as_deref(), Some("extract"));
        assert_eq!(breaker_open("job", "extract", a.starts_at, "5 failures").labels.get("job").map(String::as_str), Some("extract"));
        assert_eq!(group_job(&breaker_open("endpoint", "api.example", a.starts_at, "x")), None);
    }
}
