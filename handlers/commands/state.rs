//! Which state a command works on: a local state folder (`--state DIR`, as `flowgate local`
//! writes it), or the deployed state in Azure (`--state azure`), named by the same settings the
//! handler uses — `FLOWGATE_TABLE_ENDPOINT`, `FLOWGATE_BLOB_ENDPOINT`,
//! `FLOWGATE_SERVICEBUS_NAMESPACE` — with tokens from the Azure CLI login
//! (`FLOWGATE_TOKEN_SOURCE=cli`) or a managed identity. Azure's storage is private: run it from
//! inside the virtual network (docs/deploy.md).

use std::path::Path;
use std::sync::Arc;

use super::exit;
use crate::adapters::local::{LocalQueue, QueueSettings, SqliteAudit, SqliteStore};
use crate::app::{audit_path, queue_path, store_path};
use crate::ports::{AuditSink, BlobStore, Queue, Store};

/// `--state azure` selects the deployed state.
pub const AZURE: &str = "azure";

pub struct State {
    pub store: Arc<dyn Store>,
    pub audit: Arc<dyn AuditSink>,
    pub queue: Arc<dyn Queue>,
    /// Where release bundles are kept (`<state>/releases/`, or the `releases` container).
    pub content: Arc<dyn BlobStore>,
    /// Whether this is the deployed state.
    pub azure: bool,
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    exit::FAILED
}

/// Opens the state, or prints why not and gives the exit code (2: nothing there, 1: failure).
pub fn open(state: &Path) -> Result<State, u8> {
    if state == Path::new(AZURE) {
        return open_azure();
    }
    let db = store_path(state);
    if !db.is_file() {
        eprintln!(
            "error: --state {}: holds no flowgate state (no {}); `--state azure` reads the deployed state",
            state.display(),
            db.display()
        );
        return Err(exit::BAD_INPUT);
    }
    Ok(State {
        store: Arc::new(SqliteStore::open(&db).map_err(fail)?),
        audit: Arc::new(SqliteAudit::open(&audit_path(state)).map_err(fail)?),
        queue: Arc::new(LocalQueue::open(&queue_path(state), QueueSettings::default()).map_err(fail)?),
        content: Arc::new(crate::adapters::local::FileBlobs::new(state)),
        azure: false,
    })
}

/// Like `open`, but a folder that holds nothing yet (or only `identities.yaml`) becomes a new
/// state (what `flowgate release propose` needs before anything has run).
pub fn open_or_create(state: &Path) -> Result<State, u8> {
    let only_identities = |d: std::fs::ReadDir| d.flatten().all(|e| e.file_name() == crate::adapters::local::identities::FILE);
    let fresh = state != Path::new(AZURE)
        && !store_path(state).exists()
        && (!state.exists() || std::fs::read_dir(state).is_ok_and(only_identities));
    if fresh {
        std::fs::create_dir_all(state).map_err(|e| fail(format!("--state {}: {e}", state.display())))?;
        SqliteStore::open(&store_path(state)).map_err(fail)?;
    }
    open(state)
}

fn open_azure() -> Result<State, u8> {
    use crate::adapters::azure::{blob_audit::AppendBlobAudit, servicebus::ServiceBusClient, storage::Storage, tables::TableStore};
    let azure = match crate::config::azure_settings(&|k| std::env::var(k).ok()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            eprintln!("error: --state azure needs FLOWGATE_TABLE_ENDPOINT, FLOWGATE_BLOB_ENDPOINT and FLOWGATE_SERVICEBUS_NAMESPACE (azd env get-values prints them)");
            return Err(exit::BAD_INPUT);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit::BAD_INPUT);
        }
    };
    let tokens = crate::app::tokens();
    let ca = match &azure.storage_ca {
        Some(p) => Some(std::fs::read(p).map_err(|e| fail(format!("FLOWGATE_STORAGE_CA {}: {e}", p.display())))?),
        None => None,
    };
    let tables = Storage::new(&azure.table_endpoint, tokens.clone(), ca.as_deref()).map_err(fail)?;
    let blobs = Storage::new(&azure.blob_endpoint, tokens.clone(), ca.as_deref()).map_err(fail)?;
    Ok(State {
        store: Arc::new(TableStore::new(tables)),
        audit: Arc::new(AppendBlobAudit::new(blobs.clone(), "audit")),
        content: Arc::new(crate::adapters::azure::blobs::AzureBlobs::new(blobs)),
        azure: true,
        queue: Arc::new(ServiceBusClient::new(azure.servicebus_namespace, tokens).map_err(fail)?),
    })
}
