//! `flowgate evidence --state DIR --from T --to T --out DIR`: one folder an auditor can open. It
//! holds the audit segment with the whole chain's verification, the runs of the window with their
//! gate decisions, quarantine items with their replay and discard history, SLA outcomes, lineage,
//! releases (approvals with the approver's role and whether they are distinct from the author,
//! checks, emergency changes with their review state, the active release over the window), the
//! release decisions of the window, the configuration in force at its start and its changes, an
//! `index.html` that opens with a summary and the exceptions, and `manifest.json` with each file's
//! SHA-256.

mod html;
mod releases;
mod summary;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::audit::instant;
use super::exit;
use crate::domain::audit::verify_rows;
use crate::flows::{lineage, quarantine, runs};
use crate::ports::{AuditSink, RowRange, Store, Table};

/// Everything the pack shows, gathered from the state.
pub(super) struct Pack {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub chain: Value,
    pub audit: Vec<Value>,
    pub runs: Vec<Value>,
    pub gates: Vec<Value>,
    pub quarantine: Vec<Value>,
    pub sla: Vec<Value>,
    pub lineage: Vec<Value>,
    /// The window's release decisions (audit events).
    pub approvals: Vec<Value>,
    /// Every release with its approvals, checks and emergency review.
    pub releases: Vec<Value>,
    /// Which release was active when, over the window.
    pub active: Vec<Value>,
    /// The configuration in force at the window's start (even if recorded before it) and its
    /// changes within the window.
    pub configuration: Value,
}

pub async fn run(state: &Path, from: Option<&str>, to: Option<&str>, out: &Path) -> u8 {
    let (from, to) = match (instant("--from", from), instant("--to", to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    if let Err(code) = crate::commands::fresh_out(out) {
        return code;
    }
    let st = match super::state::open(state) {
        Ok(s) => s,
        Err(c) => return c,
    };
    // Without a window: everything the audit trail holds.
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (f, t) => match st.audit.read(None, None).await {
            Ok(events) => (
                f.or_else(|| events.first().map(|e| e.at)).unwrap_or_else(Utc::now),
                t.or_else(|| events.last().map(|e| e.at + chrono::Duration::milliseconds(1))).unwrap_or_else(Utc::now),
            ),
            Err(e) => {
                eprintln!("error: reading the audit trail: {e}");
                return exit::FAILED;
            }
        },
    };
    if from >= to {
        eprintln!("error: --from must be before --to");
        return exit::BAD_INPUT;
    }
    let pack = match gather(&st, from, to).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    match write(&pack, out) {
        Ok(files) => {
            let intact = pack.chain["intact"].as_bool().unwrap_or(false);
            println!(
                "evidence pack {}: {} file(s); {} audit event(s), {} run(s), {} quarantine item(s); audit chain {}",
                out.display(),
                files,
                pack.audit.len(),
                pack.runs.len(),
                pack.quarantine.len(),
                if intact { "intact" } else { "BROKEN" }
            );
            if intact {
                exit::OK
            } else {
                exit::FAILED
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

fn within(t: Option<DateTime<Utc>>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    t.is_some_and(|t| t >= from && t < to)
}

async fn gather(st: &super::state::State, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Pack, String> {
    let (store, audit): (&dyn Store, &dyn AuditSink) = (st.store.as_ref(), st.audit.as_ref());
    // The whole chain is verified: a segment proves nothing about what was cut before it. A row
    // that is not a readable event breaks it at its seq; the readable events are still shown.
    let rows = audit.read_rows(None, None).await.map_err(|e| e.to_string())?;
    let chain = match verify_rows(&rows) {
        Ok(head) => json!({ "intact": true, "events": rows.len(), "head_hash": head }),
        Err(b) => json!({ "intact": false, "events": rows.len(), "first_bad_seq": b.seq, "first_bad_index": b.index, "why": b.why }),
    };
    let all: Vec<crate::domain::audit::AuditEvent> = rows.into_iter().filter_map(|r| r.event.ok()).collect();
    let configuration = summary::configuration(&all, from, to);
    let segment: Vec<Value> =
        all.iter().filter(|e| e.at >= from && e.at < to).map(|e| serde_json::to_value(e).unwrap_or_default()).collect();
    let approvals = segment.iter().filter(|e| releases::is_release_event(e["kind"].as_str().unwrap_or(""))).cloned().collect();
    let (release_list, active) = releases::gather(st, from, to).await?;

    let run_list = runs::list(store, None, usize::MAX).await.map_err(|e| e.to_string())?;
    let in_window: Vec<_> = run_list.into_iter().filter(|r| within(Some(r.logical_time), from, to)).collect();
    let gates = in_window
        .iter()
        .filter_map(|r| r.gate.as_ref().map(|g| json!({ "job": r.job, "logical_time": r.logical_time, "status": r.status, "decision": g })))
        .collect();
    let runs: Vec<Value> = in_window.iter().map(|r| serde_json::to_value(r).unwrap_or_default()).collect();

    let items = quarantine::list(store, true).await.map_err(|e| e.to_string())?;
    let quarantine = items
        .into_iter()
        .filter(|q| within(Some(q.at), from, to) || q.history.iter().any(|h| within(Some(h.at), from, to)))
        .map(|q| serde_json::to_value(q).unwrap_or_default())
        .collect();

    let alerts = store.query(Table::ALERTS, None, RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())?;
    let sla = alerts
        .into_iter()
        .map(|e| e.body)
        .filter(|a| matches!(a["kind"].as_str(), Some("sla_warning" | "sla_breach" | "stale_data")))
        .filter(|a| {
            within(a["raised_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)), from, to)
        })
        .collect();
    let lineage = lineage::export(store, Some(from), Some(to)).await.map_err(|e| e.to_string())?;
    Ok(Pack {
        from,
        to,
        generated_at: Utc::now(),
        chain,
        audit: segment,
        runs,
        gates,
        quarantine,
        sla,
        lineage,
        approvals,
        releases: release_list,
        active,
        configuration,
    })
}

fn jsonl(items: &[Value]) -> String {
    items.iter().map(|v| format!("{v}\n")).collect()
}

/// Writes the pack; returns how many files.
fn write(p: &Pack, out: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let files: Vec<(&str, String)> = vec![
        ("audit.jsonl", jsonl(&p.audit)),
        ("audit-verification.json", pretty(&p.chain)),
        ("runs.json", pretty(&json!(p.runs))),
        ("gate-decisions.json", pretty(&json!(p.gates))),
        ("quarantine.json", pretty(&json!(p.quarantine))),
        ("sla.json", pretty(&json!(p.sla))),
        ("lineage.jsonl", jsonl(&p.lineage)),
        ("approvals.json", pretty(&json!(p.approvals))),
        ("releases.json", pretty(&json!({ "active_over_window": p.active, "releases": p.releases }))),
        ("configuration.json", pretty(&p.configuration)),
        ("index.html", html::render(p)),
    ];
    let mut manifest = serde_json::Map::new();
    for (name, content) in &files {
        let path = out.join(name);
        std::fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        manifest.insert((*name).to_string(), json!(hex::encode(Sha256::digest(content.as_bytes()))));
    }
    let manifest = json!({
        "window": { "from": p.from, "to": p.to },
        "generated_at": p.generated_at,
        "generator": concat!("flowgate ", env!("CARGO_PKG_VERSION")),
        "sha256": manifest,
    });
    std::fs::write(out.join("manifest.json"), pretty(&manifest)).map_err(|e| format!("manifest.json: {e}"))?;
    Ok(files.len() + 1)
}
