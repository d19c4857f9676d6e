//! `flowgate audit export --state DIR [--from T] [--to T]` (JSON Lines on stdout) and
//! `flowgate audit verify (--state DIR | --file FILE) [--head HASH]`: exit 0 with the count and
//! the head hash when the chain is intact; exit 1 naming the first event that breaks it (a row
//! that is not a readable event breaks it at its seq, as an edited one does).

use std::path::Path;

use chrono::{DateTime, Utc};

use super::exit;
use crate::app::audit_path;
use crate::domain::audit::{verify_rows, StoredRow};
use crate::ports::AuditSink;

pub(super) fn instant(arg: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("{arg} `{s}` is not an RFC 3339 instant: {e}"))
    })
    .transpose()
}

async fn open(state: &Path) -> Result<std::sync::Arc<dyn AuditSink>, u8> {
    if state != Path::new(super::state::AZURE) && !audit_path(state).is_file() {
        eprintln!("error: --state {}: holds no audit trail", state.display());
        return Err(exit::BAD_INPUT);
    }
    super::state::open(state).map(|s| s.audit)
}

pub async fn export(state: &Path, from: Option<&str>, to: Option<&str>) -> u8 {
    let (from, to) = match super::window(from, to) {
        Ok(w) => w,
        Err(c) => return c,
    };
    let audit = match open(state).await {
        Ok(a) => a,
        Err(c) => return c,
    };
    super::print_jsonl(audit.read(from, to).await)
}

pub async fn verify(state: Option<&Path>, file: Option<&Path>, head: Option<&str>) -> u8 {
    let rows: Vec<StoredRow> = match (state, file) {
        (Some(dir), None) => match open(dir).await {
            Ok(a) => match a.read_rows(None, None).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILED;
                }
            },
            Err(c) => return c,
        },
        (None, Some(f)) => {
            let bytes = match std::fs::read(f) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: --file {}: {e}", f.display());
                    return exit::BAD_INPUT;
                }
            };
            let mut rows: Vec<StoredRow> = Vec::new();
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()) {
                let fallback = rows.last().map_or(1, |r| r.seq + 1);
                rows.push(StoredRow::parse(line, None, fallback));
            }
            rows
        }
        _ => {
            eprintln!("error: give exactly one of --state and --file");
            return exit::BAD_INPUT;
        }
    };
    match verify_rows(&rows) {
        Ok(last) => {
            let last = last.unwrap_or_else(|| crate::domain::audit::GENESIS.to_string());
            if let Some(h) = head.filter(|h| *h != last) {
                println!("broken: the chain ends at {last}, not at the expected head {h} (events removed from the end?)");
                return exit::FAILED;
            }
            println!("intact: {} event(s), head {last}", rows.len());
            exit::OK
        }
        Err(b) => {
            println!(
                "broken at event seq {} (position {}): {}",
                b.seq.map(|s| s.to_string()).unwrap_or_else(|| "?".into()),
                b.index + 1,
                b.why
            );
            exit::FAILED
        }
    }
}
