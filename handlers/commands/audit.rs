//! `flowgate audit export --state DIR [--from T] [--to T]` (JSON Lines on stdout) and
//! `flowgate audit verify (--state DIR | --file FILE) [--head HASH]`: exit 0 with the count and
//! the head hash when the chain is intact; exit 1 naming the first event that breaks it.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::exit;
use crate::app::audit_path;
use crate::domain::audit::{verify as verify_chain, AuditEvent};
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
    let events: Vec<AuditEvent> = match (state, file) {
        (Some(dir), None) => match open(dir).await {
            Ok(a) => match a.read(None, None).await {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILED;
                }
            },
            Err(c) => return c,
        },
        (None, Some(f)) => {
            let text = match std::fs::read(f) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    eprintln!("error: --file {}: {e}", f.display());
                    return exit::BAD_INPUT;
                }
            };
            let mut events = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<AuditEvent>(line) {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        println!("broken at line {} of {}: not an audit event ({e}); a damaged or truncated file", i + 1, f.display());
                        return exit::FAILED;
                    }
                }
            }
            events
        }
        _ => {
            eprintln!("error: give exactly one of --state and --file");
            return exit::BAD_INPUT;
        }
    };
    match verify_chain(&events) {
        Ok(last) => {
            let last = last.unwrap_or_else(|| crate::domain::audit::GENESIS.to_string());
            if let Some(h) = head.filter(|h| *h != last) {
                println!("broken: the chain ends at {last}, not at the expected head {h} (events removed from the end?)");
                return exit::FAILED;
            }
            println!("intact: {} event(s), head {last}", events.len());
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
