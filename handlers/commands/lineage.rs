//! `flowgate lineage export --state DIR [--from T] [--to T]`: the OpenLineage events of finished
//! runs (START, then COMPLETE or FAIL), as JSON Lines on stdout, oldest first.

use std::path::Path;

use super::audit::instant;
use super::exit;
use crate::adapters::local::SqliteStore;
use crate::app::store_path;
use crate::flows::lineage;

pub async fn export(state: &Path, from: Option<&str>, to: Option<&str>) -> u8 {
    let (from, to) = match (instant("--from", from), instant("--to", to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let db = store_path(state);
    if !db.is_file() {
        eprintln!("error: --state {}: holds no flowgate state (no {})", state.display(), db.display());
        return exit::BAD_INPUT;
    }
    let store = match SqliteStore::open(&db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    match lineage::export(&store, from, to).await {
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
