//! Lineage against the official OpenLineage 2-0-2 schemas (vendored under tests/openlineage with
//! their license): every event the demo emits validates as a RunEvent, and every facet validates
//! against the schema its `_schemaURL` names.

use std::path::Path;
use std::process::Command;

use flowgate::domain::ids::{JobId, RunKey};
use flowgate::domain::lineage::{run_events, DatasetRef, Ending, RunFacts};
use jsonschema::{Draft, Resource, Validator};
use serde_json::{json, Value};

/// The core schema and every facet schema, by their `$id`.
fn resources() -> Vec<(String, Resource)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openlineage");
    let mut files = vec![dir.join("OpenLineage.json")];
    files.extend(std::fs::read_dir(dir.join("facets")).unwrap().map(|e| e.unwrap().path()));
    files
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let id = v["$id"].as_str().unwrap_or_else(|| panic!("{} has no $id", p.display())).to_string();
            (id, Resource::from_contents(v).unwrap())
        })
        .collect()
}

fn validator(reference: &str) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .with_resources(resources().into_iter())
        .build(&json!({ "$ref": reference }))
        .unwrap()
}

/// Validates one event and each of its facets; returns how many facets were checked.
fn validate(event: &Value, core: &Validator, known: &[String]) -> usize {
    let errors: Vec<String> = core.iter_errors(event).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{event}\n{errors:#?}");
    let mut facets = Vec::new();
    for holder in [&event["run"]["facets"], &event["job"]["facets"]] {
        facets.extend(holder.as_object().into_iter().flatten().map(|(_, f)| f.clone()));
    }
    for side in ["inputs", "outputs"] {
        for d in event[side].as_array().into_iter().flatten() {
            for key in ["facets", "inputFacets", "outputFacets"] {
                facets.extend(d[key].as_object().into_iter().flatten().map(|(_, f)| f.clone()));
            }
        }
    }
    for f in &facets {
        let url = f["_schemaURL"].as_str().expect("every facet names its schema");
        let file = url.split('#').next().unwrap();
        assert!(known.iter().any(|k| k == file), "facet schema {file} is not one of the official schemas");
        let v = validator(url);
        let errors: Vec<String> = v.iter_errors(f).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{f}\n{errors:#?}");
    }
    facets.len()
}

#[test]
fn every_event_of_the_demo_validates_against_the_official_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // A Tuesday: every run succeeds (the demo's broken file lands on Mondays).
        .args(["local", "--demo", "--from", "2026-11-03T00:00:00Z", "--days", "1", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let export = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["lineage", "export", "--state"]).arg(&state).output().unwrap();
    assert_eq!(export.status.code(), Some(0), "{}", String::from_utf8_lossy(&export.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&export.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // One weekday: 11 hourly slots and 11 urgent arrivals, each a START and a COMPLETE.
    assert_eq!(events.len(), 44, "{events:#?}");
    assert_eq!(events.iter().filter(|e| e["eventType"] == "START").count(), 22);
    // The JSON Lines sink got the same events.
    let sink = std::fs::read_to_string(state.join("lineage.jsonl")).unwrap();
    assert_eq!(sink.lines().count(), 44);

    let known: Vec<String> = resources().into_iter().map(|(id, _)| id).collect();
    let core = validator("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent");
    let mut facets = 0;
    for e in &events {
        facets += validate(e, &core, &known);
    }
    // Inputs carry their contract's schema and the gate decisions as quality assertions.
    let with_inputs = events.iter().find(|e| e["eventType"] == "COMPLETE" && !e["inputs"].as_array().unwrap().is_empty()).unwrap();
    assert!(with_inputs["inputs"][0]["facets"]["schema"]["fields"].as_array().is_some_and(|f| !f.is_empty()), "{with_inputs}");
    assert!(with_inputs["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(facets > 100, "{facets} facets checked");

    // A failed, dependent run: parent and errorMessage facets validate too.
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let (key, up) = (RunKey::new(JobId::parse("score").unwrap(), at), RunKey::new(JobId::parse("extract").unwrap(), at));
    let facts = RunFacts {
        key: &key,
        namespace: "flowgate",
        kind: "azure_ml_job",
        owner: Some("team:claims"),
        started: at,
        finished: at + chrono::Duration::minutes(5),
        ending: Ending::Fail { message: "HTTP 400: Required input fields ['text'] are missing".into() },
        parent: Some(&up),
        inputs: vec![DatasetRef {
            namespace: "flowgate".into(),
            name: "landing/x/".into(),
            fields: vec![],
            assertions: vec![("contract".into(), false, None)],
        }],
        outputs: vec![],
    };
    for e in run_events(&facts) {
        validate(&e, &core, &known);
    }
    // And an event missing what the spec requires does not.
    let mut broken = events[0].clone();
    broken["run"]["runId"] = json!("not-a-uuid");
    assert!(!core.is_valid(&broken), "formats are checked");
    let mut broken = events[0].clone();
    broken.as_object_mut().unwrap().remove("producer");
    assert!(!core.is_valid(&broken));
}

#[path = "../fakes/lineage.rs"]
mod fake_servers;

/// The two HTTP sinks: every event to the OpenLineage server in order; the finished run to
/// Purview as one Process linking its assets, with a Purview token.
#[tokio::test]
async fn the_openlineage_and_purview_sinks_deliver_a_run() {
    use flowgate::adapters::azure::identity::{CachedTokens, StaticToken};
    use flowgate::adapters::http::{OpenLineageHttp, PurviewLineage};
    use flowgate::ports::{AccessToken, LineageSink};
    use std::sync::Arc;

    let fake = fake_servers::FakeLineageServers::default();
    let base = fake.start().await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let key = RunKey::new(JobId::parse("score").unwrap(), at);
    let dataset = |name: &str| DatasetRef { namespace: "flowgate".into(), name: name.into(), fields: vec![], assertions: vec![] };
    let facts = RunFacts {
        key: &key,
        namespace: "flowgate",
        kind: "http",
        owner: None,
        started: at,
        finished: at + chrono::Duration::minutes(2),
        ending: Ending::Complete,
        parent: None,
        inputs: vec![dataset("landing/claims/")],
        outputs: vec![dataset("curated/classified/")],
    };
    let events = run_events(&facts);
    OpenLineageHttp::new(&base).unwrap().emit(&events).await.unwrap();
    let got = fake.openlineage.lock().unwrap().clone();
    assert_eq!(got.iter().map(|e| e["eventType"].as_str().unwrap()).collect::<Vec<_>>(), vec!["START", "COMPLETE"]);

    let tokens = Arc::new(CachedTokens::new(Arc::new(StaticToken(AccessToken::new("purview-token", at + chrono::Duration::days(3650))))));
    let purview = PurviewLineage::new(&base, "https://acct.blob.core.windows.net", tokens).unwrap();
    purview.emit(&events).await.unwrap();
    let (auth, body) = fake.purview.lock().unwrap()[0].clone();
    assert_eq!(auth, "Bearer purview-token");
    let entities = body["entities"].as_array().unwrap();
    let process = entities.iter().find(|e| e["typeName"] == "Process").unwrap();
    assert_eq!(
        process["attributes"]["inputs"][0]["uniqueAttributes"]["qualifiedName"],
        "https://acct.blob.core.windows.net/landing/claims/"
    );
    assert_eq!(
        process["attributes"]["outputs"][0]["uniqueAttributes"]["qualifiedName"],
        "https://acct.blob.core.windows.net/curated/classified/"
    );
    assert_eq!(entities.iter().filter(|e| e["typeName"] == "azure_blob_path").count(), 2);
    // A server that is down is a retryable failure, not a panic.
    let down = OpenLineageHttp::new("http://127.0.0.1:9").unwrap().emit(&events).await.unwrap_err();
    assert!(down.retryable, "{down}");
}
