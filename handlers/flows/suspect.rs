//! Suspected data corruption: arrivals a person marks as suspect hold every run that would read
//! them at its gate (with the reason); the blast radius is every run that already read one, every
//! output those runs wrote, and every run downstream of them by dependency and lineage; once a
//! corrected file has landed, the affected runs are replayed — each once, upstream first, under
//! its original run key. Marking, clearing and replaying are audited with who did it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::inputs::arrival_row;
use crate::domain::audit::AuditKind;
use crate::domain::catalog::Catalog;
use crate::domain::ids::RunKey;
use crate::domain::run::{RunRecord, RunStatus, RunTrigger};
use crate::ports::{AuditSink, ETag, Queue, RowRange, Store, StoreError, Table};

/// Where the marks live: the schedules table, this partition, row `dataset|arrival row`.
const PARTITION: &str = "suspect";

/// A mark on one arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub dataset: String,
    pub path: String,
    pub arrived_at: DateTime<Utc>,
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub cleared: Option<Cleared>,
    /// Runs replayed because of it (each once).
    #[serde(default)]
    pub reran: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cleared {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// Which arrivals a command names.
pub enum Which {
    /// Its path (as `flowgate trace` shows it), or the end of it.
    Arrival(String),
    Window(DateTime<Utc>, DateTime<Utc>),
    /// The dataset's newest arrival.
    Latest,
}

/// Why a command could not act.
#[derive(Debug, thiserror::Error)]
pub enum SuspectError {
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("recording the audit event failed: {0}")]
    Audit(String),
    #[error("queue: {0}")]
    Queue(String),
}

fn row(dataset: &str, arrival: &str) -> String {
    format!("{dataset}|{arrival}")
}

/// The mark on one arrival, with its ETag for a conditional write.
async fn load(store: &dyn Store, dataset: &str, arrival: &str) -> Result<Option<(Mark, ETag)>, StoreError> {
    let Some(e) = store.get(Table::SCHEDULES, PARTITION, &row(dataset, arrival)).await? else { return Ok(None) };
    let m = serde_json::from_value(e.body).map_err(|err| StoreError::Corrupt(row(dataset, arrival), err.to_string()))?;
    Ok(Some((m, e.etag)))
}

async fn save(store: &dyn Store, m: &Mark, arrival: &str, etag: &ETag) -> Result<(), StoreError> {
    store.replace(Table::SCHEDULES, PARTITION, &row(&m.dataset, arrival), &serde_json::to_value(m).unwrap_or_default(), etag).await?;
    Ok(())
}

/// The dataset's arrivals the selection names: (arrival row, path, arrived at).
pub async fn arrivals(
    store: &dyn Store,
    catalog: &Catalog,
    dataset: &str,
    which: &Which,
) -> Result<Vec<(String, String, DateTime<Utc>)>, SuspectError> {
    if !catalog.datasets.keys().any(|d| d.as_str() == dataset) {
        let known: Vec<&str> = catalog.datasets.keys().map(|d| d.as_str()).collect();
        return Err(SuspectError::BadInput(format!("unknown dataset `{dataset}` (the catalog has {})", known.join(", "))));
    }
    let mut out = Vec::new();
    for e in store.query(Table::ARRIVALS, Some(dataset), RowRange::default(), usize::MAX).await? {
        let path = e.body["path"].as_str().unwrap_or_default().to_string();
        let Some(at) = e.body["arrived_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
        else {
            continue;
        };
        let hit = match which {
            Which::Arrival(p) => {
                let p = p.trim_start_matches('/');
                path == p || path.ends_with(&format!("/{p}")) || p.ends_with(&format!("/{path}"))
            }
            Which::Window(from, to) => at >= *from && at < *to,
            Which::Latest => true,
        };
        if hit {
            out.push((e.row, path, at));
        }
    }
    if matches!(which, Which::Latest) {
        out.sort_by_key(|(_, _, at)| *at);
        out = out.split_off(out.len().saturating_sub(1));
    }
    if out.is_empty() {
        return Err(SuspectError::BadInput(match which {
            Which::Arrival(p) => format!("dataset `{dataset}` has no arrival `{p}` on record"),
            Which::Window(f, t) => format!("dataset `{dataset}` has no arrival from {} to {}", f.to_rfc3339(), t.to_rfc3339()),
            Which::Latest => format!("dataset `{dataset}` has no arrival on record"),
        }));
    }
    Ok(out)
}

/// Whether an arrival is marked (and not cleared): the gate holds runs that would read it.
pub async fn mark_of(store: &dyn Store, dataset: &str, arrived_at: DateTime<Utc>, path: &str) -> Result<Option<Mark>, StoreError> {
    Ok(store
        .get(Table::SCHEDULES, PARTITION, &row(dataset, &arrival_row(arrived_at, path)))
        .await?
        .and_then(|e| serde_json::from_value::<Mark>(e.body).ok())
        .filter(|m| m.cleared.is_none()))
}

/// Every mark, cleared or not.
pub async fn marks(store: &dyn Store) -> Result<Vec<Mark>, StoreError> {
    Ok(store
        .query(Table::SCHEDULES, Some(PARTITION), RowRange::default(), usize::MAX)
        .await?
        .into_iter()
        .filter_map(|e| serde_json::from_value::<Mark>(e.body).ok())
        .collect())
}

/// The arrivals a run read: its trigger's, and those its gate names (`arrival PATH at T`).
pub fn read_by(run: &RunRecord) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let RunTrigger::Arrival { dataset, path, .. } = &run.trigger {
        out.push((dataset.clone(), path.clone()));
    }
    for c in run.gate.iter().flat_map(|g| g.checks.iter()) {
        if let Some(rest) = c.detail.split("(arrival ").nth(1) {
            let path = rest.split(" at ").next().unwrap_or("").to_string();
            if !path.is_empty() && !out.iter().any(|(d, p)| *d == c.dataset && *p == path) {
                out.push((c.dataset.clone(), path));
            }
        }
    }
    out
}

/// What a suspect arrival has reached.
#[derive(Debug, Default, Serialize)]
pub struct BlastRadius {
    /// Runs that read a suspect arrival (directly), by key.
    pub runs: BTreeSet<String>,
    /// Outputs those runs (and the downstream ones) wrote.
    pub outputs: BTreeSet<String>,
    /// Runs downstream of them, by dependency or by reading an affected output, with the depth.
    pub downstream: BTreeMap<String, usize>,
    /// Jobs that read the dataset: their next runs are held at the gate.
    pub held_jobs: BTreeSet<String>,
}

impl BlastRadius {
    /// Every affected run with its depth (0: read the suspect data itself).
    pub fn all(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = self.runs.iter().map(|r| (r.clone(), 0)).collect();
        v.extend(self.downstream.iter().map(|(r, d)| (r.clone(), *d)));
        v
    }
}

/// Computes the blast radius of `suspects` ((dataset, path)) over the recorded runs.
pub fn blast_radius(runs: &[RunRecord], catalog: &Catalog, suspects: &[(String, String)]) -> BlastRadius {
    let mut b = BlastRadius::default();
    let started = |r: &RunRecord| r.started_at.is_some() || r.attempts > 0 || r.status == RunStatus::Succeeded;
    let key = |r: &RunRecord| RunKey::new(r.job.clone(), r.logical_time).to_string();
    for (ds, _) in suspects {
        for j in catalog.jobs.values().filter(|j| j.inputs.iter().any(|d| d.as_str() == ds)) {
            b.held_jobs.insert(j.id.to_string());
        }
    }
    // Depth 0: runs that read a suspect arrival.
    let mut frontier: Vec<&RunRecord> =
        runs.iter().filter(|r| started(r) && read_by(r).iter().any(|(d, p)| suspects.iter().any(|(sd, sp)| sd == d && sp == p))).collect();
    for r in &frontier {
        b.runs.insert(key(r));
    }
    let mut depth = 0;
    while !frontier.is_empty() && depth < 16 {
        depth += 1;
        let mut next = Vec::new();
        for r in &frontier {
            if let Some(o) = &r.output {
                b.outputs.insert(o.clone());
            }
            // By lineage: runs that read what this run wrote.
            let wrote = r.output.as_deref().map(|o| o.split_once('/').map_or(o, |(_, p)| p));
            // By dependency: the first run of each dependent job that started after this one ended.
            let dependents: Vec<&crate::domain::catalog::Job> = catalog.jobs.values().filter(|j| j.depends_on.contains(&r.job)).collect();
            for d in runs.iter().filter(|d| started(d)) {
                let k = key(d);
                if b.runs.contains(&k) || b.downstream.contains_key(&k) {
                    continue;
                }
                let by_lineage = wrote.is_some_and(|w| read_by(d).iter().any(|(_, p)| p == w));
                let by_dependency = dependents.iter().any(|j| j.id == d.job)
                    && d.started_at.zip(r.finished_at).is_some_and(|(s, f)| s >= f)
                    && !runs.iter().any(|other| {
                        other.job == r.job
                            && other.logical_time > r.logical_time
                            && other.finished_at.zip(d.started_at).is_some_and(|(f, s)| f <= s)
                    });
                if by_lineage || by_dependency {
                    b.downstream.insert(k, depth);
                    next.push(d);
                }
            }
        }
        frontier = next;
    }
    b
}

/// Marks the arrivals and audits each mark. Marks already in place stay as they are.
pub async fn mark(
    store: &dyn Store,
    audit: &dyn AuditSink,
    dataset: &str,
    chosen: &[(String, String, DateTime<Utc>)],
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<usize, SuspectError> {
    let mut n = 0;
    for (arrival, path, at) in chosen {
        let m = Mark {
            dataset: dataset.into(),
            path: path.clone(),
            arrived_at: *at,
            reason: reason.into(),
            by: by.into(),
            at: now,
            cleared: None,
            reran: Vec::new(),
        };
        match store.insert(Table::SCHEDULES, PARTITION, &row(dataset, arrival), &serde_json::to_value(&m).unwrap_or_default()).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => {
                // Marked before: a cleared mark is marked again.
                let Some((old, etag)) = load(store, dataset, arrival).await? else { continue };
                if old.cleared.is_none() {
                    continue;
                }
                save(store, &m, arrival, &etag).await?;
            }
            Err(e) => return Err(e.into()),
        }
        n += 1;
        super::audit::record_by(
            audit,
            now,
            AuditKind::DataSuspected,
            by,
            format!("{dataset}:{path}"),
            format!("marked suspect: {reason}"),
            json!({ "dataset": dataset, "path": path, "arrived_at": at, "reason": reason }),
            None,
        )
        .await
        .map_err(|e| SuspectError::Audit(e.to_string()))?;
    }
    Ok(n)
}

/// Lifts the marks and audits each.
pub async fn clear(
    store: &dyn Store,
    audit: &dyn AuditSink,
    dataset: &str,
    chosen: &[(String, String, DateTime<Utc>)],
    reason: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<usize, SuspectError> {
    let mut n = 0;
    for (arrival, path, _) in chosen {
        let Some((mut m, etag)) = load(store, dataset, arrival).await? else { continue };
        if m.cleared.is_some() {
            continue;
        }
        m.cleared = Some(Cleared { by: by.into(), at: now, reason: reason.into() });
        save(store, &m, arrival, &etag).await?;
        n += 1;
        super::audit::record_by(
            audit,
            now,
            AuditKind::DataCleared,
            by,
            format!("{dataset}:{path}"),
            format!("suspect mark lifted: {reason}"),
            json!({ "dataset": dataset, "path": path, "marked_by": m.by, "marked_for": m.reason, "reason": reason }),
            None,
        )
        .await
        .map_err(|e| SuspectError::Audit(e.to_string()))?;
    }
    Ok(n)
}

/// A corrected file: an arrival of the dataset after `since` whose contract passed.
pub async fn corrected_since(store: &dyn Store, dataset: &str, since: DateTime<Utc>) -> Result<Option<String>, StoreError> {
    Ok(store
        .query(Table::CONTRACT_RESULTS, Some(dataset), RowRange::default(), usize::MAX)
        .await?
        .into_iter()
        .filter(|e| e.body["passed"] == true)
        .filter(|e| e.body["arrived_at"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).is_some_and(|t| t > since))
        .map(|e| e.body["path"].as_str().unwrap_or_default().to_string())
        .next_back())
}

/// Replays the affected runs once each, upstream first, under their original keys; a run an
/// arrival triggered is left to the corrected arrival, which triggers its own. Returns the keys
/// replayed and those left.
#[allow(clippy::too_many_arguments)]
pub async fn rerun(
    store: &dyn Store,
    queue: &dyn Queue,
    audit: &dyn AuditSink,
    dataset: &str,
    chosen: &[(String, String, DateTime<Utc>)],
    affected: &[(String, usize)],
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Vec<String>, Vec<(String, String)>), SuspectError> {
    let mut done = Vec::new();
    let mut left = Vec::new();
    let mut already: BTreeSet<String> = BTreeSet::new();
    for (arrival, _, _) in chosen {
        if let Some((m, _)) = load(store, dataset, arrival).await? {
            already.extend(m.reran);
        }
    }
    let mut order: Vec<&(String, usize)> = affected.iter().collect();
    order.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    for (k, _) in order {
        if already.contains(k) {
            left.push((k.clone(), "replayed before for this mark".into()));
            continue;
        }
        let Some(key) = RunKey::parse(k) else { continue };
        let Some((rec, etag)) = super::runs::load(store, &key).await? else {
            left.push((k.clone(), "its run record is gone (retention)".into()));
            continue;
        };
        if !rec.status.is_terminal() {
            left.push((k.clone(), "still going".into()));
            continue;
        }
        if matches!(&rec.trigger, RunTrigger::Arrival { dataset: d, .. } if d == dataset) {
            left.push((k.clone(), "triggered by the suspect arrival: the corrected arrival triggers its own run".into()));
            continue;
        }
        let reason = format!("replayed by {by}: its input `{dataset}` was suspect");
        let rec = super::lifecycle::restart(store, queue, &key, rec, &etag, reason, now).await.map_err(|e| match e {
            super::FlowError::Store(e) => SuspectError::Store(e),
            other => SuspectError::Queue(other.to_string()),
        })?;
        super::audit::record_by(
            audit,
            now,
            AuditKind::Replayed,
            by,
            k.clone(),
            format!("replay {}: its input `{dataset}` was suspect", rec.replays),
            json!({ "prior_attempts": rec.prior_attempts, "suspect_dataset": dataset }),
            None,
        )
        .await
        .map_err(|e| SuspectError::Audit(e.to_string()))?;
        done.push(k.clone());
    }
    // Each run once: the marks remember what they replayed.
    for (arrival, _, _) in chosen {
        if let Some((mut m, etag)) = load(store, dataset, arrival).await? {
            m.reran.extend(done.iter().cloned());
            save(store, &m, arrival, &etag).await?;
        }
    }
    Ok((done, left))
}
