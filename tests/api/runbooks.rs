//! The runbooks cannot rot: every command in a `sh` block of `docs/runbooks/*.md` runs, as a
//! shell would run it, against a copy of a demo week's state (`.flowgate/…` is that copy; a word
//! in angle brackets is filled from the state). A command that exits 2 (unusable input: a wrong
//! option, a missing argument) or panics fails the test. Blocks marked `azure` are not run.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shell commands of a Markdown page's `sh` blocks (comment lines skipped).
pub fn sh_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let fence = line.trim_start();
        if let Some(rest) = fence.strip_prefix("```") {
            inside = !inside && rest.trim() == "sh";
            continue;
        }
        if inside && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            out.push(line.trim().to_string());
        }
    }
    out
}

/// What the placeholders stand for in this state.
fn placeholders(state: &Path) -> Vec<(&'static str, String)> {
    let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let items: Vec<String> = db
        .prepare("SELECT body FROM entities WHERE tbl = 'quarantine'")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let item: Value =
        items.iter().map(|b| serde_json::from_str::<Value>(b).unwrap()).find(|v| v["status"] == "open").expect("an open item");
    let blob = item["evidence"]["blob"].as_str().unwrap_or_default();
    let list = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["release", "list", "--json", "--state"]).arg(state).output().unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let active = list["active"]["release"].as_str().unwrap().to_string();
    let earlier = list["active"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["release"].as_str())
        .find(|r| *r != active)
        .expect("a release that was active before")
        .to_string();
    let runs = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["runs", "--json", "--state"]).arg(state).output().unwrap();
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    let output = runs.iter().find_map(|r| r["output"].as_str()).expect("a run that wrote an output").to_string();
    // A file a succeeded run read (its gate names it), before the week's last arrival.
    let read = runs
        .iter()
        .rev()
        .filter(|r| r["status"] == "succeeded")
        .find_map(|r| r["gate"]["checks"][0]["detail"].as_str().and_then(|d| d.split("(arrival ").nth(1)).and_then(|d| d.split(' ').next()))
        .expect("a run that read an arrival")
        .to_string();
    vec![
        ("<output>", output),
        ("<suspect-file>", read.rsplit('/').next().unwrap().to_string()),
        ("<job>", "classify_correspondence".into()),
        ("<catalog>", "examples/claims/catalog.yaml".into()),
        ("<quarantine-id>", item["id"].as_str().unwrap().to_string()),
        ("<bad-file>", blob.rsplit('/').next().unwrap().to_string()),
        ("<release>", earlier[..12].to_string()),
        ("<from>", FROM.into()),
        ("<to>", "2026-11-30T00:00:00Z".into()),
    ]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The demo week whose release story ends in a rollback.
const FROM: &str = "2026-11-23T00:00:00Z";

#[test]
fn every_runbook_command_runs_against_a_demo_state() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    // A week: a broken file on Monday (quarantined, its run blocked), a canary promoted and
    // then rolled back.
    let out = Command::new(env!("CARGO_BIN_EXE_flowgate"))
        .args(["local", "--demo", "--from", FROM, "--days", "7", "--state"])
        .arg(&demo)
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let values = placeholders(&demo);
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_flowgate")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs/runbooks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 9, "{pages:?}");
    let mut ran = 0;
    let mut failures = Vec::new();
    for page in &pages {
        let name = page.file_name().unwrap().to_string_lossy().to_string();
        // Each page works on its own copy: its commands may change the state.
        let work = dir.path().join(name.trim_end_matches(".md"));
        copy_dir(&demo, &work.join("demo"));
        for cmd in sh_commands(&std::fs::read_to_string(page).unwrap()) {
            assert!(cmd.starts_with("flowgate "), "{name}: only flowgate commands run here: {cmd}");
            let mut line = cmd.replace(".flowgate/", &format!("{}/", work.display()));
            for (k, v) in &values {
                line = line.replace(k, v);
            }
            assert!(!line.contains('<'), "{name}: an unknown placeholder in {cmd}");
            let o = Command::new("sh")
                .arg("-c")
                .arg(&line)
                .env("PATH", &path)
                .env("USER", "runbook-test")
                .current_dir(root())
                .output()
                .unwrap();
            let code = o.status.code().unwrap_or(-1);
            let stderr = String::from_utf8_lossy(&o.stderr);
            if !matches!(code, 0 | 1) || stderr.contains("panicked") {
                failures.push(format!("{name}: `{cmd}` exited {code}: {stderr}"));
            }
            ran += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A reader that stops early (`| head`) ends flowgate quietly, not with a panic.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("flowgate audit export --state {} | head -1", demo.display()))
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ran >= 30, "{ran} commands");
    eprintln!("ran {ran} runbook commands from {} pages", pages.len());
}
