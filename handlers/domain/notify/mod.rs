//! What an alert notification says, and how each receiver wants it (monitoring.md §2.3): a group
//! of alerts (Alertmanager's grouping by `[alertname, job]`) rendered as a Teams Workflows
//! Adaptive Card, a Slack message with blocks and a `text` fallback, or an Alertmanager v4 body
//! signed per Standard Webhooks. Pure: the adapters send what these build.

pub mod slack;
pub mod teams;
pub mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Severity, Azure Monitor's Sev1–4 plus information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Sev1,
    Sev2,
    Sev3,
    Sev4,
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sev1 => "Sev1",
            Self::Sev2 => "Sev2",
            Self::Sev3 => "Sev3",
            Self::Sev4 => "Sev4",
            Self::Info => "Info",
        }
    }
    /// How long a still-firing alert waits before it is sent again: 4 h at Sev1–2, else 24 h.
    pub fn repeat_interval(self) -> chrono::Duration {
        match self {
            Self::Sev1 | Self::Sev2 => chrono::Duration::hours(4),
            _ => chrono::Duration::hours(24),
        }
    }
}

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Self::Firing => "FIRING",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// One alert as a notification shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `SlaBreach`, `BreakerOpen`, `QuarantineGrowth`, `StaleData`, `DeadLetterNonEmpty`, ...
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub severity: Severity,
    pub status: Status,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    /// One line for people.
    pub summary: String,
    /// Facts shown under it (title, value).
    pub facts: Vec<(String, String)>,
    /// The runbook that deals with it.
    pub runbook: Option<String>,
    /// Where to look (the run, the status page).
    pub link: Option<String>,
}

impl Alert {
    /// SHA-256 of the alert name and its sorted labels: the alert's identity.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.name, &self.labels)
    }
}

/// SHA-256 (hex) of `name` and `labels` in order, each `key=value` on its own line.
pub fn fingerprint(name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(format!("alertname={name}\n").as_bytes());
    for (k, v) in labels {
        h.update(format!("{k}={v}\n").as_bytes());
    }
    hex::encode(h.finalize())
}

/// Alerts sent together: the same alert name and job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub job: Option<String>,
    pub alerts: Vec<Alert>,
}

impl Group {
    /// Firing while any of its alerts fires.
    pub fn status(&self) -> Status {
        if self.alerts.iter().any(|a| a.status == Status::Firing) {
            Status::Firing
        } else {
            Status::Resolved
        }
    }
    /// The worst severity among its alerts.
    pub fn severity(&self) -> Severity {
        self.alerts.iter().map(|a| a.severity).min().unwrap_or(Severity::Info)
    }
    /// `{}:{alertname="SlaBreach",job="classify"}`, Alertmanager's group key.
    pub fn key(&self) -> String {
        match &self.job {
            Some(j) => format!("{{}}:{{alertname=\"{}\",job=\"{}\"}}", self.name, j),
            None => format!("{{}}:{{alertname=\"{}\"}}", self.name),
        }
    }
    /// The one-line title: `FIRING · Sev2 · SlaBreach · classify`.
    pub fn title(&self) -> String {
        let mut t = format!("{} · {} · {}", self.status().word(), self.severity().label(), self.name);
        if let Some(j) = &self.job {
            t.push_str(&format!(" · {j}"));
        }
        t
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn group(n: usize, status: Status) -> Group {
        let alerts = (0..n)
            .map(|i| Alert {
                name: "SlaBreach".into(),
                labels: [
                    ("job".to_string(), "classify_correspondence".to_string()),
                    ("slot".to_string(), format!("2026-11-30T0{}:15Z", i % 10)),
                ]
                .into(),
                severity: Severity::Sev2,
                status,
                starts_at: Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap(),
                ends_at: (status == Status::Resolved).then(|| Utc.with_ymd_and_hms(2026, 11, 30, 6, 40, 0).unwrap()),
                summary: format!("classify_correspondence missed its 07:00 deadline (slot {i})"),
                facts: vec![
                    ("Deadline".into(), "07:00 Europe/London (07:00Z)".into()),
                    ("Run".into(), format!("classify_correspondence@{i}")),
                ],
                runbook: Some("https://example.org/runbooks/sla-breach.md".into()),
                link: Some("https://flowgate.example/api/status".into()),
            })
            .collect();
        Group { name: "SlaBreach".into(), job: Some("classify_correspondence".into()), alerts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `FLOWGATE_UPDATE_GOLDEN=1 cargo test --lib notify` rewrites tests/fixtures/notify/ from the
    /// code (then read the diff before committing it); otherwise the payload tests compare.
    #[test]
    fn golden_files_can_be_rewritten_on_purpose() {
        if std::env::var_os("FLOWGATE_UPDATE_GOLDEN").is_none() {
            return;
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notify");
        let g = fixtures::group(2, Status::Firing);
        for (name, v) in
            [("teams", teams::message(&g)), ("slack", slack::message(&g)), ("webhook", webhook::body(&g, "https://flowgate.example"))]
        {
            std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        }
    }

    #[test]
    fn fingerprints_are_stable_and_label_order_free() {
        let a: BTreeMap<String, String> = [("job".into(), "x".into()), ("slot".into(), "1".into())].into();
        assert_eq!(fingerprint("SlaBreach", &a), fingerprint("SlaBreach", &a.clone()));
        assert_ne!(fingerprint("SlaBreach", &a), fingerprint("StaleData", &a));
        assert_eq!(fingerprint("SlaBreach", &a).len(), 64);
        let g = fixtures::group(2, Status::Firing);
        assert_eq!(g.key(), "{}:{alertname=\"SlaBreach\",job=\"classify_correspondence\"}");
        assert_eq!(g.title(), "FIRING · Sev2 · SlaBreach · classify_correspondence");
        assert_eq!(Severity::Sev1.repeat_interval(), chrono::Duration::hours(4));
        assert_eq!(Severity::Sev3.repeat_interval(), chrono::Duration::hours(24));
    }
}
