//! `flowgate quarantine list | show ID | replay ID… | discard ID --reason TEXT`, on a state
//! folder or the deployed state (`--state azure`): what failed and why, and what a person decides about it (recorded with who did it).

use std::path::Path;

use chrono::Utc;

use super::exit;
use super::state::{open, State};
use crate::domain::ids::instant_key;
use crate::flows::quarantine::{self, QuarantineError};

fn refused(e: &QuarantineError) -> u8 {
    eprintln!("error: {e}");
    match e {
        QuarantineError::Store(_) | QuarantineError::Queue(_) | QuarantineError::Audit(_) => exit::FAILED,
        _ => exit::BAD_INPUT,
    }
}

pub async fn list(state: &Path, all: bool, as_json: bool) -> u8 {
    let State { store, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let items = match quarantine::list(store.as_ref(), all).await {
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
    let State { store, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match quarantine::find(store.as_ref(), id).await {
        Ok((item, _, _)) => {
            println!("{}", serde_json::to_string_pretty(&item).unwrap_or_default());
            exit::OK
        }
        Err(e) => refused(&e),
    }
}

pub async fn replay(state: &Path, ids: &[String], by: &str) -> u8 {
    let State { store, queue, audit, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let mut code = exit::OK;
    for id in ids {
        match quarantine::replay(store.as_ref(), queue.as_ref(), audit.as_ref(), id, by, Utc::now()).await {
            Ok(key) => println!("replayed {id}: run {key} is pending again"),
            Err(e) => code = code.max(refused(&e)),
        }
    }
    code
}

pub async fn discard(state: &Path, id: &str, reason: &str, by: &str) -> u8 {
    let State { store, audit, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    match quarantine::discard(store.as_ref(), audit.as_ref(), id, reason, by, Utc::now()).await {
        Ok(_) => {
            println!("discarded {id}");
            exit::OK
        }
        Err(e) => refused(&e),
    }
}
