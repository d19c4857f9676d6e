//! `flowgate runs --state (DIR | azure) [--job J] [--limit N] [--json]`: the recorded runs, newest
//! first.

use std::path::Path;

use super::exit;
use crate::domain::ids::instant_key;
use crate::domain::run::RunStatus;
use crate::flows::runs;

pub async fn run(state: &Path, job: Option<&str>, limit: usize, as_json: bool) -> u8 {
    let store = match super::state::open(state) {
        Ok(s) => s.store,
        Err(c) => return c,
    };
    let list = match runs::list(store.as_ref(), job, limit).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    if as_json {
        println!("{}", serde_json::to_string(&list).unwrap_or_default());
        return exit::OK;
    }
    if list.is_empty() {
        println!("no runs recorded in {}", state.display());
        return exit::OK;
    }
    println!("{:<26} {:<28} {:<12} {:>8} {:>10}  {:<12}  DETAIL", "LOGICAL TIME (UTC)", "JOB", "STATUS", "ATTEMPTS", "LATENCY", "RELEASE");
    for r in &list {
        let latency = r.last_latency_ms.map(|l| format!("{l} ms")).unwrap_or_else(|| "-".into());
        let detail = match (&r.error, &r.reason, r.status) {
            (Some(e), _, _) => e.chars().take(100).collect::<String>(),
            (None, Some(why), _) => why.chars().take(100).collect::<String>(),
            (None, None, RunStatus::Succeeded) => format!("{} record(s)", r.records_in),
            _ => String::new(),
        };
        println!(
            "{:<26} {:<28} {:<12} {:>8} {:>10}  {:<12}  {}",
            instant_key(r.logical_time),
            r.job.as_str(),
            r.status.as_str(),
            r.attempts,
            latency,
            r.release.as_ref().map_or("unreleased", |id| id.short()),
            detail
        );
    }
    exit::OK
}
