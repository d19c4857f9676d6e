//! Releases: a content-addressed bundle of everything that decides behaviour (the parsed catalog,
//! its contracts, each online-endpoint job's deployment intent, the sample and evaluation data its
//! gates use), the records kept about it (proposal, approvals, rejections, checks), the single
//! *active* pointer, and the rules that decide whether a release may be promoted.

pub mod external;
pub mod gate;
pub mod policy;

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::audit::canonical;
use crate::domain::catalog::spec::JobKind;
use crate::domain::catalog::Catalog;
use crate::domain::principal::Principal;

pub use gate::{ApprovalCheck, GateVerdict};
pub use policy::ReleasePolicy;

/// The format of a release's content.
pub const FORMAT: &str = "flowgate.release.v1";

/// A release id: the SHA-256 (64 lowercase hex digits) of the canonical JSON of its manifest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReleaseId(String);

/// Why text is not a release id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a release id (64 hexadecimal digits, or a unique prefix of at least 8)")]
pub struct BadReleaseId(pub String);

impl ReleaseId {
    pub fn parse(s: &str) -> Result<Self, BadReleaseId> {
        let t = s.trim();
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(t.to_ascii_lowercase()))
        } else {
            Err(BadReleaseId(s.chars().take(80).collect()))
        }
    }
    /// Whether `s` could be a prefix of an id (8 to 64 hex digits).
    pub fn is_prefix(s: &str) -> bool {
        (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for ReleaseId {
    type Error = BadReleaseId;
    fn try_from(s: String) -> Result<Self, BadReleaseId> {
        Self::parse(&s)
    }
}
impl From<ReleaseId> for String {
    fn from(v: ReleaseId) -> String {
        v.0
    }
}
impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A release's content as stored (a blob): the catalog's text and every file it references
/// (contracts and sample data), by the path the catalog names them with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The catalog file's name, for messages.
    pub catalog_name: String,
    /// The catalog's YAML text.
    pub catalog: String,
    /// Relative path → the file's bytes, base64.
    pub files: BTreeMap<String, String>,
}

impl Bundle {
    pub fn new(catalog_name: String, catalog: String, files: BTreeMap<String, Vec<u8>>) -> Self {
        let files = files.into_iter().map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v))).collect();
        Self { format: FORMAT.into(), catalog_name, catalog, files }
    }
    /// A file's bytes.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.files.get(path).and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
    }
}

/// What the id is computed over: everything that decides behaviour.
pub fn manifest(catalog_value: &Value, catalog: &Catalog, bundle: &Bundle) -> Value {
    let contracts: BTreeMap<String, Value> = catalog
        .datasets
        .values()
        .filter_map(|d| d.contract.as_ref())
        .map(|p| {
            let key = p.to_string_lossy().to_string();
            let text = bundle.file(&key).map(|b| String::from_utf8_lossy(&b).into_owned());
            (key, json!(text))
        })
        .collect();
    let deployments: BTreeMap<String, Value> = catalog
        .jobs
        .values()
        .filter(|j| j.kind == JobKind::OnlineEndpoint)
        .map(|j| (j.id.to_string(), json!({ "endpoint": j.endpoint, "deployment": j.deployment })))
        .collect();
    let samples: BTreeMap<String, Value> = catalog
        .releases
        .checks
        .samples
        .iter()
        .map(|(d, path)| {
            let digest = bundle.file(path).map(|b| hex::encode(Sha256::digest(&b)));
            (d.to_string(), json!({ "path": path, "sha256": digest }))
        })
        .collect();
    let evaluation_datasets: BTreeMap<String, Value> = catalog
        .releases
        .checks
        .evaluation
        .iter()
        .map(|e| (e.dataset.clone(), json!(bundle.file(&e.dataset).map(|b| hex::encode(Sha256::digest(&b))))))
        .collect();
    json!({
        "format": FORMAT,
        "catalog": catalog_value,
        "contracts": contracts,
        "deployments": deployments,
        "samples": samples,
        "evaluation_datasets": evaluation_datasets,
    })
}

/// The id of a manifest.
pub fn id_of(manifest: &Value) -> ReleaseId {
    ReleaseId(hex::encode(Sha256::digest(canonical(manifest).as_bytes())))
}

/// The record of a proposed release (its content is the bundle).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: ReleaseId,
    pub proposed_by: Principal,
    pub proposed_at: DateTime<Utc>,
    /// The source commit it was built from.
    #[serde(default)]
    pub commit: Option<String>,
    /// The release that was active when it was proposed.
    #[serde(default)]
    pub parent: Option<ReleaseId>,
    /// The catalog file it was proposed from.
    pub source: String,
    /// What it holds, in counts.
    pub jobs: usize,
    pub datasets: usize,
    pub contracts: usize,
    /// The SHA-256 of the stored bundle's bytes: a rollback checks the content it goes back to
    /// without parsing it again.
    #[serde(default)]
    pub content_sha256: Option<String>,
    /// Who may roll back while this release is active (its `releases.rollback_role`).
    #[serde(default)]
    pub rollback_role: Option<String>,
    /// Its online endpoint jobs pinned to a deployment: job → (the endpoint's ARM URL as written,
    /// empty without `management`; the deployment). A rollback reconciles traffic from these
    /// without parsing the catalog.
    #[serde(default)]
    pub endpoints: BTreeMap<String, (String, String)>,
}

/// The online endpoint jobs of a catalog pinned to a deployment: job → (ARM URL as written, empty
/// without `management`; deployment).
pub fn switchable(catalog: &Catalog) -> BTreeMap<String, (String, String)> {
    catalog
        .jobs
        .values()
        .filter(|j| j.kind == JobKind::OnlineEndpoint)
        .filter_map(|j| Some((j.id.to_string(), (j.management.clone().unwrap_or_default(), j.deployment.clone()?))))
        .collect()
}

/// An approval of one release by one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub release: ReleaseId,
    pub by: Principal,
    pub at: DateTime<Utc>,
    /// The approver proposed it (allowed only in solo mode, and always reported).
    pub self_approved: bool,
    /// The audit event that proves it.
    pub audit_seq: u64,
    pub audit_hash: String,
}

/// A rejection: the release can no longer be approved or promoted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub release: ReleaseId,
    pub by: Principal,
    pub at: DateTime<Utc>,
    pub reason: String,
}

/// One automated check's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `contract_lint`, `sample` or `smoke`.
    pub check: String,
    /// The dataset or job it is about.
    pub subject: String,
    pub passed: bool,
    pub detail: String,
}

/// A release's offline evaluation: what was compared and what the gate said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    pub release: ReleaseId,
    pub at: DateTime<Utc>,
    pub by: Principal,
    /// The release that was active (the baseline's) when it was recorded.
    #[serde(default)]
    pub baseline_release: Option<ReleaseId>,
    pub dataset: String,
    pub dataset_sha256: String,
    pub baseline_sha256: String,
    pub candidate_sha256: String,
    pub verdict: crate::domain::evaluation::Verdict,
    /// The comparison as `flowgate evaluate compare --json` prints it.
    pub comparison: Value,
    pub audit_seq: u64,
}

/// Every automated check of one release at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub release: ReleaseId,
    pub at: DateTime<Utc>,
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed)
    }
}

/// How a release became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Promotion,
    Emergency,
    Rollback,
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Promotion => "promotion",
            Self::Emergency => "emergency promotion",
            Self::Rollback => "rollback",
        })
    }
}

/// One switch of the active pointer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Switch {
    pub release: ReleaseId,
    pub generation: u64,
    pub at: DateTime<Utc>,
    /// The principal's key.
    pub by: String,
    pub how: Activation,
}

/// The single active pointer: which release runs. Changed only by a conditional write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivePointer {
    pub release: ReleaseId,
    /// Counts switches; the audit event of a switch names its generation.
    pub generation: u64,
    pub since: DateTime<Utc>,
    pub by: String,
    pub how: Activation,
    pub previous: Option<ReleaseId>,
    /// Every switch, oldest first (the current one last).
    pub history: Vec<Switch>,
    /// Whether the switch's audit event has been written (a crash between the switch and its
    /// event leaves `false`, and the next reader writes it).
    pub recorded: bool,
    /// An emergency switch's reason, incident and review deadline: written with the switch, so
    /// that the review it owes survives a crash right after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<EmergencyChange>,
    /// A canary of a candidate in progress: which items run on it (a switch ends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<crate::domain::rollout::Canary>,
}

impl ActivePointer {
    /// The pointer after switching to `release`.
    pub fn switched(previous: Option<&ActivePointer>, release: ReleaseId, by: &str, how: Activation, at: DateTime<Utc>) -> Self {
        Self::switched_with(previous, release, by, how, at, None)
    }

    /// The pointer after an emergency switch (or any switch, with `emergency: None`).
    pub fn switched_with(
        previous: Option<&ActivePointer>,
        release: ReleaseId,
        by: &str,
        how: Activation,
        at: DateTime<Utc>,
        emergency: Option<EmergencyChange>,
    ) -> Self {
        let generation = previous.map_or(1, |p| p.generation + 1);
        let mut history = previous.map(|p| p.history.clone()).unwrap_or_default();
        history.push(Switch { release: release.clone(), generation, at, by: by.to_string(), how });
        Self {
            release,
            generation,
            since: at,
            by: by.to_string(),
            how,
            previous: previous.map(|p| p.release.clone()),
            history,
            recorded: false,
            emergency,
            canary: None,
        }
    }
    /// Whether `id` has ever been active.
    pub fn was_active(&self, id: &ReleaseId) -> bool {
        self.history.iter().any(|s| &s.release == id)
    }
}

/// An emergency promotion and its review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyChange {
    pub release: ReleaseId,
    pub by: Principal,
    pub at: DateTime<Utc>,
    pub reason: String,
    pub incident: String,
    pub review_due: DateTime<Utc>,
    #[serde(default)]
    pub reviewed_by: Option<Principal>,
    #[serde(default)]
    pub reviewed_at: Option<DateTime<Utc>>,
}

impl EmergencyChange {
    /// `open`, `overdue` or `reviewed`.
    pub fn review_state(&self, now: DateTime<Utc>) -> &'static str {
        match (&self.reviewed_at, now > self.review_due) {
            (Some(_), _) => "reviewed",
            (None, true) => "overdue",
            (None, false) => "open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits() {
        let id = "A".repeat(64);
        assert_eq!(ReleaseId::parse(&id).unwrap().as_str(), "a".repeat(64));
        assert!(ReleaseId::parse("abc").is_err());
        assert!(ReleaseId::parse(&"g".repeat(64)).is_err());
        assert!(ReleaseId::is_prefix("deadbeef") && !ReleaseId::is_prefix("deadbee") && !ReleaseId::is_prefix("zzzzzzzz"));
    }

    #[test]
    fn the_pointer_keeps_its_history() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = ReleaseId::parse(&"a".repeat(64)).unwrap();
        let b = ReleaseId::parse(&"b".repeat(64)).unwrap();
        let p1 = ActivePointer::switched(None, a.clone(), "dev:x", Activation::Promotion, t);
        let p2 = ActivePointer::switched(Some(&p1), b.clone(), "dev:y", Activation::Promotion, t);
        let p3 = ActivePointer::switched(Some(&p2), a.clone(), "dev:y", Activation::Rollback, t);
        assert_eq!((p3.generation, p3.previous.as_ref()), (3, Some(&b)));
        assert!(p3.was_active(&a) && p3.was_active(&b));
        assert!(!p3.recorded);
    }
}
