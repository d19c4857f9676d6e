//! The StabilityReport timer's work: last week's report to blob storage and its summary, once.

use chrono::{DateTime, Utc};

use super::{weekly, ReportInputs};
use crate::domain::report::IsoWeek;
use crate::ports::{StoreError, Table};

/// Where the StabilityReport timer keeps the reports (`<week>/report.{md,html,json}`).
pub const CONTAINER: &str = "reports";

/// What the StabilityReport timer did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub week: String,
    pub verdict: crate::domain::report::Verdict,
    /// Whether this call posted the summary (a second timer run for the same week does not).
    pub announced: bool,
}

/// The StabilityReport timer (each Monday): the report of the week before `now` in the catalog's
/// time zone, written to the `reports` container (the same bytes on a second run), and a summary
/// posted once to every alert receiver, linking to it.
pub async fn publish(deps: &crate::flows::Deps, now: DateTime<Utc>) -> Result<Published, crate::flows::FlowError> {
    use crate::domain::notify::{Alert, Group, Severity, Status};
    use crate::domain::report::{html, markdown, Verdict};
    let tz = deps.catalog.timezone;
    let week = IsoWeek::of(now, tz).previous();
    let report = weekly(deps.store.as_ref(), Some(deps.audit.as_ref()), week, tz, &ReportInputs::of(&deps.catalog)).await?;
    let label = week.label();
    let files = [
        ("report.json", serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"),
        ("report.md", markdown::render(&report)),
        ("report.html", html::render(&report)),
    ];
    for (name, text) in &files {
        deps.blobs
            .write(CONTAINER, &format!("{label}/{name}"), text.as_bytes())
            .await
            .map_err(|e| crate::flows::FlowError::Blob(e.to_string()))?;
    }
    // Claimed once per week, so two timer runs post one summary.
    let claim = serde_json::json!({ "week": label, "at": now });
    let announced = match deps.store.insert(Table::METRICS, "report", &label, &claim).await {
        Ok(_) => true,
        Err(StoreError::Conflict(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if announced {
        let w = &report.this_week;
        let mut facts = vec![
            ("Success".to_string(), format!("{}/{}", w.success.num, w.success.den)),
            ("SLA met".to_string(), format!("{}/{}", report.sla.all.met, report.sla.adherence.den)),
            ("Incidents".to_string(), report.episodes.len().to_string()),
            ("Report".to_string(), format!("{CONTAINER}/{label}/report.html")),
        ];
        facts.extend(report.reasons.iter().take(3).map(|r| ("What changed".to_string(), r.clone())));
        let verdict = format!("{:?}", report.verdict).to_uppercase();
        let summary = Alert {
            name: "StabilityReport".into(),
            labels: [("week".to_string(), label.clone())].into(),
            severity: Severity::Info,
            // A stable week reads green; a degraded or unstable one asks for attention.
            status: if report.verdict == Verdict::Stable { Status::Resolved } else { Status::Firing },
            starts_at: report.from,
            ends_at: Some(report.to),
            summary: format!("Weekly stability report {label}: {verdict}"),
            facts,
            runbook: None,
            link: (deps.settings)("FLOWGATE_REPORT_URL")
                .filter(|u| !u.is_empty())
                .map(|base| format!("{}/{label}/report.html", base.trim_end_matches('/'))),
        };
        let n = crate::domain::alerting::delivery::Notification {
            id: format!("report.{label}"),
            made_at: now,
            group: Group { name: "StabilityReport".into(), job: None, alerts: vec![summary] },
        };
        crate::flows::monitor::deliver::to_every_receiver(deps, &n, now).await?;
    }
    Ok(Published { week: label, verdict: report.verdict, announced })
}
