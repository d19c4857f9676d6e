//! The composition root: settings in, ports wired to adapters, the router out.

use std::path::Path;
use std::sync::Arc;

use crate::adapters::http::HttpRunner;
use crate::adapters::local::{FileBlobs, JsonlNotifier, LocalQueue, QueueSettings, SqliteStore};
use crate::domain::catalog::check::{load_file, Loaded, Problem};
use crate::domain::catalog::Catalog;
use crate::flows::{Contracts, Deps};
use crate::ports::Notifier;

/// Why the app could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the catalog {path} has {} problem(s):\n{}", problems.len(), render_problems(path, problems))]
    Catalog { path: String, problems: Vec<Problem> },
    #[error("{0}")]
    State(String),
    #[error("a data contract cannot be used:\n{0}")]
    Contracts(String),
}

/// Reads every dataset's contract from disk. `Err` lists each problem as `path:line:col: message`.
pub fn load_contracts(catalog: &Catalog) -> Result<Contracts, Vec<String>> {
    crate::flows::releases::view::parse_contracts(catalog, &|p| std::fs::read_to_string(p).map_err(|e| e.to_string()))
}

/// The digest of the configuration on disk: the catalog file and each dataset's contract.
pub fn config_digest(catalog_path: &Path, catalog: &Catalog) -> Result<String, String> {
    let bytes = std::fs::read(catalog_path).map_err(|e| format!("{}: {e}", catalog_path.display()))?;
    let mut contracts = Vec::new();
    for ds in catalog.datasets.values() {
        if let Some(path) = &ds.contract {
            contracts.push((ds.id.to_string(), std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?));
        }
    }
    Ok(crate::flows::config::digest(&bytes, &contracts))
}

/// `path:line:col: message`, one per line.
pub fn render_problems(path: &str, problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{path}:{}:{}: {}", p.pos.line, p.pos.col, p.message)).collect::<Vec<_>>().join("\n")
}

/// The state folder's files.
pub fn store_path(state: &Path) -> std::path::PathBuf {
    state.join("state.db")
}
pub fn queue_path(state: &Path) -> std::path::PathBuf {
    state.join("queues.db")
}
pub fn audit_path(state: &Path) -> std::path::PathBuf {
    state.join("audit.db")
}

/// Loads the catalog and opens the adapters the settings choose: Azure Storage and Service Bus
/// when `settings.azure` is set, else the local ones (SQLite, local queue, a folder of blobs).
pub async fn deps_for(settings: &crate::config::Settings) -> Result<(Deps, Loaded), StartError> {
    match &settings.azure {
        Some(azure) => azure_deps(&settings.catalog, &settings.state, azure, settings.releases_required).await,
        None => local_deps(&settings.catalog, &settings.state, &settings.data_dir, settings.releases_required).await,
    }
}

/// The four adapters that differ between a laptop and Azure.
struct Backing {
    store: Arc<dyn crate::ports::Store>,
    queue: Arc<dyn crate::ports::Queue>,
    blobs: Arc<dyn crate::ports::BlobStore>,
    audit: Arc<dyn crate::ports::AuditSink>,
    /// Where release bundles are kept.
    content: Arc<dyn crate::ports::BlobStore>,
    releases_required: bool,
    azure: bool,
}

/// Loads the catalog and opens the local adapters.
pub async fn local_deps(catalog: &Path, state: &Path, data_dir: &Path, releases_required: bool) -> Result<(Deps, Loaded), StartError> {
    std::fs::create_dir_all(state).map_err(|e| StartError::State(format!("cannot create {}: {e}", state.display())))?;
    let backing = Backing {
        store: Arc::new(SqliteStore::open(&store_path(state)).map_err(|e| StartError::State(e.to_string()))?),
        queue: Arc::new(LocalQueue::open(&queue_path(state), QueueSettings::default()).map_err(|e| StartError::State(e.to_string()))?),
        blobs: Arc::new(FileBlobs::new(data_dir)),
        audit: Arc::new(crate::adapters::local::SqliteAudit::open(&audit_path(state)).map_err(|e| StartError::State(e.to_string()))?),
        content: Arc::new(FileBlobs::new(state)),
        releases_required,
        azure: false,
    };
    assemble(catalog, state, backing, tokens()).await
}

/// Loads the catalog and opens the Azure adapters: the Store on Table Storage, blobs and the
/// audit trail (daily append blobs in the `audit` container) on Blob Storage, queues on Service
/// Bus; all with the managed identity's tokens.
pub async fn azure_deps(
    catalog: &Path,
    scratch: &Path,
    azure: &crate::config::AzureSettings,
    releases_required: bool,
) -> Result<(Deps, Loaded), StartError> {
    use crate::adapters::azure::{
        blob_audit::AppendBlobAudit, blobs::AzureBlobs, servicebus::ServiceBusClient, storage::Storage, tables::TableStore,
    };
    std::fs::create_dir_all(scratch).map_err(|e| StartError::State(format!("cannot create {}: {e}", scratch.display())))?;
    let tokens = tokens();
    let ca = match &azure.storage_ca {
        Some(p) => Some(std::fs::read(p).map_err(|e| StartError::State(format!("FLOWGATE_STORAGE_CA {}: {e}", p.display())))?),
        None => None,
    };
    let storage = |endpoint: &str, name: &str| {
        Storage::new(endpoint, tokens.clone(), ca.as_deref()).map_err(|e| StartError::State(format!("{name}: {e}")))
    };
    let blob = storage(&azure.blob_endpoint, "FLOWGATE_BLOB_ENDPOINT")?;
    let queue = ServiceBusClient::new(azure.servicebus_namespace.clone(), tokens.clone())
        .map_err(|e| StartError::State(format!("FLOWGATE_SERVICEBUS_NAMESPACE: {e}")))?;
    let backing = Backing {
        store: Arc::new(TableStore::new(storage(&azure.table_endpoint, "FLOWGATE_TABLE_ENDPOINT")?)),
        queue: Arc::new(queue),
        blobs: Arc::new(AzureBlobs::new(blob.clone())),
        content: Arc::new(AzureBlobs::new(blob.clone())),
        audit: Arc::new(AppendBlobAudit::new(blob, "audit")),
        releases_required,
        azure: true,
    };
    assemble(catalog, scratch, backing, tokens).await
}

/// Managed identity (or the Azure CLI on a laptop) tokens, cached per resource.
pub(crate) fn tokens() -> Arc<crate::adapters::azure::identity::CachedTokens> {
    let source = crate::adapters::azure::identity::from_env(&|k| std::env::var(k).ok());
    Arc::new(crate::adapters::azure::identity::CachedTokens::new(source))
}

async fn assemble(
    catalog: &Path,
    state: &Path,
    backing: Backing,
    tokens: Arc<crate::adapters::azure::identity::CachedTokens>,
) -> Result<(Deps, Loaded), StartError> {
    let loaded = load_file(catalog).map_err(|problems| StartError::Catalog { path: catalog.display().to_string(), problems })?;
    let contracts = load_contracts(&loaded.catalog).map_err(|lines| StartError::Contracts(lines.join("\n")))?;
    let bearer = crate::adapters::http::EntraBearer { tokens: tokens.clone() };
    let runner = Arc::new(HttpRunner::new(Some(Arc::new(bearer))).map_err(StartError::State)?);
    let catalog_arc = Arc::new(loaded.catalog.clone());
    let contracts = Arc::new(contracts);
    let releases = crate::flows::releases::active::ReleaseCache::new(
        backing.content,
        backing.releases_required,
        backing.azure,
        catalog_arc.clone(),
        contracts.clone(),
    );
    let deps = Deps {
        catalog: catalog_arc,
        release: None,
        releases: Arc::new(releases),
        contracts,
        store: backing.store,
        queue: backing.queue,
        runner: runner.clone(),
        endpoints: runner,
        canary: None,
        blobs: backing.blobs,
        notifiers: notifiers(state, backing.azure, tokens.clone(), &|k| std::env::var(k).ok())?,
        audit: backing.audit,
        audit_copy: audit_copy(tokens.clone())?,
        facts: facts(tokens.clone())?,
        pii: Arc::new(tokenizer(state, &tokens).await?),
        lineage: lineage(state, tokens.clone())?,
        schedule_cache: Arc::default(),
        settings: Arc::new(|k: &str| std::env::var(k).ok()),
        random: jitter_source(),
        pipelines: Arc::new(crate::adapters::http::AzureDevOps::new()),
        github: github(tokens)?,
    };
    Ok((deps, loaded))
}

/// The GitHub App that answers deployment protection rules, when `FLOWGATE_GITHUB_APP_ID` and
/// `FLOWGATE_GITHUB_APP_KEY_URL` are set (docs/releases.md).
fn github(tokens: Arc<crate::adapters::azure::identity::CachedTokens>) -> Result<Option<Arc<dyn crate::ports::GitHubApi>>, StartError> {
    use crate::adapters::http::ci::{GitHubApp, GitHubAppSettings, Secret};
    let setting = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(app_id), Some(key_url)) = (setting("FLOWGATE_GITHUB_APP_ID"), setting("FLOWGATE_GITHUB_APP_KEY_URL")) else {
        return Ok(None);
    };
    let secret = match (setting("FLOWGATE_GITHUB_WEBHOOK_SECRET_URL"), setting("FLOWGATE_GITHUB_WEBHOOK_SECRET_FILE")) {
        (Some(url), _) => Secret::KeyVault(url),
        (None, Some(file)) => Secret::File(file.into()),
        (None, None) => {
            return Err(StartError::State(
                "FLOWGATE_GITHUB_APP_ID is set but neither FLOWGATE_GITHUB_WEBHOOK_SECRET_URL nor FLOWGATE_GITHUB_WEBHOOK_SECRET_FILE"
                    .into(),
            ))
        }
    };
    let api = setting("FLOWGATE_GITHUB_API").unwrap_or_else(|| "https://api.github.com".into());
    let app = GitHubApp::new(GitHubAppSettings { app_id, key_url, secret, api }, tokens)
        .map_err(|e| StartError::State(format!("FLOWGATE_GITHUB_APP_KEY_URL: {e}")))?;
    Ok(Some(Arc::new(app)))
}

/// The audit trail's copy in Log Analytics, when `FLOWGATE_LOGS_ENDPOINT` (the data collection
/// endpoint) and `FLOWGATE_LOGS_DCR` (the rule's immutable id) are set; the stream is
/// `FLOWGATE_LOGS_STREAM` (default `Custom-FlowgateAudit_CL`).
fn audit_copy(tokens: Arc<crate::adapters::azure::identity::CachedTokens>) -> Result<Option<Arc<dyn crate::ports::AuditCopy>>, StartError> {
    let setting = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(dcr)) = (setting("FLOWGATE_LOGS_ENDPOINT"), setting("FLOWGATE_LOGS_DCR")) else { return Ok(None) };
    let stream = setting("FLOWGATE_LOGS_STREAM").unwrap_or_else(|| "Custom-FlowgateAudit_CL".into());
    let copy = crate::adapters::azure::logs_ingestion::LogsIngestion::new(&endpoint, &dcr, &stream, Some(tokens))
        .map_err(|e| StartError::State(format!("FLOWGATE_LOGS_ENDPOINT: {e}")))?;
    Ok(Some(Arc::new(copy)))
}

/// Heartbeats, signals and finished runs to `FlowgateHeartbeat_CL`, `FlowgateSignals_CL` and
/// `FlowgateRuns_CL` through the same data collection endpoint and rule as the audit copy.
fn facts(tokens: Arc<crate::adapters::azure::identity::CachedTokens>) -> Result<Option<Arc<dyn crate::ports::FactSink>>, StartError> {
    let setting = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(dcr)) = (setting("FLOWGATE_LOGS_ENDPOINT"), setting("FLOWGATE_LOGS_DCR")) else { return Ok(None) };
    let facts = crate::adapters::azure::logs_ingestion::LogsFacts::new(&endpoint, &dcr, Some(tokens))
        .map_err(|e| StartError::State(format!("FLOWGATE_LOGS_ENDPOINT: {e}")))?;
    Ok(Some(Arc::new(facts)))
}

/// The PII tokenization key: the Key Vault secret `FLOWGATE_PII_KEY_SECRET_URL` (read with the
/// managed identity) when set; else the key file `FLOWGATE_PII_KEY_FILE`, or `<state>/pii.key`,
/// created with 32 random bytes (mode 0600) the first time.
async fn tokenizer(
    state: &Path,
    tokens: &crate::adapters::azure::identity::CachedTokens,
) -> Result<crate::domain::pii::Tokenizer, StartError> {
    let setting = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let key = match setting("FLOWGATE_PII_KEY_SECRET_URL") {
        Some(url) => crate::adapters::azure::keyvault::read_secret(&url, tokens)
            .await
            .map_err(|e| StartError::State(format!("FLOWGATE_PII_KEY_SECRET_URL: {e}")))?
            .into_bytes(),
        None => {
            let path = setting("FLOWGATE_PII_KEY_FILE").map(std::path::PathBuf::from).unwrap_or_else(|| state.join("pii.key"));
            read_or_create_key(&path).map_err(StartError::State)?
        }
    };
    crate::domain::pii::Tokenizer::new(key).map_err(StartError::State)
}

fn read_or_create_key(path: &Path) -> Result<Vec<u8>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            Ok(hex::decode(text).unwrap_or_else(|_| text.as_bytes().to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| format!("no randomness for the PII key: {e}"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let write = |mut f: std::fs::File| std::io::Write::write_all(&mut f, hex::encode(key).as_bytes());
            match options.open(path) {
                Ok(f) => write(f).map_err(|e| format!("{}: {e}", path.display()))?,
                // Another process created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return read_or_create_key(path),
                Err(e) => return Err(format!("cannot create the PII key {}: {e}", path.display())),
            }
            Ok(key.to_vec())
        }
        Err(e) => Err(format!("cannot read the PII key {}: {e}", path.display())),
    }
}

/// Lineage goes to `<state>/lineage.jsonl`, and also to an OpenLineage server when
/// `FLOWGATE_LINEAGE_URL` is set (e.g. Marquez's root URL), and to Microsoft Purview when
/// `FLOWGATE_PURVIEW_ACCOUNT` is set (datasets named under `FLOWGATE_BLOB_ENDPOINT`).
fn lineage(
    state: &Path,
    tokens: Arc<crate::adapters::azure::identity::CachedTokens>,
) -> Result<Arc<dyn crate::ports::LineageSink>, StartError> {
    let setting = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut sinks: Vec<Arc<dyn crate::ports::LineageSink>> =
        vec![Arc::new(crate::adapters::local::JsonlLineage::new(state.join("lineage.jsonl")))];
    if let Some(url) = setting("FLOWGATE_LINEAGE_URL") {
        sinks.push(Arc::new(
            crate::adapters::http::OpenLineageHttp::new(&url).map_err(|e| StartError::State(format!("FLOWGATE_LINEAGE_URL: {e}")))?,
        ));
    }
    if let Some(account) = setting("FLOWGATE_PURVIEW_ACCOUNT") {
        let blob = setting("FLOWGATE_BLOB_ENDPOINT").ok_or_else(|| {
            StartError::State(
                "FLOWGATE_PURVIEW_ACCOUNT is set but FLOWGATE_BLOB_ENDPOINT (https://<account>.blob.core.windows.net) is not".into(),
            )
        })?;
        let purview = crate::adapters::http::PurviewLineage::new(&account, &blob, tokens)
            .map_err(|e| StartError::State(format!("FLOWGATE_PURVIEW_ACCOUNT: {e}")))?;
        sinks.push(Arc::new(purview));
    }
    Ok(Arc::new(crate::adapters::local::FanOut(sinks)))
}

/// Alert receivers (monitoring.md §2.3), each from its app setting — in Azure a Key Vault
/// reference (`@Microsoft.KeyVault(SecretUri=…)`), which the platform resolves with the app's
/// identity: `FLOWGATE_ALERT_TEAMS_URL` (a Teams Workflows webhook; `FLOWGATE_ALERT_TEAMS_AUTH=entra`
/// sends the managed identity's token as well), `FLOWGATE_ALERT_SLACK_URL`, and
/// `FLOWGATE_ALERT_WEBHOOK_URL` with `FLOWGATE_ALERT_WEBHOOK_SECRET` (`whsec_…`, Standard
/// Webhooks). Locally `<state>/alerts.jsonl` always receives them too.
fn notifiers(
    state: &Path,
    azure: bool,
    tokens: Arc<crate::adapters::azure::identity::CachedTokens>,
    setting: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Arc<dyn Notifier>>, StartError> {
    use crate::adapters::http::{HttpNotifier, Receiver};
    let bad = |name: &str, e: String| StartError::State(format!("{name}: {e}"));
    let get = |name: &str| -> Result<Option<String>, StartError> {
        match setting(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            Some(v) if v.starts_with("@Microsoft.KeyVault(") => Err(bad(
                name,
                "is a Key Vault reference the platform could not resolve: give the app's identity `Key Vault Secrets User` on the vault"
                    .into(),
            )),
            other => Ok(other),
        }
    };
    if get("FLOWGATE_ALERT_WEBHOOK")?.is_some() {
        return Err(bad(
            "FLOWGATE_ALERT_WEBHOOK",
            "is no longer read: set FLOWGATE_ALERT_TEAMS_URL (a Teams Workflows webhook), FLOWGATE_ALERT_SLACK_URL, or \
             FLOWGATE_ALERT_WEBHOOK_URL with FLOWGATE_ALERT_WEBHOOK_SECRET (docs/monitoring.md)"
                .into(),
        ));
    }
    let mut out: Vec<Arc<dyn Notifier>> = Vec::new();
    if !azure {
        out.push(Arc::new(JsonlNotifier::new(state.join("alerts.jsonl"))));
    }
    if let Some(url) = get("FLOWGATE_ALERT_TEAMS_URL")? {
        let token: Option<Arc<dyn crate::ports::TokenSource>> = match get("FLOWGATE_ALERT_TEAMS_AUTH")?.as_deref() {
            None | Some("url") => None,
            Some("entra") => Some(tokens),
            Some(other) => return Err(bad("FLOWGATE_ALERT_TEAMS_AUTH", format!("`{other}` is not `url` or `entra`"))),
        };
        out.push(Arc::new(HttpNotifier::new(&url, Receiver::Teams { token }).map_err(|e| bad("FLOWGATE_ALERT_TEAMS_URL", e))?));
    }
    if let Some(url) = get("FLOWGATE_ALERT_SLACK_URL")? {
        out.push(Arc::new(HttpNotifier::new(&url, Receiver::Slack).map_err(|e| bad("FLOWGATE_ALERT_SLACK_URL", e))?));
    }
    match (get("FLOWGATE_ALERT_WEBHOOK_URL")?, get("FLOWGATE_ALERT_WEBHOOK_SECRET")?) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(bad("FLOWGATE_ALERT_WEBHOOK_SECRET", "is required with FLOWGATE_ALERT_WEBHOOK_URL (deliveries are signed)".into()))
        }
        (None, Some(_)) => {
            return Err(bad("FLOWGATE_ALERT_WEBHOOK_URL", "is missing: FLOWGATE_ALERT_WEBHOOK_SECRET is set without it".into()))
        }
        (Some(url), Some(secret)) => {
            let secret =
                crate::domain::notify::webhook::secret(&secret).map_err(|e| bad("FLOWGATE_ALERT_WEBHOOK_SECRET", e.to_string()))?;
            let external_url = get("FLOWGATE_EXTERNAL_URL")?.unwrap_or_default();
            out.push(Arc::new(
                HttpNotifier::new(&url, Receiver::Webhook { secret, external_url }).map_err(|e| bad("FLOWGATE_ALERT_WEBHOOK_URL", e))?,
            ));
        }
    }
    if out.is_empty() {
        tracing::warn!(
            "no alert receiver is configured (FLOWGATE_ALERT_TEAMS_URL, FLOWGATE_ALERT_SLACK_URL, FLOWGATE_ALERT_WEBHOOK_URL): \
             alerts are kept in the state only (flowgate alerts --state azure)"
        );
    }
    Ok(out)
}

/// Full jitter draws from `fastrand`; `FLOWGATE_RETRY_JITTER=none` uses each delay's ceiling
/// instead, for reproducible simulations.
fn jitter_source() -> fn() -> f64 {
    match std::env::var("FLOWGATE_RETRY_JITTER").ok().as_deref() {
        Some("none") => || 1.0,
        _ => fastrand::f64,
    }
}
