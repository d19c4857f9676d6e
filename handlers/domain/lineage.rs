//! Lineage as OpenLineage 2-0-2 RunEvents: a run's START and its COMPLETE or FAIL, with the
//! nominalTime, parent, errorMessage, jobType, ownership, schema and dataQualityAssertions facets;
//! and the same run as a Microsoft Purview (Atlas v2) Process linking its input and output assets.
//! Pure: the flow gathers the facts, this shapes them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::ids::RunKey;

pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// Who produced the events (the OpenLineage `producer` and every facet's `_producer`).
pub const PRODUCER: &str = concat!("https://github.com/flowgate/flowgate/tree/v", env!("CARGO_PKG_VERSION"));

const NOMINAL_TIME: &str = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
const PARENT: &str = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
const ERROR_MESSAGE: &str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
const JOB_TYPE: &str = "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const OWNERSHIP: &str = "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet";
const SCHEMA: &str = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const QUALITY: &str =
    "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet";

/// A dataset a run read or wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetRef {
    pub namespace: String,
    pub name: String,
    /// Column name and logical type, from its contract.
    pub fields: Vec<(String, String)>,
    /// Checks made on it before the run: (assertion, success, column).
    pub assertions: Vec<(String, bool, Option<String>)>,
}

/// How a run ended, for lineage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Ending {
    Complete,
    Fail { message: String },
}

/// What one run's events are made of.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub key: &'a RunKey,
    pub namespace: &'a str,
    /// The job's kind as written in the catalog (`http`, `azure_ml_job`, ...).
    pub kind: &'a str,
    pub owner: Option<&'a str>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub ending: Ending,
    /// The upstream run this one depended on (same logical time).
    pub parent: Option<&'a RunKey>,
    pub inputs: Vec<DatasetRef>,
    pub outputs: Vec<DatasetRef>,
}

/// What a finished run's events are made of, as kept with the run record: small (the events'
/// schema URLs and producer are added when they are made), and enough to make them again
/// exactly, without the catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredFacts {
    pub namespace: String,
    pub kind: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub ending: Ending,
    /// The upstream job whose run of the same logical time this one followed.
    #[serde(default)]
    pub parent_job: Option<crate::domain::ids::JobId>,
    #[serde(default)]
    pub inputs: Vec<DatasetRef>,
    #[serde(default)]
    pub outputs: Vec<DatasetRef>,
}

impl StoredFacts {
    /// The run's START and COMPLETE/FAIL events.
    pub fn events(&self, key: &RunKey) -> [Value; 2] {
        let parent = self.parent_job.clone().map(|j| RunKey::new(j, key.logical_time));
        run_events(&RunFacts {
            key,
            namespace: &self.namespace,
            kind: &self.kind,
            owner: self.owner.as_deref(),
            started: self.started,
            finished: self.finished,
            ending: self.ending.clone(),
            parent: parent.as_ref(),
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
        })
    }
}

/// The run's OpenLineage id: a UUID derived from the run key, so every export and every sink
/// names the same run the same way.
pub fn run_id(key: &RunKey) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, format!("flowgate:run:{key}").as_bytes())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn facet(schema: &str, body: Value) -> Value {
    let mut v = json!({ "_producer": PRODUCER, "_schemaURL": schema });
    if let (Value::Object(m), Value::Object(b)) = (&mut v, body) {
        m.extend(b);
    }
    v
}

fn dataset(d: &DatasetRef, input: bool) -> Value {
    let mut v = json!({ "namespace": d.namespace, "name": d.name, "facets": {} });
    if !d.fields.is_empty() {
        let fields: Vec<Value> = d.fields.iter().map(|(n, t)| json!({ "name": n, "type": t })).collect();
        v["facets"]["schema"] = facet(SCHEMA, json!({ "fields": fields }));
    }
    if input && !d.assertions.is_empty() {
        let assertions: Vec<Value> = d
            .assertions
            .iter()
            .map(|(a, ok, col)| {
                let mut x = json!({ "assertion": a, "success": ok });
                if let Some(c) = col {
                    x["column"] = json!(c);
                }
                x
            })
            .collect();
        v["inputFacets"] = json!({ "dataQualityAssertions": facet(QUALITY, json!({ "assertions": assertions })) });
    }
    v
}

/// START at `started`, then COMPLETE or FAIL at `finished`.
pub fn run_events(f: &RunFacts<'_>) -> [Value; 2] {
    let mut run_facets = json!({ "nominalTime": facet(NOMINAL_TIME, json!({ "nominalStartTime": time(f.key.logical_time) })) });
    if let Some(p) = f.parent {
        run_facets["parent"] = facet(
            PARENT,
            json!({ "run": { "runId": run_id(p).to_string() }, "job": { "namespace": f.namespace, "name": p.job.as_str() } }),
        );
    }
    let mut job_facets =
        json!({ "jobType": facet(JOB_TYPE, json!({ "processingType": "BATCH", "integration": "FLOWGATE", "jobType": f.kind })) });
    if let Some(o) = f.owner {
        job_facets["ownership"] = facet(OWNERSHIP, json!({ "owners": [{ "name": o, "type": "MAINTAINER" }] }));
    }
    let job = json!({ "namespace": f.namespace, "name": f.key.job.as_str(), "facets": job_facets });
    let inputs: Vec<Value> = f.inputs.iter().map(|d| dataset(d, true)).collect();
    let outputs: Vec<Value> = f.outputs.iter().map(|d| dataset(d, false)).collect();
    let event = |kind: &str, at: DateTime<Utc>, facets: Value| {
        json!({
            "eventType": kind,
            "eventTime": time(at),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": { "runId": run_id(f.key).to_string(), "facets": facets },
            "job": job,
            "inputs": inputs,
            "outputs": if kind == "START" { Vec::new() } else { outputs.clone() },
        })
    };
    let start = event("START", f.started, run_facets.clone());
    let end = match &f.ending {
        Ending::Complete => event("COMPLETE", f.finished, run_facets),
        Ending::Fail { message } => {
            let mut facets = run_facets;
            facets["errorMessage"] = facet(ERROR_MESSAGE, json!({ "message": message, "programmingLanguage": "rust" }));
            event("FAIL", f.finished, facets)
        }
    };
    [start, end]
}

/// A finished run's event as Purview (Atlas v2) entities for `POST .../atlas/v2/entity/bulk`: each
/// dataset as an `azure_blob_path` and the run as a `Process` linking them. `blob_url` turns a
/// dataset (namespace, name) into its qualified name.
pub fn atlas_entities(event: &Value, blob_url: &dyn Fn(&str, &str) -> String) -> Value {
    let assets = |key: &str| -> Vec<(String, String)> {
        event[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let (ns, name) = (d["namespace"].as_str().unwrap_or_default(), d["name"].as_str().unwrap_or_default());
                (blob_url(ns, name), name.rsplit('/').find(|s| !s.is_empty()).unwrap_or(name).to_string())
            })
            .collect()
    };
    let (inputs, outputs) = (assets("inputs"), assets("outputs"));
    let reference = |q: &String| json!({ "typeName": "azure_blob_path", "uniqueAttributes": { "qualifiedName": q } });
    let mut entities: Vec<Value> = inputs
        .iter()
        .chain(outputs.iter())
        .map(|(q, name)| json!({ "typeName": "azure_blob_path", "attributes": { "qualifiedName": q, "name": name } }))
        .collect();
    let job = event["job"]["name"].as_str().unwrap_or_default();
    let run = event["run"]["runId"].as_str().unwrap_or_default();
    entities.push(json!({
        "typeName": "Process",
        "attributes": {
            "qualifiedName": format!("flowgate://{}/jobs/{job}/runs/{run}", event["job"]["namespace"].as_str().unwrap_or_default()),
            "name": format!("{job} {}", event["run"]["facets"]["nominalTime"]["nominalStartTime"].as_str().unwrap_or(run)),
            "description": format!("{} at {}", event["eventType"].as_str().unwrap_or_default(), event["eventTime"].as_str().unwrap_or_default()),
            "inputs": inputs.iter().map(|(q, _)| reference(q)).collect::<Vec<_>>(),
            "outputs": outputs.iter().map(|(q, _)| reference(q)).collect::<Vec<_>>(),
        }
    }));
    json!({ "entities": entities })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::JobId;

    fn key(job: &str) -> RunKey {
        RunKey::new(JobId::parse(job).unwrap(), DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z").unwrap().with_timezone(&Utc))
    }

    #[test]
    fn events_name_the_run_the_same_way_and_fail_carries_the_error() {
        let (k, up) = (key("score"), key("extract"));
        let input = DatasetRef {
            namespace: "flowgate".into(),
            name: "landing/claims/".into(),
            fields: vec![("claim_id".into(), "string".into())],
            assertions: vec![("freshness".into(), true, None)],
        };
        let facts = RunFacts {
            key: &k,
            namespace: "flowgate",
            kind: "http",
            owner: Some("team:claims"),
            started: k.logical_time,
            finished: k.logical_time + chrono::Duration::minutes(3),
            ending: Ending::Fail { message: "HTTP 400".into() },
            parent: Some(&up),
            inputs: vec![input],
            outputs: vec![],
        };
        let [start, end] = run_events(&facts);
        assert_eq!(start["eventType"], "START");
        assert_eq!(end["eventType"], "FAIL");
        assert_eq!(start["run"]["runId"], end["run"]["runId"]);
        assert_eq!(end["run"]["facets"]["errorMessage"]["message"], "HTTP 400");
        assert_eq!(end["run"]["facets"]["parent"]["run"]["runId"], json!(run_id(&up).to_string()));
        assert_eq!(run_id(&k), run_id(&key("score")));
        let atlas = atlas_entities(&end, &|ns, name| format!("https://acct.blob.core.windows.net/{ns}/{name}"));
        let process = atlas["entities"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(process["typeName"], "Process");
        assert_eq!(
            process["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"],
            "https://acct.blob.core.windows.net/flowgate/landing/claims/"
        );
    }
}
