//! Personal data never leaves the input: the demo's week of correspondence (every row carries a
//! policyholder's email, a PII column in its contract) runs through `flowgate local` with a job
//! that sends the email to its endpoint and keys its output by it, against an endpoint that echoes
//! its input in answers and in errors. Afterwards no seeded email appears in any file flowgate
//! wrote: state, queues, audit, lineage, alerts, outputs, logs, quarantine records.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use flowgate::local_host::demo;

use crate::helpers::scoring::FakeScoring;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn seeded_emails(landing: &Path) -> Vec<String> {
    let mut files = Vec::new();
    files_under(landing, &mut files);
    let mut emails = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for word in text.split(|c: char| c == ',' || c == '"' || c.is_whitespace()) {
            if word.starts_with("policyholder") && word.ends_with("@example.com") {
                emails.push(word.to_string());
            }
        }
    }
    emails.sort();
    emails.dedup();
    emails
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_seeded_personal_data_appears_in_anything_flowgate_writes() {
    let fake = FakeScoring::default();
    // One refusal that quotes the request (with the email) and one outage, on cue.
    fake.push(400, None);
    for _ in 0..5 {
        fake.push(200, None);
    }
    fake.push(503, None);
    let url = fake.start().await;

    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let contracts = dir.path().join("contracts");
    std::fs::create_dir_all(&contracts).unwrap();
    for name in ["claims_correspondence.odcs.yaml", "urgent_correspondence.odcs.yaml"] {
        std::fs::copy(root.join("examples/claims/contracts").join(name), contracts.join(name)).unwrap();
    }
    let samples = dir.path().join("samples");
    std::fs::create_dir_all(&samples).unwrap();
    for name in ["claims_correspondence.csv", "urgent_correspondence.jsonl"] {
        std::fs::copy(root.join("examples/claims/samples").join(name), samples.join(name)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("evaluation")).unwrap();
    std::fs::copy(root.join("examples/claims/evaluation/dataset.jsonl"), dir.path().join("evaluation/dataset.jsonl")).unwrap();
    // The example catalog, but sending the email and keying outputs by it.
    let catalog = std::fs::read_to_string(root.join("examples/claims/catalog.yaml")).unwrap().replace(
        "        text: body\n      key: claim_id",
        "        text: body\n        contact: policyholder_email\n      key: policyholder_email",
    );
    assert!(catalog.contains("key: policyholder_email"), "the example catalog changed shape");
    let catalog_path = dir.path().join("catalog.yaml");
    std::fs::write(&catalog_path, catalog).unwrap();

    let state = dir.path().join("state");
    let from = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    demo::generate_week(&state.join("data"), from, 2).unwrap();
    let emails = seeded_emails(&state.join("data/landing"));
    assert!(emails.len() > 50, "{} emails seeded", emails.len());

    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(["local", "--from", "2026-11-02T00:00:00Z", "--days", "2", "--catalog"])
            .arg(&catalog_path)
            .arg("--state")
            .arg(&state)
            .env("CLAIMS_SCORING_URL", &url)
            .env("FLOWGATE_RETRY_JITTER", "none")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("quarantined 1"), "the refused run is quarantined: {stdout}");
    let state = dir.path().join("state");

    // The data flowed: outputs are keyed by tokens, and the endpoint saw the emails.
    let mut outputs = Vec::new();
    files_under(&state.join("data/curated"), &mut outputs);
    let text: String = outputs.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    assert!(text.contains("\"policyholder_email\":\"pii_"), "{}", &text[..text.len().min(500)]);
    assert!(fake.calls.lock().unwrap().iter().any(|c| c["contact"].as_str().is_some_and(|e| e.ends_with("@example.com"))));

    // Nothing flowgate wrote holds a seeded email, byte for byte (SQLite files included).
    let mut written = Vec::new();
    files_under(&state, &mut written);
    let landing = state.join("data/landing");
    let mut checked = 0;
    for f in written.iter().filter(|p| !p.starts_with(&landing)) {
        let bytes = std::fs::read(f).unwrap();
        for e in &emails {
            assert!(memchr::memmem::find(&bytes, e.as_bytes()).is_none(), "{} holds {e}", f.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "{checked} files checked: {written:?}");
    // The quarantine record keeps the refusal, tokenized.
    let q = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["quarantine", "list", "--json", "--state"]).arg(&state).output().unwrap();
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(q.contains("scripted 400") && q.contains("pii_"), "{q}");
}
