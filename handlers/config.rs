//! Settings from environment variables (Azure app settings), checked at start-up with errors that
//! name the variable.

use std::path::PathBuf;

/// What `flowgate serve` needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FLOWGATE_CATALOG`: the catalog file.
    pub catalog: PathBuf,
    /// `FLOWGATE_STATE`: where state lives (a local folder in this release).
    pub state: PathBuf,
    /// `FLOWGATE_DATA_DIR`: the local blob root (defaults to `<state>/data`).
    pub data_dir: PathBuf,
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`, unless `--port` overrides it.
    pub port: u16,
    /// Azure Storage and Service Bus, when `FLOWGATE_TABLE_ENDPOINT` is set: the Store on Tables,
    /// blobs and the audit trail in Blob Storage, queues on Service Bus. `FLOWGATE_STATE` is then
    /// only a scratch folder.
    pub azure: Option<AzureSettings>,
    /// `FLOWGATE_RELEASES=required`: nothing runs until a release is active (prod); `optional`
    /// (default): without an active release the packaged catalog runs, recorded as unreleased.
    pub releases_required: bool,
}

/// Where the Azure adapters connect (identity-based; no keys).
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// `FLOWGATE_TABLE_ENDPOINT`: `https://<account>.table.core.windows.net`.
    pub table_endpoint: String,
    /// `FLOWGATE_BLOB_ENDPOINT`: `https://<account>.blob.core.windows.net`.
    pub blob_endpoint: String,
    /// `FLOWGATE_SERVICEBUS_NAMESPACE`: `<namespace>.servicebus.windows.net` (kept as its https URL).
    pub servicebus_namespace: String,
    /// `FLOWGATE_STORAGE_CA`: an extra CA certificate (PEM file) for storage, e.g. an emulator's.
    pub storage_ca: Option<PathBuf>,
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set; {1}")]
    Missing(&'static str, &'static str),
    #[error("{name}=`{value}` is unusable: {why}")]
    Invalid { name: &'static str, value: String, why: String },
}

impl Settings {
    /// Reads the settings through `var` (the process environment in production, a map in tests).
    pub fn from_lookup(var: &dyn Fn(&str) -> Option<String>, port_override: Option<u16>) -> Result<Self, ConfigError> {
        let catalog = var("FLOWGATE_CATALOG")
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing("FLOWGATE_CATALOG", "set it to the catalog file (e.g. examples/claims/catalog.yaml)"))?;
        let catalog = PathBuf::from(catalog);
        if !catalog.is_file() {
            return Err(ConfigError::Invalid {
                name: "FLOWGATE_CATALOG",
                value: catalog.display().to_string(),
                why: "no such file".into(),
            });
        }
        let azure = azure_settings(var)?;
        let state = match (var("FLOWGATE_STATE").filter(|v| !v.is_empty()), &azure) {
            (Some(s), _) => s,
            // In Azure the state is in Tables; a scratch folder holds what is local to an instance.
            (None, Some(_)) => std::env::temp_dir().join("flowgate").display().to_string(),
            (None, None) => {
                return Err(ConfigError::Missing(
                    "FLOWGATE_STATE",
                    "set it to a folder for flowgate's state (created if missing), or set FLOWGATE_TABLE_ENDPOINT for Azure",
                ))
            }
        };
        if state.starts_with("https://") || state.starts_with("http://") {
            return Err(ConfigError::Invalid {
                name: "FLOWGATE_STATE",
                value: state,
                why: "a folder is expected; Azure state is chosen with FLOWGATE_TABLE_ENDPOINT, FLOWGATE_BLOB_ENDPOINT and FLOWGATE_SERVICEBUS_NAMESPACE".into(),
            });
        }
        let state = PathBuf::from(state);
        std::fs::create_dir_all(&state).map_err(|e| ConfigError::Invalid {
            name: "FLOWGATE_STATE",
            value: state.display().to_string(),
            why: e.to_string(),
        })?;
        let data_dir = var("FLOWGATE_DATA_DIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| state.join("data"));
        let port = match port_override {
            Some(p) => p,
            None => {
                let raw = var("FUNCTIONS_CUSTOMHANDLER_PORT").filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(
                    "FUNCTIONS_CUSTOMHANDLER_PORT",
                    "the Functions host sets it; outside the host pass --port",
                ))?;
                raw.trim().parse::<u16>().map_err(|e| ConfigError::Invalid {
                    name: "FUNCTIONS_CUSTOMHANDLER_PORT",
                    value: raw.clone(),
                    why: e.to_string(),
                })?
            }
        };
        let raw = var("FLOWGATE_RELEASES");
        let releases_required = crate::flows::releases::active::required_by(raw.as_deref()).map_err(|why| ConfigError::Invalid {
            name: "FLOWGATE_RELEASES",
            value: raw.clone().unwrap_or_default(),
            why,
        })?;
        Ok(Self { catalog, state, data_dir, port, azure, releases_required })
    }
}

/// The Azure settings: all three endpoints, or none.
pub(crate) fn azure_settings(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<AzureSettings>, ConfigError> {
    let get = |k: &str| var(k).filter(|v| !v.is_empty());
    let Some(table_endpoint) = get("FLOWGATE_TABLE_ENDPOINT") else { return Ok(None) };
    let https = |name: &'static str, v: String| {
        if v.starts_with("https://") {
            Ok(v)
        } else {
            Err(ConfigError::Invalid { name, value: v, why: "storage is reached over https only".into() })
        }
    };
    let table_endpoint = https("FLOWGATE_TABLE_ENDPOINT", table_endpoint)?;
    let blob_endpoint = https(
        "FLOWGATE_BLOB_ENDPOINT",
        get("FLOWGATE_BLOB_ENDPOINT").ok_or(ConfigError::Missing("FLOWGATE_BLOB_ENDPOINT", "Azure mode needs the blob endpoint too"))?,
    )?;
    let servicebus_namespace = get("FLOWGATE_SERVICEBUS_NAMESPACE").ok_or(ConfigError::Missing(
        "FLOWGATE_SERVICEBUS_NAMESPACE",
        "Azure mode needs the Service Bus namespace (<name>.servicebus.windows.net)",
    ))?;
    // The fully qualified name (as the Functions binding takes it) or its https:// URL.
    let servicebus_namespace =
        if servicebus_namespace.contains("://") { servicebus_namespace } else { format!("https://{servicebus_namespace}") };
    let storage_ca = get("FLOWGATE_STORAGE_CA").map(PathBuf::from);
    Ok(Some(AzureSettings { table_endpoint, blob_endpoint, servicebus_namespace, storage_ca }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn names_the_variable_that_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let cat = dir.path().join("c.yaml");
        std::fs::write(&cat, "version: 1\n").unwrap();
        let base: HashMap<&str, String> = [
            ("FLOWGATE_CATALOG", cat.display().to_string()),
            ("FLOWGATE_STATE", dir.path().join("s").display().to_string()),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071".to_string()),
        ]
        .into();
        let with = |k: &str, v: Option<&str>| {
            let mut m = base.clone();
            match v {
                Some(v) => {
                    m.insert(Box::leak(k.to_string().into_boxed_str()), v.to_string());
                }
                None => {
                    m.remove(k);
                }
            }
            move |name: &str| m.get(name).cloned()
        };
        let s = Settings::from_lookup(&with("X", None), None).unwrap();
        assert_eq!(s.port, 7071);
        assert_eq!(s.data_dir, dir.path().join("s").join("data"));
        assert_eq!(Settings::from_lookup(&with("X", None), Some(9)).unwrap().port, 9);
        for (k, v, needle) in [
            ("FLOWGATE_CATALOG", None, "FLOWGATE_CATALOG is not set"),
            ("FLOWGATE_CATALOG", Some("/nope.yaml"), "no such file"),
            ("FLOWGATE_STATE", None, "FLOWGATE_STATE is not set"),
            ("FLOWGATE_STATE", Some("https://acct.table.core.windows.net"), "FLOWGATE_TABLE_ENDPOINT"),
            ("FLOWGATE_TABLE_ENDPOINT", Some("https://acct.table.core.windows.net"), "FLOWGATE_BLOB_ENDPOINT is not set"),
            ("FLOWGATE_TABLE_ENDPOINT", Some("http://acct.table.core.windows.net"), "https only"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", Some("http"), "FUNCTIONS_CUSTOMHANDLER_PORT=`http`"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", None, "--port"),
        ] {
            let e = Settings::from_lookup(&with(k, v), None).unwrap_err().to_string();
            assert!(e.contains(needle), "{k}: {e}");
        }
        // All three Azure endpoints: Azure mode, with the state folder only a scratch space.
        let mut m = base.clone();
        m.remove("FLOWGATE_STATE");
        m.insert("FLOWGATE_TABLE_ENDPOINT", "https://acct.table.core.windows.net".into());
        m.insert("FLOWGATE_BLOB_ENDPOINT", "https://acct.blob.core.windows.net".into());
        let no_bus = m.clone();
        let e = Settings::from_lookup(&move |k: &str| no_bus.get(k).cloned(), None).unwrap_err().to_string();
        assert!(e.contains("FLOWGATE_SERVICEBUS_NAMESPACE"), "{e}");
        m.insert("FLOWGATE_SERVICEBUS_NAMESPACE", "ns.servicebus.windows.net".into());
        let s = Settings::from_lookup(&move |k: &str| m.get(k).cloned(), None).unwrap();
        assert_eq!(s.azure.unwrap().servicebus_namespace, "https://ns.servicebus.windows.net");
    }
}
