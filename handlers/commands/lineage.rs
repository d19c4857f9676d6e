//! `flowgate lineage export --state DIR [--from T] [--to T]`: the OpenLineage events of finished
//! runs (START, then COMPLETE or FAIL), as JSON Lines on stdout, oldest first.

use std::path::Path;

use super::audit::instant;
use super::exit;
use crate::flows::lineage;

pub async fn export(state: &Path, from: Option<&str>, to: Option<&str>) -> u8 {
    let (from, to) = match (instant("--from", from), instant("--to", to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let store = match super::state::open(state) {
        Ok(s) => s.store,
        Err(c) => return c,
    };
    match lineage::export(store.as_ref(), from, to).await {
        Ok(events) => {
            use std::io::Write;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for e in &events {
                let _ = writeln!(out, "{e}");
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
