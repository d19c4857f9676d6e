//! The Store rows of releases (table `releases`): records by id (partition `release`), each
//! release's approvals, rejection, latest checks and latest evaluation (partition = the id), the active pointer
//! (partition `pointer`, row `active`) and emergency changes (partition `emergency`).

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::ReleaseError;
use crate::domain::release::{
    ActivePointer, Approval, CheckReport, EmergencyChange, EvaluationRecord, Rejection, ReleaseId, ReleaseRecord,
};
use crate::ports::{ETag, RowRange, Store, StoreError, Table};

pub const TABLE: Table = Table::RELEASES;
const RECORDS: &str = "release";
const POINTER: &str = "pointer";
const ACTIVE: &str = "active";
const EMERGENCY: &str = "emergency";
const APPROVAL: &str = "approval|";
const REJECTION: &str = "rejection";
const CHECK: &str = "check";
const EVALUATION: &str = "evaluation";

fn decode<T: DeserializeOwned>(partition: &str, row: &str, v: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Corrupt(format!("releases({partition},{row})"), e.to_string()))
}

fn body<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

async fn get<T: DeserializeOwned>(store: &dyn Store, partition: &str, row: &str) -> Result<Option<(T, ETag)>, StoreError> {
    match store.get(TABLE, partition, row).await? {
        Some(e) => Ok(Some((decode(partition, row, e.body)?, e.etag))),
        None => Ok(None),
    }
}

pub async fn record(store: &dyn Store, id: &ReleaseId) -> Result<Option<ReleaseRecord>, StoreError> {
    Ok(get(store, RECORDS, id.as_str()).await?.map(|(r, _)| r))
}

/// Inserts a record; `Ok(false)` when the release was proposed before.
pub async fn insert_record(store: &dyn Store, r: &ReleaseRecord) -> Result<bool, StoreError> {
    match store.insert(TABLE, RECORDS, r.id.as_str(), &body(r)).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn all_records(store: &dyn Store) -> Result<Vec<ReleaseRecord>, StoreError> {
    let rows = store.query(TABLE, Some(RECORDS), RowRange::default(), usize::MAX).await?;
    rows.into_iter().map(|e| decode(RECORDS, &e.row, e.body)).collect()
}

/// The id a full id or a unique prefix names.
pub async fn resolve(store: &dyn Store, text: &str) -> Result<ReleaseId, ReleaseError> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(id) = ReleaseId::parse(&t) {
        return Ok(id);
    }
    if !ReleaseId::is_prefix(&t) {
        return Err(ReleaseError::BadInput(crate::domain::release::BadReleaseId(text.chars().take(80).collect()).to_string()));
    }
    let mut to = t.clone();
    to.push('g');
    let rows = store.query(TABLE, Some(RECORDS), RowRange { from: Some(t.clone()), to: Some(to) }, 3).await?;
    match rows.len() {
        0 => Err(ReleaseError::NotFound(format!("`{t}`: no proposed release has that id"))),
        1 => ReleaseId::parse(&rows[0].row).map_err(|e| ReleaseError::BadInput(e.to_string())),
        _ => Err(ReleaseError::BadInput(format!("`{t}` is the prefix of several releases; give more digits"))),
    }
}

pub async fn approvals(store: &dyn Store, id: &ReleaseId) -> Result<Vec<Approval>, StoreError> {
    let range = RowRange { from: Some(APPROVAL.into()), to: Some("approval}".into()) };
    let rows = store.query(TABLE, Some(id.as_str()), range, usize::MAX).await?;
    rows.into_iter().map(|e| decode(id.as_str(), &e.row, e.body)).collect()
}

/// Records an approval; `Ok(false)` when this person had approved already.
pub async fn insert_approval(store: &dyn Store, a: &Approval) -> Result<bool, StoreError> {
    match store.insert(TABLE, a.release.as_str(), &format!("{APPROVAL}{}", a.by.key()), &body(a)).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `who` has an approval row for `id`.
pub async fn has_approved(store: &dyn Store, id: &ReleaseId, who: &str) -> Result<bool, StoreError> {
    Ok(store.get(TABLE, id.as_str(), &format!("{APPROVAL}{who}")).await?.is_some())
}

pub async fn rejection(store: &dyn Store, id: &ReleaseId) -> Result<Option<Rejection>, StoreError> {
    Ok(get(store, id.as_str(), REJECTION).await?.map(|(r, _)| r))
}

/// Records the (first) rejection; `Ok(false)` when it was rejected before.
pub async fn insert_rejection(store: &dyn Store, r: &Rejection) -> Result<bool, StoreError> {
    match store.insert(TABLE, r.release.as_str(), REJECTION, &body(r)).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn checks(store: &dyn Store, id: &ReleaseId) -> Result<Option<CheckReport>, StoreError> {
    Ok(get(store, id.as_str(), CHECK).await?.map(|(r, _)| r))
}

pub async fn put_checks(store: &dyn Store, r: &CheckReport) -> Result<(), StoreError> {
    store.upsert(TABLE, r.release.as_str(), CHECK, &body(r)).await.map(|_| ())
}

/// The latest offline evaluation recorded for a release.
pub async fn evaluation(store: &dyn Store, id: &ReleaseId) -> Result<Option<EvaluationRecord>, StoreError> {
    Ok(get(store, id.as_str(), EVALUATION).await?.map(|(r, _)| r))
}

pub async fn put_evaluation(store: &dyn Store, r: &EvaluationRecord) -> Result<(), StoreError> {
    store.upsert(TABLE, r.release.as_str(), EVALUATION, &body(r)).await.map(|_| ())
}

pub async fn pointer(store: &dyn Store) -> Result<Option<(ActivePointer, ETag)>, StoreError> {
    get(store, POINTER, ACTIVE).await
}

/// Switches the pointer with one conditional write: `If-Match` the pointer read (or create it
/// when there was none). `PreconditionFailed`/`Conflict` when another switch won.
pub async fn write_pointer(store: &dyn Store, p: &ActivePointer, read: Option<&ETag>) -> Result<ETag, StoreError> {
    match read {
        Some(etag) => store.replace(TABLE, POINTER, ACTIVE, &body(p), etag).await,
        None => store.insert(TABLE, POINTER, ACTIVE, &body(p)).await,
    }
}

pub async fn emergencies(store: &dyn Store) -> Result<Vec<(EmergencyChange, ETag)>, StoreError> {
    let rows = store.query(TABLE, Some(EMERGENCY), RowRange::default(), usize::MAX).await?;
    rows.into_iter().map(|e| Ok((decode(EMERGENCY, &e.row, e.body)?, e.etag))).collect()
}

pub async fn emergency(store: &dyn Store, id: &ReleaseId) -> Result<Option<(EmergencyChange, ETag)>, StoreError> {
    get(store, EMERGENCY, id.as_str()).await
}

pub async fn put_emergency(store: &dyn Store, e: &EmergencyChange, read: Option<&ETag>) -> Result<ETag, StoreError> {
    match read {
        Some(etag) => store.replace(TABLE, EMERGENCY, e.release.as_str(), &body(e), etag).await,
        None => store.upsert(TABLE, EMERGENCY, e.release.as_str(), &body(e)).await,
    }
}
