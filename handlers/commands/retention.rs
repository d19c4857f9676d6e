//! `flowgate retention --state DIR --keep DURATION [--dry-run]`: removes local records finished
//! more than DURATION ago (runs with their lineage, arrivals, contract results, delivered alerts, closed
//! quarantine items) and records it in the audit trail, which itself is kept.

use std::path::Path;

use super::exit;
use crate::flows::retention::apply;

pub async fn run(state: &Path, keep: &str, dry_run: bool, by: &str) -> u8 {
    let keep = match crate::domain::duration::parse_duration(keep) {
        Ok(d) if d >= std::time::Duration::from_secs(86_400) => d,
        Ok(_) => {
            eprintln!("error: --keep `{keep}` is shorter than a day");
            return exit::BAD_INPUT;
        }
        Err(e) => {
            eprintln!("error: --keep `{keep}`: {e}");
            return exit::BAD_INPUT;
        }
    };
    let st = match super::state::open(state) {
        Ok(s) => s,
        Err(c) => return c,
    };
    match apply(st.store.as_ref(), st.audit.as_ref(), keep, chrono::Utc::now(), dry_run, by).await {
        Ok(r) => {
            let verb = if dry_run { "would remove" } else { "removed" };
            println!(
                "{verb}: {} run(s) with their lineage, {} arrival(s), {} contract result(s), {} alert(s), {} quarantine item(s) finished before {}",
                r.runs,
                r.arrivals,
                r.contract_results,
                r.alerts,
                r.quarantine,
                r.cutoff.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
