//! Operational facts for Azure Monitor (monitoring.md §3): a heartbeat on every monitor tick (the
//! "heartbeat missing" log alert in `infra/` fires when rows stop), signals — each queue's depth
//! and each alert sent — and every run as it finishes, as rows of `FlowgateHeartbeat_CL`,
//! `FlowgateSignals_CL` and `FlowgateRuns_CL`. Facts never hold up the work: a failed send is
//! logged and dropped (the Store keeps the truth; the report reads the Store).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::Deps;
use crate::domain::ids::{instant_key, RunKey};
use crate::domain::metrics::RunFacts;
use crate::domain::notify::Alert;
use crate::ports::{FactStream, QueueCounts};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn send(deps: &Deps, stream: FactStream, rows: Vec<Value>) {
    let Some(sink) = &deps.facts else { return };
    if rows.is_empty() {
        return;
    }
    if let Err(e) = sink.send(stream, &rows).await {
        tracing::warn!(stream = ?stream, rows = rows.len(), error = %e, "facts not sent");
    }
}

/// The instance's name (`WEBSITE_INSTANCE_ID` under Azure).
fn instance(deps: &Deps) -> String {
    (deps.settings)("WEBSITE_INSTANCE_ID").or_else(|| (deps.settings)("HOSTNAME")).unwrap_or_else(|| "local".into())
}

/// The heartbeat row of one tick.
pub fn heartbeat_row(at: DateTime<Utc>, instance: &str, release: Option<&str>, firing: usize) -> Value {
    json!({
        "TimeGenerated": ts(at),
        "Instance": instance,
        "Version": env!("CARGO_PKG_VERSION"),
        "Release": release.unwrap_or(""),
        "Firing": firing,
    })
}

/// One row per queue's depth and per alert sent.
pub fn signal_rows(at: DateTime<Utc>, queues: &BTreeMap<&'static str, QueueCounts>, sent: &[Alert]) -> Vec<Value> {
    let mut rows: Vec<Value> = queues
        .iter()
        .map(|(q, c)| {
            json!({ "TimeGenerated": ts(at), "Kind": "queue_depth", "Name": q, "Active": c.active, "Scheduled": c.scheduled,
                "DeadLetter": c.dead_letter })
        })
        .collect();
    rows.extend(sent.iter().map(|a| {
        json!({ "TimeGenerated": ts(at), "Kind": "alert", "Name": a.name, "Status": a.status.word(), "Severity": a.severity.label(),
            "Fingerprint": a.fingerprint(), "Labels": serde_json::to_string(&a.labels).unwrap_or_default() })
    }));
    rows
}

/// The row of a finished run: its outcome, attempts, duration and start delay (ms).
pub fn run_row(rec: &crate::domain::run::RunRecord) -> Value {
    let f = RunFacts::of(rec);
    let ms = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds()),
        _ => None,
    };
    json!({
        "TimeGenerated": ts(f.finished.unwrap_or(rec.created_at)),
        "Job": f.job,
        "LogicalTime": instant_key(rec.logical_time),
        "Status": rec.status.as_str(),
        "Attempts": f.attempts,
        "FirstAttemptSucceeded": f.first_attempt_succeeded,
        "DurationMs": ms(f.started, f.finished),
        "StartDelayMs": ms(Some(f.scheduled_for), f.started),
        "SlaDeadline": f.sla_deadline.map(ts),
        "Release": rec.release.as_ref().map(|r| r.to_string()).unwrap_or_default(),
    })
}

/// A monitor tick's facts: its heartbeat and its signals.
pub async fn tick(deps: &Deps, now: DateTime<Utc>, firing: usize, queues: &BTreeMap<&'static str, QueueCounts>, sent: &[Alert]) {
    if deps.facts.is_none() {
        return;
    }
    let release = deps.release.as_ref().map(|r| r.to_string());
    send(deps, FactStream::Heartbeat, vec![heartbeat_row(now, &instance(deps), release.as_deref(), firing)]).await;
    send(deps, FactStream::Signals, signal_rows(now, queues, sent)).await;
}

/// A run finished: its row (read back from the Store, which has every figure).
pub async fn run_finished(deps: &Deps, key: &RunKey) {
    if deps.facts.is_none() {
        return;
    }
    match super::runs::load(deps.store.as_ref(), key).await {
        Ok(Some((rec, _))) => send(deps, FactStream::Runs, vec![run_row(&rec)]).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(run = %key, error = %e, "run fact not sent"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::JobId;
    use crate::domain::run::{RunRecord, RunStatus, RunTrigger};
    use chrono::{Duration, TimeZone};

    #[test]
    fn rows_carry_the_columns_the_tables_declare() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 6, 0, 0).unwrap();
        let hb = heartbeat_row(t, "i-1", None, 2);
        assert_eq!(hb["TimeGenerated"], "2026-11-30T06:00:00.000Z");
        assert_eq!(hb["Firing"], 2);
        let q: BTreeMap<&'static str, QueueCounts> = [("dispatch", QueueCounts { active: 3, scheduled: 1, dead_letter: 0 })].into();
        let rows = signal_rows(t, &q, &[]);
        assert_eq!((rows.len(), rows[0]["Kind"].as_str(), rows[0]["Active"].as_u64()), (1, Some("queue_depth"), Some(3)));
        let mut rec = RunRecord::pending(JobId::parse("extract").unwrap(), t, RunTrigger::Schedule, t);
        rec.status = RunStatus::Succeeded;
        rec.attempts = 1;
        rec.started_at = Some(t + Duration::seconds(2));
        rec.finished_at = Some(t + Duration::seconds(12));
        let r = run_row(&rec);
        assert_eq!(
            (r["DurationMs"].as_i64(), r["StartDelayMs"].as_i64(), r["Status"].as_str()),
            (Some(10_000), Some(2_000), Some("succeeded"))
        );
    }
}
