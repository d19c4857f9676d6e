//! `flowgate plan --catalog FILE --from T --hours N [--state DIR] [--json]`: what would run in a
//! window, when, why, what could hold it, and its SLA deadline.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::exit;
use crate::adapters::local::SqliteStore;
use crate::app::{render_problems, store_path};
use crate::domain::catalog::check::load_file;
use crate::domain::ids::{instant_key, DatasetId};
use crate::domain::plan::{plan, why_text, PlanState, MAX_WINDOW};
use crate::flows::alerts::{Freshness, FRESHNESS};
use crate::flows::runs;
use crate::ports::{RowRange, Store, Table};

/// Most runs printed; a larger plan says it was cut.
pub const MAX_RUNS: usize = 2_000_000;

pub async fn run(catalog: Option<&Path>, from: &str, hours: u32, state: Option<&Path>, as_json: bool) -> u8 {
    let from: DateTime<Utc> = match DateTime::parse_from_rfc3339(from) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => return bad(&format!("--from `{from}` is not an RFC 3339 instant (e.g. 2026-11-02T00:00:00Z): {e}")),
    };
    let max_hours = MAX_WINDOW.as_secs() / 3600;
    if hours == 0 || u64::from(hours) > max_hours {
        return bad(&format!("--hours must be between 1 and {max_hours}, not {hours}"));
    }
    let catalog = match (catalog, state) {
        (Some(file), _) => match load_file(file) {
            Ok(l) => std::sync::Arc::new(l.catalog),
            Err(problems) => {
                eprintln!("{}", render_problems(&file.display().to_string(), &problems));
                return exit::BAD_INPUT;
            }
        },
        (None, Some(dir)) => match super::release::active_view(dir).await {
            Ok(Some(view)) => {
                if !as_json {
                    eprintln!("planning the active release {}", view.id.short());
                }
                view.catalog
            }
            Ok(None) => return bad(&format!("--state {}: no release is active; pass --catalog FILE", dir.display())),
            Err(e) => return bad(&e),
        },
        (None, None) => return bad("pass --catalog FILE, or --state DIR to plan its active release"),
    };
    let mut plan_state = PlanState::default();
    if let Some(dir) = state {
        match read_state(dir).await {
            Ok(s) => plan_state = s,
            Err(e) => return bad(&format!("--state {}: {e}", dir.display())),
        }
    }
    // With FLOWGATE_RELEASES=required and nothing active, nothing runs: say so first.
    let required = crate::flows::releases::active::required_by(std::env::var("FLOWGATE_RELEASES").ok().as_deref()).unwrap_or(false);
    let held = match (required, state) {
        (true, Some(dir)) => matches!(super::release::active_view(dir).await, Ok(None)),
        _ => false,
    };
    let until = from + chrono::Duration::hours(i64::from(hours));
    let (planned, truncated) = plan(&catalog, from, until, &plan_state, MAX_RUNS);
    if as_json {
        println!(
            "{}",
            json!({ "from": instant_key(from), "until": instant_key(until), "truncated": truncated, "held_no_active_release": held, "runs": planned })
        );
        return exit::OK;
    }
    if held {
        println!("nothing runs: no release is active and FLOWGATE_RELEASES=required (flowgate release propose, approve, promote); once one is, this would:");
    }
    println!(
        "{} run(s) planned from {} to {}{}",
        planned.len(),
        instant_key(from),
        instant_key(until),
        if truncated { " (cut at the limit)" } else { "" }
    );
    for (job, t, st) in &plan_state.unfinished {
        println!("  now      {:<28} {} is {st}", job.as_str(), instant_key(*t));
    }
    for p in &planned {
        let sla = p.sla_deadline.map(|d| format!("  SLA {}", instant_key(d))).unwrap_or_default();
        println!("{}  {:<26} {:<28} {}{sla}", instant_key(p.at), p.local(), p.job, why_text(&p.why));
        for b in p.blockers.iter() {
            println!("{:>52} could be held by: {b}", "");
        }
    }
    exit::OK
}

async fn read_state(dir: &Path) -> Result<PlanState, String> {
    let db = store_path(dir);
    if !db.is_file() {
        return Err("holds no flowgate state".into());
    }
    let store = SqliteStore::open(&db).map_err(|e| e.to_string())?;
    let mut s = PlanState::default();
    for r in runs::list(&store, None, usize::MAX).await.map_err(|e| e.to_string())? {
        if !r.status.is_terminal() {
            s.unfinished.push((r.job, r.logical_time, r.status));
        }
    }
    for e in store.query(Table::SCHEDULES, Some(FRESHNESS), RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())? {
        if let (Ok(ds), Ok(f)) = (DatasetId::parse(e.row.clone()), serde_json::from_value::<Freshness>(e.body)) {
            if let Some(t) = f.last_arrival {
                s.last_arrivals.insert(ds, t);
            }
        }
    }
    for e in
        store.query(Table::BREAKERS, Some(crate::flows::breakers::JOB), RowRange::default(), usize::MAX).await.map_err(|e| e.to_string())?
    {
        if let (Ok(job), Ok(b)) =
            (crate::domain::ids::JobId::parse(e.row.clone()), serde_json::from_value::<crate::domain::breaker::Breaker>(e.body))
        {
            if let (crate::domain::breaker::BreakerState::Open, Some(until)) = (b.state, b.open_until) {
                s.open_breakers.insert(job, until);
            }
        }
    }
    Ok(s)
}

fn bad(message: &str) -> u8 {
    eprintln!("error: {message}");
    exit::BAD_INPUT
}
