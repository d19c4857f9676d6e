//! What an auditor reads first: the window's figures (runs by outcome, SLA adherence, alerts,
//! quarantine, gate holds, configuration, changes shipped) and the exceptions — every run that
//! did not succeed, with its reason, its gate evidence, what followed and its audit events.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::Pack;

/// The audit subject of a run: `job@logical time` (milliseconds, `Z`).
pub(super) fn run_key(run: &Value) -> String {
    let t = time(&run["logical_time"]).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true)).unwrap_or_default();
    format!("{}@{t}", run["job"].as_str().unwrap_or(""))
}

/// The audit subject of a data arrival a quarantine item holds: `dataset:path` (no container).
pub(super) fn item_key(item: &Value) -> String {
    match (item["evidence"]["dataset"].as_str(), item["evidence"]["blob"].as_str()) {
        (Some(ds), Some(blob)) => format!("{ds}:{}", blob.split_once('/').map_or(blob, |(_, p)| p)),
        _ => item["id"].as_str().unwrap_or("").to_string(),
    }
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// The seqs of the window's audit events about `key` (its own, and alerts raised on it).
pub(super) fn seqs_of(audit: &[Value], key: &str) -> Vec<u64> {
    audit
        .iter()
        .filter(|e| e["subject"].as_str().is_some_and(|s| s == key || s.rsplit_once('|').is_some_and(|(_, k)| k == key)))
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

/// One run that did not succeed.
pub(super) struct Exception {
    pub key: String,
    pub status: String,
    pub why: String,
    pub gate: String,
    pub followed: Vec<String>,
    pub seqs: Vec<u64>,
}

/// The window's figures.
pub(super) struct Summary {
    pub by_status: BTreeMap<String, usize>,
    pub exceptions: Vec<Exception>,
    /// Runs with a deadline in the window: met, late (succeeded after it), missed.
    pub sla: (usize, usize, usize),
    pub breaches: Vec<String>,
    pub alerts: BTreeMap<String, usize>,
    /// Quarantine: opened in the window, replayed, discarded, still open.
    pub quarantine: (usize, usize, usize, usize),
    pub gate_holds: usize,
    pub held_runs: usize,
    pub config_at_start: Option<Value>,
    pub config_changes: Vec<Value>,
    pub shipped: Vec<String>,
    /// Arrivals marked suspect, marks lifted, runs replayed because of them (`flowgate dataset`).
    pub suspect: (usize, usize, usize),
}

pub(super) fn summarize(p: &Pack) -> Summary {
    let in_window = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= p.from && t < p.to);
    let mut by_status = BTreeMap::new();
    for r in &p.runs {
        *by_status.entry(r["status"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    let exceptions = p.runs.iter().filter(|r| r["status"] != "succeeded").map(|r| exception(p, r)).collect();
    let mut sla = (0, 0, 0);
    for r in p.runs.iter().filter(|r| in_window(time(&r["sla_deadline"]))) {
        let due = time(&r["sla_deadline"]);
        match (r["status"].as_str(), time(&r["finished_at"])) {
            (Some("succeeded"), Some(f)) if Some(f) <= due => sla.0 += 1,
            (Some("succeeded"), _) => sla.1 += 1,
            _ => sla.2 += 1,
        }
    }
    let breaches = p
        .sla
        .iter()
        .filter(|a| a["kind"] == "sla_breach")
        .map(|a| format!("{} ({})", a["message"].as_str().unwrap_or(""), a["raised_at"].as_str().unwrap_or("")))
        .collect();
    let mut alerts = BTreeMap::new();
    for e in p.audit.iter().filter(|e| e["kind"] == "alerted") {
        let kind = e["evidence"]["kind"].as_str().or_else(|| e["subject"].as_str().and_then(|s| s.split('|').next())).unwrap_or("alert");
        *alerts.entry(kind.to_string()).or_insert(0) += 1;
    }
    let mut quarantine = (0, 0, 0, 0);
    for q in &p.quarantine {
        if in_window(time(&q["at"])) {
            quarantine.0 += 1;
        }
        for h in q["history"].as_array().into_iter().flatten().filter(|h| in_window(time(&h["at"]))) {
            match h["action"].as_str() {
                Some("replayed") => quarantine.1 += 1,
                Some("discarded") => quarantine.2 += 1,
                _ => {}
            }
        }
        if q["status"] == "open" {
            quarantine.3 += 1;
        }
    }
    let gate_holds = p.audit.iter().filter(|e| e["kind"] == "gate_decided" && e["decision"] == "held by a gate").count();
    let held_runs = p.runs.iter().filter(|r| r["gate"]["passed"] == false).count();
    let config_changes: Vec<Value> = p.configuration["changes_in_window"].as_array().cloned().unwrap_or_default();
    let shipped = p
        .audit
        .iter()
        .filter(|e| e["kind"] == "release_promoted")
        .map(|e| {
            let id = e["subject"].as_str().unwrap_or("");
            let release = p.releases.iter().find(|r| r["id"] == id);
            let approvers: Vec<String> = release
                .and_then(|r| r["approvals"].as_array())
                .into_iter()
                .flatten()
                .filter(|a| a["counted"] == true)
                .map(|a| a["by"].as_str().unwrap_or("?").to_string())
                .collect();
            format!(
                "{} at {} by {}, approved by {} [audit #{}]",
                &id[..id.len().min(12)],
                e["at"].as_str().unwrap_or(""),
                e["actor"].as_str().unwrap_or("?"),
                if approvers.is_empty() { "nobody counted".to_string() } else { approvers.join(", ") },
                e["seq"]
            )
        })
        .collect();
    let count = |kind: &str| p.audit.iter().filter(|e| e["kind"] == kind).count();
    let suspect_replays = p.audit.iter().filter(|e| e["kind"] == "replayed" && e["evidence"]["suspect_dataset"].is_string()).count();
    Summary {
        suspect: (count("data_suspected"), count("data_cleared"), suspect_replays),
        by_status,
        exceptions,
        sla,
        breaches,
        alerts,
        quarantine,
        gate_holds,
        held_runs,
        config_at_start: p.configuration.get("in_force_at_start").filter(|v| !v.is_null()).cloned(),
        config_changes,
        shipped,
    }
}

fn exception(p: &Pack, r: &Value) -> Exception {
    let key = run_key(r);
    let why = r["reason"].as_str().or_else(|| r["error"].as_str()).unwrap_or("(no reason recorded)").to_string();
    let failed: Vec<String> = r["gate"]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            format!(
                "{} gate on {}: {}",
                c["gate"].as_str().unwrap_or("?"),
                c["dataset"].as_str().unwrap_or("?"),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    let mut followed = Vec::new();
    let attempts = r["attempts"].as_u64().unwrap_or(0);
    if attempts > 1 {
        followed.push(format!("tried {attempts} times (retries per the job's policy)"));
    }
    if r["replays"].as_u64().unwrap_or(0) > 0 {
        followed.push(format!("replayed {} time(s)", r["replays"]));
    }
    // Quarantine items for the run itself, and for a data arrival its gate names.
    let gate_text = failed.join(" ");
    for q in &p.quarantine {
        let own = q["job"] == r["job"] && time(&q["logical_time"]) == time(&r["logical_time"]) && !r["job"].is_null();
        let input = q["evidence"]["blob"].as_str().is_some_and(|b| gate_text.contains(b.split_once('/').map_or(b, |(_, p)| p)));
        if !(own || input) {
            continue;
        }
        let what = if own { "the run was quarantined" } else { "its input arrival was quarantined" };
        let history: Vec<String> = q["history"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                let note = h["note"].as_str().map(|n| format!(": {n}")).unwrap_or_default();
                format!(
                    "{} by {} at {}{note}",
                    h["action"].as_str().unwrap_or("?"),
                    h["by"].as_str().unwrap_or("?"),
                    h["at"].as_str().unwrap_or("?")
                )
            })
            .collect();
        followed.push(format!(
            "{what} ({}, {}){}",
            q["id"].as_str().unwrap_or("?"),
            q["status"].as_str().unwrap_or("?"),
            if history.is_empty() { "; nobody has acted on it yet".to_string() } else { format!("; {}", history.join("; ")) }
        ));
    }
    for a in p.sla.iter().filter(|a| a["subject"].as_str() == Some(&key) || a["key"].as_str() == Some(&key)) {
        followed.push(format!("{} at {}", a["kind"].as_str().unwrap_or("alert"), a["raised_at"].as_str().unwrap_or("?")));
    }
    Exception {
        seqs: seqs_of(&p.audit, &key),
        status: r["status"].as_str().unwrap_or("?").to_string(),
        why,
        gate: failed.join("; "),
        followed,
        key,
    }
}

/// The pack's `configuration.json`: what governed the window.
pub(super) fn configuration(all: &[crate::domain::audit::AuditEvent], from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    use crate::domain::audit::AuditKind;
    let at_start = all.iter().rfind(|e| e.kind == AuditKind::ConfigChanged && e.at <= from);
    let changes: Vec<&crate::domain::audit::AuditEvent> =
        all.iter().filter(|e| e.kind == AuditKind::ConfigChanged && e.at > from && e.at < to).collect();
    json!({ "in_force_at_start": at_start, "changes_in_window": changes })
}
