//! `flowgate quarantine list | show ID | replay ID… | discard ID --reason TEXT`, on a state
//! folder: what failed and why, and what a person decides about it (recorded with who did it).

use std::path::Path;

use chrono::Utc;

use super::exit;
use crate::adapters::local::{LocalQueue, QueueSettings, SqliteAudit, SqliteStore};
use crate::app::{audit_path, queue_path, store_path};
use crate::domain::ids::instant_key;
use crate::flows::quarantine::{self, QuarantineError};

fn open(state: &Path) -> Result<(SqliteStore, LocalQueue, SqliteAudit), u8> {
    let db = store_path(state);
    if !db.is_file() {
        eprintln!("error: --state {}: holds no flowgate state", state.display());
        return Err(exit::BAD_INPUT);
    }
    let store = SqliteStore::open(&db).map_err(|e| {
        eprintln!("error: {e}");
        exit::FAILED
    })?;
    let queue = LocalQueue::open(&queue_path(state), QueueSettings::default()).map_err(|e| {
        eprintln!("error: {e}");
        exit::FAILED
    })?;
    let audit = SqliteAudit::open(&audit_path(state)).map_err(|e| {
        eprintln!("error: {e}");
        exit::FAILED
    })?;
    Ok((store, queue, audit))
}

fn refused(e: &QuarantineError) -> u8 {
    eprintln!("error: {e}");
    match e {
        QuarantineError::Store(_) | QuarantineError::Queue(_) | QuarantineError::Audit(_) => exit::FAILED,
        _ => exit::BAD_INPUT,
    }
}

pub async fn list(state: &Path, all: bool, as_json: bool) -> u8 {
    let (store, _, _) = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let items = match quarantine::list(&store, all).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    if as_json {
        println!("{}", serde_json::to_string(&items).unwrap_or_default());
        return exit::OK;
    }
    if items.is_empty() {
        println!("nothing in quarantine{}", if all { "" } else { " (open items; --all shows closed ones)" });
        return exit::OK;
    }
    for i in &items {
        let reason: String = i.reason.chars().take(110).collect();
        println!(
            "{}  {:<9} {:<8} {}\n    {reason}",
            instant_key(i.at),
            format!("{:?}", i.status).to_lowercase(),
            format!("{:?}", i.kind).to_lowercase(),
            i.id
        );
    }
    exit::OK
}

pub async fn show(state: &Path, id: &str) -> u8 {
    let (store, _, _) = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match quarantine::find(&store, id).await {
        Ok((item, _, _)) => {
            println!("{}", serde_json::to_string_pretty(&item).unwrap_or_default());
            exit::OK
        }
        Err(e) => refused(&e),
    }
}

pub async fn replay(state: &Path, ids: &[String], by: &str) -> u8 {
    let (store, queue, audit) = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let mut code = exit::OK;
    for id in ids {
        match quarantine::replay(&store, &queue, &audit, id, by, Utc::now()).await {
            Ok(key) => println!("replayed {id}: run {key} is pending again"),
            Err(e) => code = code.max(refused(&e)),
        }
    }
    code
}

pub async fn discard(state: &Path, id: &str, reason: &str, by: &str) -> u8 {
    let (store, _, audit) = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match quarantine::discard(&store, &audit, id, reason, by, Utc::now()).await {
        Ok(_) => {
            println!("discarded {id}");
            exit::OK
        }
        Err(e) => refused(&e),
    }
}
