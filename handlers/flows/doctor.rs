//! `flowgate doctor`: what needs a person now, worst first — runs stuck past their lease, dead
//! letters, breakers open long past their cooldown, quarantine items waiting over a day, stale
//! datasets, SLA breaches still firing, an audit chain that does not verify, emergency changes
//! overdue for review, a catalog that differs from the one running, settings that point nowhere —
//! each with its evidence, the command that deals with it, and its runbook.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::audit::verify_rows;
use crate::domain::breaker::{Breaker, BreakerState};
use crate::domain::catalog::Catalog;
use crate::ports::{AuditSink, Queue, RowRange, Store, Table};

/// How soon it needs a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Evidence or data may be wrong, or work has stopped: now.
    Critical,
    /// Work is waiting on a person: today.
    Warning,
}

/// One thing that needs a person.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The check that found it (`stuck_run`, `dead_letters`, …).
    pub check: &'static str,
    pub subject: String,
    pub evidence: String,
    /// The command that deals with it (or shows what to do), ready to paste.
    pub command: String,
    pub runbook: String,
}

/// What the doctor reads.
pub struct Inputs<'a> {
    pub store: &'a dyn Store,
    pub queue: &'a dyn Queue,
    pub audit: &'a dyn AuditSink,
    /// The catalog that runs (the active release's, or the configured file's).
    pub catalog: Option<&'a Catalog>,
    /// Problems with the settings, found by the caller (a path that does not exist, …).
    pub settings: Vec<String>,
    /// `--state` as the user wrote it, for the commands shown.
    pub state: String,
    pub now: DateTime<Utc>,
    /// Where the runbooks are (`FLOWGATE_RUNBOOK_BASE_URL`, default `docs/runbooks`).
    pub runbooks: String,
}

/// A run is stuck when its lease (or its next attempt, or its first dispatch) is this far past.
pub const GRACE_MINUTES: i64 = crate::domain::run::STUCK_GRACE_MINUTES;
/// A quarantine item waiting longer than this needs a decision.
pub const QUARANTINE_WAIT_HOURS: i64 = 24;
/// A breaker open this many times its cooldown is not recovering by itself.
const BREAKER_COOLDOWNS: i32 = 3;

impl Inputs<'_> {
    fn runbook(&self, page: &str) -> String {
        format!("{}/{page}.md", self.runbooks.trim_end_matches('/'))
    }
}

/// Every finding, worst first (then by check and subject). `Err`: the state cannot be read.
pub async fn examine(i: &Inputs<'_>) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    let st = &i.state;
    let mut add = |severity, check, subject: String, evidence: String, command: String, page: &str| {
        out.push(Finding { severity, check, subject, evidence, command, runbook: i.runbook(page) });
    };

    let rows = i.audit.read_rows(None, None).await.map_err(|e| e.to_string())?;
    if let Err(b) = verify_rows(&rows) {
        add(
            Severity::Critical,
            "audit_chain",
            format!("audit event seq {}", b.seq.map_or("?".into(), |s| s.to_string())),
            format!("the audit chain breaks there: {}", b.why),
            format!("flowgate audit verify --state {st}"),
            "audit-chain",
        );
    }

    let runs = crate::flows::runs::list(i.store, None, usize::MAX).await.map_err(|e| e.to_string())?;
    for r in &runs {
        if let Some((what, at)) = r.stuck(i.now) {
            add(
                Severity::Critical,
                "stuck_run",
                crate::domain::ids::RunKey::new(r.job.clone(), r.logical_time).to_string(),
                format!(
                    "{} since {what} at {} ({} min ago), attempt {}",
                    format!("{:?}", r.status).to_lowercase(),
                    at.to_rfc3339(),
                    (i.now - at).num_minutes(),
                    r.attempts
                ),
                format!("flowgate runs --state {st} --job {}", r.job),
                "stuck-pipeline",
            );
        }
    }

    for q in crate::flows::monitor::gauges::QUEUES {
        let counts = i.queue.counts(q, i.now).await.map_err(|e| e.to_string())?;
        if counts.dead_letter > 0 {
            add(
                Severity::Critical,
                "dead_letters",
                format!("queue {q}"),
                format!(
                    "{} message(s) dead-lettered (delivered too often without completing); {} active",
                    counts.dead_letter, counts.active
                ),
                format!("flowgate alerts --state {st}"),
                "stuck-pipeline",
            );
        }
    }

    for e in i.store.query(Table::BREAKERS, None, RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())? {
        let Ok(b) = serde_json::from_value::<Breaker>(e.body) else { continue };
        if b.state == BreakerState::Closed {
            continue;
        }
        let opened = b.transitions.iter().rev().find(|t| t.from == BreakerState::Closed);
        let Some(opened) = opened else { continue };
        // The cooldown: how long it stays open before a probe (from its last opening).
        let cooldown = b.open_until.map_or(Duration::minutes(5), |u| (u - opened.at).max(Duration::minutes(1)));
        if opened.at + cooldown * BREAKER_COOLDOWNS < i.now {
            add(
                Severity::Critical,
                "breaker_open",
                format!("{} breaker {}", e.partition, e.row),
                format!(
                    "{:?} since {} ({} min, cooldown {} min): {}",
                    b.state,
                    opened.at.to_rfc3339(),
                    (i.now - opened.at).num_minutes(),
                    cooldown.num_minutes(),
                    opened.reason
                ),
                format!("flowgate runs --state {st}"),
                "circuit-breaker",
            );
        }
    }

    let items = crate::flows::quarantine::list(i.store, false).await.map_err(|e| e.to_string())?;
    for q in items.iter().filter(|q| q.at + Duration::hours(QUARANTINE_WAIT_HOURS) < i.now) {
        add(
            Severity::Warning,
            "quarantine_waiting",
            q.id.clone(),
            format!("waiting since {} ({} h): {}", q.at.to_rfc3339(), (i.now - q.at).num_hours(), q.reason),
            format!("flowgate quarantine show {} --state {st}", q.id),
            "quarantine-growth",
        );
    }

    if let Some(catalog) = i.catalog {
        let fresh = i
            .store
            .query(Table::SCHEDULES, Some(crate::flows::alerts::FRESHNESS), RowRange::default(), usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        for ds in catalog.datasets.values() {
            let state = fresh
                .iter()
                .find(|e| e.row == ds.id.as_str())
                .and_then(|e| serde_json::from_value::<crate::flows::alerts::Freshness>(e.body.clone()).ok());
            if let Some(stale) = state.and_then(|s| crate::flows::alerts::stale(ds, &s, i.now)) {
                add(
                    Severity::Warning,
                    "stale_data",
                    format!("dataset {}", ds.id),
                    stale.message,
                    format!("flowgate runs --state {st}"),
                    "failed-contract",
                );
            }
        }
    }

    let since = i.now - Duration::days(30);
    for a in crate::flows::monitor::states(i.store, since).await.map_err(|e| e.to_string())? {
        if a.resolved_at.is_none() && a.alert.name == "SlaBreach" {
            add(
                Severity::Warning,
                "sla_breach",
                a.alert.labels.get("run").or_else(|| a.alert.labels.get("job")).cloned().unwrap_or_else(|| a.fingerprint.clone()),
                format!("firing since {}: {}", a.fired_at.to_rfc3339(), a.alert.summary),
                format!("flowgate alerts --state {st}"),
                "stuck-pipeline",
            );
        }
    }

    for (change, _) in crate::flows::releases::records::emergencies(i.store).await.map_err(|e| e.to_string())? {
        if change.review_state(i.now) == "overdue" {
            add(
                Severity::Warning,
                "emergency_review",
                format!("release {}", change.release.short()),
                format!("emergency change for incident {} was due for review by {}", change.incident, change.review_due.to_rfc3339()),
                format!("flowgate release review {} --state {st}", change.release.short()),
                "failed-release",
            );
        }
    }

    for problem in &i.settings {
        add(
            Severity::Critical,
            "settings",
            "settings".into(),
            problem.clone(),
            "flowgate validate $FLOWGATE_CATALOG".into(),
            "lost-access",
        );
    }

    out.sort_by(|a, b| (a.severity, a.check, &a.subject).cmp(&(b.severity, b.check, &b.subject)));
    Ok(out)
}
