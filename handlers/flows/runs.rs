//! Reading and writing run records in the Store, with their ETags.

use serde_json::Value;

use crate::domain::ids::RunKey;
use crate::domain::run::RunRecord;
use crate::ports::{ETag, RowRange, Store, StoreError, Table};

/// Loads a run record and its ETag.
pub async fn load(store: &dyn Store, key: &RunKey) -> Result<Option<(RunRecord, ETag)>, StoreError> {
    let Some(e) = store.get(Table::RUNS, key.job.as_str(), &key.row()).await? else {
        return Ok(None);
    };
    let rec = serde_json::from_value(e.body).map_err(|err| StoreError::Corrupt(key.to_string(), err.to_string()))?;
    Ok(Some((rec, e.etag)))
}

fn body(rec: &RunRecord) -> Value {
    serde_json::to_value(rec).unwrap_or(Value::Null)
}

/// Creates a pending record; `Ok(false)` when it already exists.
pub async fn create(store: &dyn Store, rec: &RunRecord) -> Result<bool, StoreError> {
    let key = RunKey::new(rec.job.clone(), rec.logical_time);
    match store.insert(Table::RUNS, key.job.as_str(), &key.row(), &body(rec)).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes a record only if nobody changed it since `etag` was read.
pub async fn replace(store: &dyn Store, rec: &RunRecord, etag: &ETag) -> Result<ETag, StoreError> {
    let key = RunKey::new(rec.job.clone(), rec.logical_time);
    store.replace(Table::RUNS, key.job.as_str(), &key.row(), &body(rec), etag).await
}

/// Every run record, newest logical time first (ties by job name).
pub async fn list(store: &dyn Store, job: Option<&str>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
    let entities = store.query(Table::RUNS, job, RowRange::default(), usize::MAX).await?;
    let mut out = Vec::with_capacity(entities.len());
    for e in entities {
        let rec: RunRecord = serde_json::from_value(e.body)
            .map_err(|err| StoreError::Corrupt(format!("runs({},{})", e.partition, e.row), err.to_string()))?;
        out.push(rec);
    }
    out.sort_by(|a, b| b.logical_time.cmp(&a.logical_time).then_with(|| a.job.cmp(&b.job)));
    out.truncate(limit);
    Ok(out)
}
