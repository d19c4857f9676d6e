//! What a local run did, read back from the state it left: runs by outcome, attempts, latency
//! percentiles, quarantine and queue depths.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::adapters::local::{LocalQueue, SqliteStore};
use crate::domain::ids::instant_key;
use crate::domain::run::RunStatus;
use crate::flows::runs;
use crate::ports::{queues, Queue, QueueCounts, RowRange, Store, Table};

/// Counters the host keeps while it runs.
#[derive(Debug, Clone, Default)]
pub struct HostCounters {
    pub invocations: BTreeMap<String, u64>,
    pub failed_invocations: u64,
    pub handler_restarts: u64,
}

/// The summary printed at the end of `flowgate local`.
#[derive(Debug, Clone)]
pub struct Summary {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub wall_seconds: f64,
    pub runs_by_status: BTreeMap<String, u64>,
    pub runs: u64,
    pub attempts: u64,
    pub retried_runs: u64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub quarantined_items: u64,
    /// Alerts raised, by kind.
    pub alerts: BTreeMap<String, u64>,
    pub dispatch: QueueCounts,
    pub quarantine_queue: QueueCounts,
    pub host: HostCounters,
    pub state: PathBuf,
    /// What happened to releases (the demo's story), one line each.
    pub releases: Vec<String>,
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub async fn collect(
    store: &SqliteStore,
    queue: &LocalQueue,
    host: HostCounters,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    wall_seconds: f64,
    state: PathBuf,
) -> Result<Summary, String> {
    let list = runs::list(store, None, usize::MAX).await.map_err(|e| e.to_string())?;
    let mut by: BTreeMap<String, u64> = RunStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    let mut latencies = Vec::new();
    let mut attempts = 0u64;
    let mut retried = 0u64;
    for r in &list {
        *by.entry(r.status.as_str().to_string()).or_default() += 1;
        attempts += u64::from(r.attempts);
        if r.attempts > 1 {
            retried += 1;
        }
        latencies.extend(r.latencies_ms.iter().copied());
    }
    latencies.sort_unstable();
    let mut alerts: BTreeMap<String, u64> = BTreeMap::new();
    for e in store.query(Table::ALERTS, None, RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())? {
        let kind = e.body.get("kind").and_then(|k| k.as_str()).unwrap_or("unknown").to_string();
        *alerts.entry(kind).or_default() += 1;
    }
    let quarantined = store.query(Table::QUARANTINE, None, RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())?.len() as u64;
    Ok(Summary {
        from,
        until,
        wall_seconds,
        runs_by_status: by,
        runs: list.len() as u64,
        attempts,
        retried_runs: retried,
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p95_ms: percentile(&latencies, 95.0),
        quarantined_items: quarantined,
        alerts,
        dispatch: queue.counts(queues::DISPATCH, until).await.map_err(|e| e.to_string())?,
        quarantine_queue: queue.counts(queues::QUARANTINE, until).await.map_err(|e| e.to_string())?,
        host,
        state,
        releases: Vec::new(),
    })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "flowgate local: {} → {} ({:.1} s of wall time)", instant_key(self.from), instant_key(self.until), self.wall_seconds)?;
        let outcomes: Vec<String> = self.runs_by_status.iter().filter(|(_, n)| **n > 0).map(|(s, n)| format!("{s} {n}")).collect();
        writeln!(f, "  runs        {} ({})", self.runs, if outcomes.is_empty() { "none".into() } else { outcomes.join(", ") })?;
        writeln!(f, "  attempts    {} ({} run(s) needed more than one)", self.attempts, self.retried_runs)?;
        let alerts: Vec<String> = self.alerts.iter().map(|(k, n)| format!("{} {n}", k.replace('_', " "))).collect();
        writeln!(f, "  alerts      {}", if alerts.is_empty() { "none".to_string() } else { alerts.join(", ") })?;
        let ms = |v: Option<u64>| v.map(|x| format!("{x} ms")).unwrap_or_else(|| "-".into());
        writeln!(f, "  latency     p50 {}, p95 {} (per attempt)", ms(self.latency_p50_ms), ms(self.latency_p95_ms))?;
        writeln!(
            f,
            "  quarantine  {} item(s); quarantine queue {} message(s)",
            self.quarantined_items,
            self.quarantine_queue.active + self.quarantine_queue.scheduled
        )?;
        writeln!(
            f,
            "  dispatch    active {}, scheduled {}, dead-lettered {}",
            self.dispatch.active, self.dispatch.scheduled, self.dispatch.dead_letter
        )?;
        let inv: Vec<String> = self.host.invocations.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(
            f,
            "  invocations {} ({} failed, {} handler restart(s))",
            inv.join(", "),
            self.host.failed_invocations,
            self.host.handler_restarts
        )?;
        for (i, line) in self.releases.iter().enumerate() {
            writeln!(f, "  {}{line}", if i == 0 { "releases    " } else { "            " })?;
        }
        writeln!(f, "  state       {}", self.state.display())?;
        write!(f, "  inspect     flowgate runs --state {}", self.state.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
