//! Incident response on a demo's state. `flowgate doctor`: clean, it exits 0; with a stuck run,
//! a dead-lettered message, a breaker open long past its cooldown and a broken audit chain
//! injected, it names each with its evidence, the command that deals with it and its runbook, and
//! exits 1; a state that cannot be read exits 2. `flowgate trace` walks an output back to its
//! sources; `flowgate dataset suspect|rerun|clear` marks an arrival, shows its blast radius and
//! replays the affected runs once.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("FLOWGATE_CATALOG").env_remove("FLOWGATE_DATA_DIR").env_remove("FLOWGATE_EXTERNAL_URL");
    c
}

const END: &str = "2026-11-05T00:00:00Z";

fn doctor(state: &Path) -> (i32, Value) {
    let out = flowgate()
        .args(["doctor", "--json", "--catalog", "examples/claims/catalog.yaml", "--now", END, "--state"])
        .arg(state)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), v)
}

#[test]
fn doctor_finds_each_injected_fault_names_its_command_and_a_clean_state_passes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo");
    let out =
        flowgate().args(["local", "--demo", "--from", "2026-11-03T00:00:00Z", "--days", "2", "--state"]).arg(&state).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, v) = doctor(&state);
    assert_eq!(code, 0, "two clean weekdays (the broken file lands on Mondays): {v}");
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0));

    trace_names_the_sources_and_what_retention_removed(&state);

    // A run whose lease ended an hour before "now", with nothing to move it.
    let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let (pk, rk, body): (String, String, String) = db
        .query_row("SELECT pk, rk, body FROM entities WHERE tbl = 'runs' ORDER BY rk DESC LIMIT 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    let mut run: Value = serde_json::from_str(&body).unwrap();
    run["status"] = json!("running");
    run["lease_until"] = json!("2026-11-04T23:00:00Z");
    run["finished_at"] = Value::Null;
    db.execute("UPDATE entities SET body = ?1 WHERE tbl = 'runs' AND pk = ?2 AND rk = ?3", rusqlite::params![run.to_string(), pk, rk])
        .unwrap();
    // An endpoint's breaker open since 20:00 with a one-minute cooldown.
    let breaker = json!({"state": "open", "consecutive_failures": 5, "open_until": "2026-11-04T20:01:00Z", "probes_in_flight": 0, "recent": [],
        "transitions": [{"at": "2026-11-04T20:00:00Z", "from": "closed", "to": "open", "reason": "5 consecutive failures"}]});
    db.execute(
        "INSERT INTO entities (tbl, pk, rk, version, body) VALUES ('breakers', 'endpoint', 'https://scoring.example/score', 1, ?1)",
        [breaker.to_string()],
    )
    .unwrap();
    drop(db);
    // A dispatch message delivered ten times and dead-lettered.
    let q = rusqlite::Connection::open(state.join("queues.db")).unwrap();
    q.execute(
        "INSERT INTO messages (queue, message_id, body, enqueued_ms, visible_ms, expires_ms, delivery_count, dead_letter_reason) \
         VALUES ('dispatch', 'lost-1', '{}', 1762200000000, 1762200000000, 4102444800000, 10, 'MaxDeliveryCountExceeded')",
        [],
    )
    .unwrap();
    drop(q);
    // One audit event edited in place.
    let a = rusqlite::Connection::open(state.join("audit.db")).unwrap();
    assert_eq!(a.execute("UPDATE audit SET body = replace(body, '\"subject\":\"', '\"subject\":\"x') WHERE seq = 5", []).unwrap(), 1);
    drop(a);

    let (code, v) = doctor(&state);
    assert_eq!(code, 1, "{v}");
    let findings = v["findings"].as_array().unwrap();
    let find = |check: &str| findings.iter().find(|f| f["check"] == check).unwrap_or_else(|| panic!("no {check}: {v:#}"));
    let st = state.display().to_string();
    let stuck = find("stuck_run");
    assert_eq!(stuck["severity"], "critical");
    assert!(stuck["evidence"].as_str().unwrap().contains("its lease ended at 2026-11-04T23:00:00"), "{stuck}");
    assert_eq!(stuck["command"], format!("flowgate runs --state {st} --job {}", run["job"].as_str().unwrap()));
    assert!(find("dead_letters")["evidence"].as_str().unwrap().starts_with("1 message(s) dead-lettered"));
    assert!(find("breaker_open")["evidence"].as_str().unwrap().contains("cooldown 1 min"));
    let chain = find("audit_chain");
    assert_eq!(chain["subject"], "audit event seq 5");
    assert_eq!(chain["command"], format!("flowgate audit verify --state {st}"));
    for f in findings {
        let page = f["runbook"].as_str().unwrap();
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(page).is_file(), "{page} exists");
    }
    // Worst first.
    let severities: Vec<&str> = findings.iter().map(|f| f["severity"].as_str().unwrap()).collect();
    let mut sorted = severities.clone();
    sorted.sort_by_key(|s| *s != "critical");
    assert_eq!(severities, sorted);
    // The text form says what to run.
    let out = flowgate().args(["doctor", "--now", END, "--state"]).arg(&state).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fix:     flowgate audit verify --state") && text.contains("critical"), "{text}");

    suspect_marks_shows_the_blast_radius_and_reruns_each_run_once(&state);

    // A state that cannot be read, and a bad --now.
    assert_eq!(flowgate().args(["doctor", "--state"]).arg(dir.path().join("nothing")).output().unwrap().status.code(), Some(2));
    assert_eq!(flowgate().args(["doctor", "--now", "yesterday", "--state"]).arg(&state).output().unwrap().status.code(), Some(2));
}

/// `flowgate trace` of a demo output names its input blob, contract verdict, release and
/// endpoint; with the input's records removed (as retention removes them) it says what is missing;
/// bad input exits 2.
fn trace_names_the_sources_and_what_retention_removed(state: &Path) {
    let runs = flowgate().args(["runs", "--json", "--job", "classify_correspondence", "--state"]).arg(state).output().unwrap();
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    let run = runs.iter().find(|r| r["status"] == "succeeded" && r["output"].is_string()).unwrap();
    let output = run["output"].as_str().unwrap();
    let trace = |args: &[&str]| {
        let o = flowgate().arg("trace").args(args).arg("--state").arg(state).output().unwrap();
        (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, out, err) = trace(&["--json", "--output", output]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["output"], output);
    assert_eq!(v["release"]["id"], run["release"]);
    assert!(v["job"]["endpoint"].as_str().unwrap().contains("score") && v["job"]["kind"] == "online_endpoint", "{v}");
    let input = &v["inputs"][0];
    let blob = input["path"].as_str().unwrap();
    assert!(blob.starts_with("claims/correspondence/") && run["gate"]["checks"][0]["detail"].as_str().unwrap().contains(blob), "{v}");
    assert_eq!(input["contract"]["passed"], true);
    assert_eq!(input["schema_version"], "1.0.0");
    // The same by run key, as text.
    let key = format!("classify_correspondence@{}", run["logical_time"].as_str().unwrap());
    let (code, text, _) = trace(&["--run", &key]);
    assert_eq!(code, 0);
    assert!(text.contains(&format!("input   claims_correspondence {blob}")) && text.contains("passed"), "{text}");
    // The input's records gone: said, not a failure.
    let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let gone =
        db.execute("DELETE FROM entities WHERE tbl IN ('contract_results', 'arrivals') AND rk LIKE ?1", [format!("%|{blob}")]).unwrap();
    assert!(gone >= 1);
    drop(db);
    let (code, out, _) = trace(&["--json", "--output", output]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["inputs"][0]["contract"]["missing"].as_str().unwrap().contains("removed by retention"), "{v}");
    // Bad input.
    for args in [&["--run", "not-a-key"][..], &["--output", "nowhere.jsonl"], &[]] {
        let (code, _, err) = trace(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
}

/// `flowgate dataset suspect` on a demo arrival: the blast radius equals what the records say
/// (the runs whose gate read the file, the outputs they wrote; the demo has no downstream jobs);
/// `rerun` replays each affected run once, a second `rerun` none; both audited; bad input exits
/// 2 and changes nothing.
fn suspect_marks_shows_the_blast_radius_and_reruns_each_run_once(state: &Path) {
    let runs = flowgate().args(["runs", "--json", "--limit", "1000", "--state"]).arg(state).output().unwrap();
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    // The Tuesday 10:05 file, and independently from the records: who read it, what they wrote.
    let file = "claims/correspondence/2026-11-03T1005Z.csv";
    let readers: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            r["gate"]["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["detail"].as_str().unwrap_or("").contains(&format!("(arrival {file} at")))
        })
        .collect();
    assert!(!readers.is_empty());
    let keys: Vec<String> = readers
        .iter()
        .map(|r| {
            let t = chrono::DateTime::parse_from_rfc3339(r["logical_time"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
            format!("{}@{}", r["job"].as_str().unwrap(), t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        })
        .collect();
    let outputs: Vec<&str> = readers.iter().filter_map(|r| r["output"].as_str()).collect();
    let audit_len = || flowgate().args(["audit", "export", "--state"]).arg(state).output().unwrap().stdout.split(|b| *b == b'\n').count();
    let before = audit_len();
    let ds = |args: &[&str]| {
        let o = flowgate().arg("dataset").args(args).args(["--json", "--by", "dana", "--state"]).arg(state).output().unwrap();
        (
            o.status.code().unwrap(),
            serde_json::from_slice::<Value>(&o.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    // Bad input first: nothing changes.
    for args in [
        &["suspect", "nope", "--arrival", "2026-11-03T1005Z.csv", "--reason", "r"][..],
        &["suspect", "claims_correspondence", "--arrival", "2026-11-03T2359Z.csv", "--reason", "r"],
        &["suspect", "claims_correspondence", "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-02T00:00:00Z", "--reason", "r"],
        &["suspect", "claims_correspondence", "--arrival", "2026-11-03T1005Z.csv", "--reason", " "],
        &["suspect", "claims_correspondence", "--reason", "r"],
    ] {
        let (code, _, err) = ds(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    assert_eq!(audit_len(), before, "bad input changed nothing");

    let (code, v, err) = ds(&["suspect", "claims_correspondence", "--arrival", "2026-11-03T1005Z.csv", "--reason", "producer recall R-17"]);
    assert_eq!(code, 0, "{err}");
    let mut got: Vec<String> = v["blast_radius"]["runs"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    let mut want = keys.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the runs that read it");
    let got_out: Vec<&str> = v["blast_radius"]["outputs"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    assert_eq!(got_out.len(), outputs.len());
    assert!(outputs.iter().all(|o| got_out.contains(o)), "the outputs they wrote");
    assert_eq!(v["blast_radius"]["downstream"].as_object().map(|m| m.len()), Some(0), "no job depends on these in the demo");
    assert!(v["blast_radius"]["held_jobs"].as_array().unwrap().iter().any(|j| j == "classify_correspondence"));

    let (code, v, err) = ds(&["rerun", "claims_correspondence", "--arrival", "2026-11-03T1005Z.csv"]);
    assert_eq!(code, 0, "{err}");
    let mut replayed: Vec<String> = v["outcome"]["replayed"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    replayed.sort();
    assert_eq!(replayed, want, "each affected run replayed");
    let (code, v, _) = ds(&["rerun", "claims_correspondence", "--arrival", "2026-11-03T1005Z.csv"]);
    assert_eq!(code, 0);
    assert_eq!(v["outcome"]["replayed"].as_array().map(Vec::len), Some(0), "exactly once: {v}");
    let audit = String::from_utf8(flowgate().args(["audit", "export", "--state"]).arg(state).output().unwrap().stdout).unwrap();
    let events: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.iter().filter(|e| e["kind"] == "data_suspected" && e["actor"] == "dana").count(), 1);
    assert_eq!(events.iter().filter(|e| e["kind"] == "replayed" && e["actor"] == "dana").count(), want.len());
    let (code, v, err) = ds(&["clear", "claims_correspondence", "--arrival", "2026-11-03T1005Z.csv", "--reason", "recall withdrawn"]);
    assert_eq!((code, v["outcome"]["cleared"].as_u64()), (0, Some(1)), "{err}");
}
