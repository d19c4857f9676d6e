//! The records a run sends to its endpoint: the blob that triggered it, or the blobs of its input
//! datasets that arrived in its slot's window, parsed as CSV or JSON Lines and mapped to requests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Deps;
use crate::domain::catalog::model::{DataFormat, RequestTemplate};
use crate::domain::catalog::{Job, Trigger};
use crate::domain::ids::{instant_key, DatasetId};
use crate::domain::run::RunTrigger;
use crate::ports::{BlobError, RowRange, Table};

/// An arrival as recorded by DataArrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArrivalRecord {
    pub dataset: String,
    pub container: String,
    pub path: String,
    pub size: Option<u64>,
    pub content_type: Option<String>,
    pub event_id: Option<String>,
    pub arrived_at: DateTime<Utc>,
    pub invocation_id: Option<String>,
    /// The contract verdict, when the dataset has a contract (a failed blob is never read by runs).
    #[serde(default)]
    pub contract_passed: Option<bool>,
    /// The schema version the producer stamped on the blob, when the dataset has a contract.
    #[serde(default)]
    pub schema_version: Option<String>,
}

/// The row key of an arrival: time first so a range query finds a window.
pub fn arrival_row(arrived_at: DateTime<Utc>, path: &str) -> String {
    format!("{}|{path}", instant_key(arrived_at))
}

/// One request to send, with the record key copied into the output.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedRequest {
    pub body: Value,
    /// The record's key (a token when the key column holds personal data).
    pub key: Option<Value>,
    /// The record's values of PII columns: scrubbed out of anything written about this request.
    pub pii: Vec<String>,
}

/// Why the inputs could not be prepared.
#[derive(Debug)]
pub enum InputError {
    /// The data or the mapping is wrong: retrying will not help.
    Unusable(String),
    /// Storage hiccup: try again.
    Transient(String),
}

fn from_blob(e: BlobError) -> InputError {
    if e.is_retryable() {
        InputError::Transient(e.to_string())
    } else {
        InputError::Unusable(e.to_string())
    }
}

/// Builds the run's requests.
pub async fn prepare(
    deps: &Deps,
    job: &Job,
    logical_time: DateTime<Utc>,
    trigger: &RunTrigger,
) -> Result<Vec<PreparedRequest>, InputError> {
    if job.inputs.is_empty() {
        let body = Value::Object(job.request.body.clone().unwrap_or_default());
        return Ok(vec![PreparedRequest { body, key: None, pii: Vec::new() }]);
    }
    let blobs: Vec<(String, String, DataFormat, Option<DatasetId>)> = match trigger {
        RunTrigger::Arrival { dataset, container, path } => {
            let ds = deps
                .catalog
                .datasets
                .values()
                .find(|d| d.id.as_str() == dataset)
                .ok_or_else(|| InputError::Unusable(format!("dataset `{dataset}` is no longer in the catalog")))?;
            vec![(container.clone(), path.clone(), ds.format, Some(ds.id.clone()))]
        }
        _ => window_blobs(deps, job, logical_time).await?,
    };
    let mut out = Vec::new();
    for (container, path, format, dataset) in blobs {
        let bytes = deps.blobs.read(&container, &path).await.map_err(from_blob)?;
        let records = parse_records(&bytes, format).map_err(|e| InputError::Unusable(format!("{container}/{path}: {e}")))?;
        let pii = pii_columns(deps, dataset.as_ref());
        for (i, rec) in records.into_iter().enumerate() {
            let mut req =
                map_record(&job.request, &rec).map_err(|e| InputError::Unusable(format!("{container}/{path} record {}: {e}", i + 1)))?;
            protect(deps, &job.request, &pii, &rec, &mut req);
            out.push(req);
        }
    }
    Ok(out)
}

/// The columns the dataset's contract marks as personal data.
fn pii_columns(deps: &Deps, dataset: Option<&DatasetId>) -> Vec<String> {
    let Some(contract) = dataset.and_then(|d| deps.contracts.get(d)) else { return Vec::new() };
    contract.tables.iter().flat_map(|t| t.properties.iter()).filter(|p| p.pii).map(|p| p.name.clone()).collect()
}

/// Notes the record's personal data for scrubbing, and replaces a personal key by its token.
fn protect(deps: &Deps, t: &RequestTemplate, pii: &[String], rec: &Map<String, Value>, req: &mut PreparedRequest) {
    for col in pii {
        let text = match rec.get(col) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => continue,
            Some(other) => other.to_string(),
        };
        if text.is_empty() {
            continue;
        }
        if t.key.as_deref() == Some(col.as_str()) {
            req.key = Some(Value::String(deps.pii.token(&text)));
        }
        req.pii.push(text);
    }
}

/// Blobs of the job's input datasets that arrived after the previous slot, up to this one.
async fn window_blobs(
    deps: &Deps,
    job: &Job,
    logical_time: DateTime<Utc>,
) -> Result<Vec<(String, String, DataFormat, Option<DatasetId>)>, InputError> {
    let from = match &job.trigger {
        Trigger::Schedule(cron) => cron.prev_before(logical_time, job.timezone),
        _ => None,
    };
    let range = RowRange {
        from: from.map(|f| instant_key(f + chrono::Duration::milliseconds(1))),
        to: Some(instant_key(logical_time + chrono::Duration::milliseconds(1))),
    };
    let mut out = Vec::new();
    for ds in &job.inputs {
        let format = deps.catalog.datasets.get(ds).map(|d| d.format).unwrap_or(DataFormat::Csv);
        let rows = deps.store.query(Table::ARRIVALS, Some(ds.as_str()), range.clone(), usize::MAX).await.map_err(|e| {
            if e.is_retryable() {
                InputError::Transient(e.to_string())
            } else {
                InputError::Unusable(e.to_string())
            }
        })?;
        for e in rows {
            if let Ok(a) = serde_json::from_value::<ArrivalRecord>(e.body) {
                if a.contract_passed != Some(false) {
                    out.push((a.container, a.path, format, Some(ds.clone())));
                }
            }
        }
    }
    Ok(out)
}

/// Parses CSV (header row) or JSON Lines into records.
pub fn parse_records(bytes: &[u8], format: DataFormat) -> Result<Vec<Map<String, Value>>, String> {
    match format {
        DataFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
            let headers = rdr.headers().map_err(|e| format!("unreadable CSV header: {e}"))?.clone();
            let mut out = Vec::new();
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|e| format!("CSV row {}: {e}", i + 2))?;
                out.push(headers.iter().zip(row.iter()).map(|(h, v)| (h.to_string(), Value::String(v.to_string()))).collect());
            }
            Ok(out)
        }
        DataFormat::Jsonl => {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(m)) => out.push(m),
                    Ok(_) => return Err(format!("line {} is not a JSON object", i + 1)),
                    Err(e) => return Err(format!("line {}: {e}", i + 1)),
                }
            }
            Ok(out)
        }
    }
}

pub(crate) fn map_record(t: &RequestTemplate, rec: &Map<String, Value>) -> Result<PreparedRequest, String> {
    let mut body = t.body.clone().unwrap_or_default();
    if t.fields.is_empty() {
        for (k, v) in rec {
            body.insert(k.clone(), v.clone());
        }
    }
    for (input, column) in &t.fields {
        let v = rec.get(column).ok_or_else(|| format!("has no column `{column}` (mapped to endpoint input `{input}`)"))?;
        body.insert(input.clone(), v.clone());
    }
    let key = match &t.key {
        Some(k) => Some(rec.get(k).cloned().ok_or_else(|| format!("has no key column `{k}`"))?),
        None => None,
    };
    Ok(PreparedRequest { body: Value::Object(body), key, pii: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csv_and_jsonl() {
        let r = parse_records(b"id,text\n1,hello\n2,\"a, b\"\n", DataFormat::Csv).unwrap();
        assert_eq!(r[1]["text"], "a, b");
        assert!(parse_records(b"id,text\n1\n", DataFormat::Csv).unwrap_err().contains("row 2"));
        let r = parse_records(b"{\"a\":1}\n\n{\"a\":2}\n", DataFormat::Jsonl).unwrap();
        assert_eq!(r.len(), 2);
        assert!(parse_records(b"[1]\n", DataFormat::Jsonl).unwrap_err().contains("line 1"));
        assert!(parse_records(b"\xff\xfe", DataFormat::Jsonl).is_err());
        assert!(parse_records(b"", DataFormat::Csv).unwrap().is_empty());
    }

    #[test]
    fn maps_fields_and_keys() {
        let t = RequestTemplate {
            fields: [("text".to_string(), "body".to_string())].into(),
            key: Some("id".into()),
            body: Some([("lang".to_string(), Value::from("en"))].into_iter().collect()),
        };
        let rec: Map<String, Value> = serde_json::from_str(r#"{"id":"7","body":"crash","email":"x@y"}"#).unwrap();
        let p = map_record(&t, &rec).unwrap();
        assert_eq!(p.body, serde_json::json!({"lang":"en","text":"crash"}));
        assert_eq!(p.key, Some(Value::from("7")));
        let rec: Map<String, Value> = serde_json::from_str(r#"{"id":"7"}"#).unwrap();
        assert!(map_record(&t, &rec).unwrap_err().contains("`body`"));
    }
}
