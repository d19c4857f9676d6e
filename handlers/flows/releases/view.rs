//! A release's content made usable: the bundle's catalog checked (contracts read from the bundle,
//! never from disk), its contracts parsed, and its id recomputed from the content, so a bundle
//! altered in storage is refused instead of run.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::domain::catalog::check::{load, Environment};
use crate::domain::catalog::Catalog;
use crate::domain::release::{id_of, manifest, Bundle, ReleaseId, FORMAT};
use crate::flows::Contracts;

/// A release ready to run.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    pub id: ReleaseId,
    pub catalog: Arc<Catalog>,
    pub contracts: Arc<Contracts>,
    /// What is worth a warning in the catalog (`path:line:col: message`).
    pub warnings: Vec<String>,
}

impl ReleaseView {
    /// Checks a bundle; `Err` lists every problem as `file:line:col: message`.
    pub fn from_bundle(bundle: &Bundle, setting: &dyn Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        if bundle.format != FORMAT {
            return Err(vec![format!("release content format `{}` is not `{FORMAT}`", bundle.format)]);
        }
        let exists = |p: &Path| bundle.files.contains_key(p.to_string_lossy().as_ref());
        let env = Environment { base_dir: Path::new(""), file_exists: &exists, setting };
        let name = &bundle.catalog_name;
        let loaded = load(&bundle.catalog, &env).map_err(|problems| {
            problems.iter().map(|p| format!("{name}:{}:{}: {}", p.pos.line, p.pos.col, p.message)).collect::<Vec<_>>()
        })?;
        let contracts = parse_contracts(&loaded.catalog, &|p| {
            let key = p.to_string_lossy();
            let bytes = bundle.file(&key).ok_or_else(|| "not in the release".to_string())?;
            String::from_utf8(bytes).map_err(|_| "not valid UTF-8 text".to_string())
        })?;
        let value = crate::domain::catalog::yaml::parse(&bundle.catalog).map(|d| d.value).unwrap_or(Value::Null);
        let id = id_of(&manifest(&value, &loaded.catalog, bundle));
        let warnings = loaded.warnings.iter().map(|w| format!("{name}:{}:{}: {}", w.pos.line, w.pos.col, w.message)).collect();
        Ok(Self { id, catalog: Arc::new(loaded.catalog), contracts: Arc::new(contracts), warnings })
    }
}

/// Parses every dataset's contract, read with `read`. `Err` lists each problem as
/// `path:line:col: message`.
pub fn parse_contracts(catalog: &Catalog, read: &dyn Fn(&Path) -> Result<String, String>) -> Result<Contracts, Vec<String>> {
    let mut out = Contracts::new();
    let mut problems = Vec::new();
    for ds in catalog.datasets.values() {
        let Some(path) = &ds.contract else { continue };
        let text = match read(path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        match crate::domain::contract::parse(&text) {
            Ok((_, findings)) if ds.strict_contract && !findings.is_empty() => problems.extend(findings.iter().map(|f| {
                format!(
                    "{}:{}:{}: not enforced, and dataset `{}` holds its contract strictly (contracts: {{strict: true}}): {}",
                    path.display(),
                    f.pos.line,
                    f.pos.col,
                    ds.id,
                    f.message
                )
            })),
            Ok((c, _)) => {
                out.insert(ds.id.clone(), Arc::new(c));
            }
            Err(findings) => problems.extend(
                findings.iter().filter(|f| f.error).map(|f| format!("{}:{}:{}: {}", path.display(), f.pos.line, f.pos.col, f.message)),
            ),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}
