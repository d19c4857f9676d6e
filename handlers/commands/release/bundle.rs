//! A release's content read from disk: the catalog file, and every contract and sample file it
//! names, by the paths it names them with.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::app::render_problems;
use crate::domain::catalog::check::load_file;
use crate::domain::release::Bundle;

/// Reads a catalog and its files; `Err` lists every problem.
pub fn from_catalog(catalog: &Path) -> Result<Bundle, String> {
    let loaded = load_file(catalog).map_err(|p| render_problems(&catalog.display().to_string(), &p))?;
    let text = std::fs::read_to_string(catalog).map_err(|e| format!("{}: {e}", catalog.display()))?;
    let doc = crate::domain::catalog::yaml::parse(&text).map(|d| d.value).unwrap_or(Value::Null);
    let base = catalog.parent().unwrap_or(Path::new(""));
    let mut named: Vec<String> = Vec::new();
    if let Some(datasets) = doc.get("datasets").and_then(Value::as_object) {
        named.extend(datasets.values().filter_map(|d| d.get("contract").and_then(Value::as_str)).map(str::to_string));
    }
    named.extend(loaded.catalog.releases.checks.samples.values().cloned());
    named.extend(loaded.catalog.releases.checks.evaluation.iter().map(|e| e.dataset.clone()));
    let mut files = BTreeMap::new();
    for rel in named {
        let key = Path::new("").join(&rel).to_string_lossy().into_owned();
        let bytes = std::fs::read(base.join(&rel)).map_err(|e| format!("{}: {e}", base.join(&rel).display()))?;
        files.insert(key, bytes);
    }
    let name = catalog.file_name().map_or_else(|| "catalog.yaml".into(), |n| n.to_string_lossy().into_owned());
    Ok(Bundle::new(name, text, files))
}
