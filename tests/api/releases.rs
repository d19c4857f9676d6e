//! Releases as people and pipelines use them: through the CLI on a state folder (development
//! identities), through the flows, and through the Releases HTTP function with Easy Auth
//! principals; approvals bound to content, provable from the audit chain; one active pointer.

use std::path::{Path, PathBuf};
use std::process::Command;

use flowgate::domain::principal::Principal;
use flowgate::domain::release::ReleaseId;
use flowgate::flows::releases::{self as releases, records, ReleaseDeps};
use serde_json::Value;

pub fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("GITHUB_SHA").env_remove("BUILD_SOURCEVERSION");
    c
}

/// A catalog folder: the example's contracts and samples, and a catalog with one scheduled job.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

pub const IDENTITIES: &str = "alice: [Release.Approver]
bob: [Release.Approver]
carol: [Release.Approver]
erin: [Release.Emergency]
olga: []
";

impl Workspace {
    pub fn new(schedule: &str, releases_yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/claims");
        for sub in ["contracts", "samples"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            for f in std::fs::read_dir(root.join(sub)).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
            }
        }
        let w = Self { dir };
        w.write_catalog(schedule, releases_yaml);
        std::fs::create_dir_all(w.state()).unwrap();
        std::fs::write(w.state().join("identities.yaml"), IDENTITIES).unwrap();
        w
    }

    pub fn write_catalog(&self, schedule: &str, releases_yaml: &str) {
        let text = format!(
            "version: 1
timezone: Europe/London
datasets:
  claims_correspondence:
    location: landing/claims/correspondence/
    format: csv
    contract: contracts/claims_correspondence.odcs.yaml
jobs:
  classify:
    kind: http
    endpoint: ${{REL_SCORING_URL:-http://127.0.0.1:9/score}}
    schedule: \"{schedule}\"
    request:
      body: {{text: hello}}
releases:
{releases_yaml}"
        );
        std::fs::write(self.catalog(), text).unwrap();
    }

    pub fn catalog(&self) -> PathBuf {
        self.dir.path().join("catalog.yaml")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn contract(&self) -> PathBuf {
        self.dir.path().join("contracts/claims_correspondence.odcs.yaml")
    }

    /// `flowgate release ARGS --state S [--as WHO]`: exit code, stdout, stderr.
    pub fn release(&self, who: Option<&str>, args: &[&str]) -> (i32, String, String) {
        let mut c = flowgate();
        c.arg("release").args(args).arg("--state").arg(self.state());
        if let Some(w) = who {
            c.args(["--as", w]);
        }
        let out = c.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Proposes the catalog as it is now; its id.
    pub fn propose(&self, who: &str) -> String {
        let catalog = self.catalog().display().to_string();
        let (code, out, err) = self.release(Some(who), &["propose", "--catalog", &catalog, "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    /// Writes the catalog with `schedule`, proposes it (alice), has bob and carol approve it and
    /// alice promote it; its id.
    pub fn released(&self, schedule: &str, releases_yaml: &str) -> String {
        self.write_catalog(schedule, releases_yaml);
        let id = self.propose("alice");
        self.ok(Some("bob"), &["approve", &id]);
        self.ok(Some("carol"), &["approve", &id]);
        self.ok(Some("alice"), &["promote", &id]);
        id
    }

    pub fn ok(&self, who: Option<&str>, args: &[&str]) -> String {
        let (code, out, err) = self.release(who, args);
        assert_eq!(code, 0, "flowgate release {args:?} as {who:?}: {err}{out}");
        out
    }

    pub fn plan(&self, catalog: Option<&Path>) -> String {
        let mut c = flowgate();
        c.args(["plan", "--from", "2026-11-23T00:00:00Z", "--hours", "48", "--state"]).arg(self.state());
        if let Some(cat) = catalog {
            c.arg("--catalog").arg(cat);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Checks with no network: the smoke request is turned off, the sample is checked.
const NO_SMOKE: &str = "  approvals: 2
  checks:
    smoke: false
    samples:
      claims_correspondence: samples/claims_correspondence.csv
";

#[test]
fn a_release_is_proposed_approved_by_two_others_promoted_and_rolled_back() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let a = w.propose("alice");
    assert_eq!(a.len(), 64);
    assert_eq!(w.propose("bob"), a, "the same content is the same release");

    // Self-approval and approvals without the role are refused, and audited.
    let (code, _, err) = w.release(Some("alice"), &["approve", &a]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("proposed this release and may not approve it"), "{err}");
    let (code, _, err) = w.release(Some("olga"), &["approve", &a[..10]]);
    assert_eq!(code, 1);
    assert!(err.contains("does not hold the role `Release.Approver`"), "{err}");
    let (code, out, _) = w.release(None, &["gate-check", &a]);
    assert_eq!(code, 1);
    assert!(out.contains("0 of 2 required approval(s)"), "{out}");

    w.ok(Some("bob"), &["approve", &a]);
    w.ok(Some("carol"), &["approve", &a]);
    let out = w.ok(None, &["gate-check", &a]);
    assert!(out.contains("gate PASSED") && out.contains("pass sample"), "{out}");
    // Bob asking for the promotion would not count his own approval.
    let (code, out, err) = w.release(Some("bob"), &["promote", &a]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("the person asking for promotion may not approve"), "{err}");
    w.ok(Some("alice"), &["promote", &a]);
    let plan_a = w.plan(None);
    assert_eq!(plan_a, w.plan(Some(&w.catalog())), "plan --state plans the active release");

    // One byte more in a contract: a new release with no approvals.
    let mut contract = std::fs::read(w.contract()).unwrap();
    contract.push(b'\n');
    std::fs::write(w.contract(), contract).unwrap();
    w.write_catalog("0 30 10 * * *", NO_SMOKE);
    let b = w.propose("alice");
    assert_ne!(a, b);
    let status: Value = serde_json::from_str(&w.ok(None, &["status", &b, "--json"])).unwrap();
    assert_eq!(status["verdict"]["approvals"].as_array().unwrap().len(), 0);
    assert_eq!(status["record"]["parent"], a.as_str());
    w.ok(Some("bob"), &["approve", &b]);
    w.ok(Some("carol"), &["approve", &b]);
    w.ok(Some("alice"), &["promote", &b]);
    let plan_b = w.plan(None);
    assert_ne!(plan_a, plan_b, "the new release's schedule is planned");

    // Rollback: one step, no approvals, and the plan is the target's again, byte for byte.
    let (code, out, err) = w.release(Some("olga"), &["rollback", "--to", &a]);
    assert_eq!(code, 1, "{out}{err}");
    let out = w.ok(Some("bob"), &["rollback", "--to", &a[..12]]);
    assert!(out.contains("rollback"), "{out}");
    assert_eq!(w.plan(None), plan_a);
    let list: Value = serde_json::from_str(&w.ok(None, &["list", "--json"])).unwrap();
    assert_eq!(list["active"]["release"], a.as_str());
    assert_eq!(list["active"]["generation"], 3);
    assert_eq!(list["releases"].as_array().unwrap().len(), 2);

    // Bad input: exit 2 and nothing changed.
    w.write_catalog("0 0 12 * * *", NO_SMOKE);
    let c = w.propose("alice");
    for (who, args, needle) in [
        (Some("bob"), vec!["rollback", "--to", c.as_str()], "was never active"),
        (Some("bob"), vec!["rollback", "--to", "xyz"], "is not a release id"),
        (Some("bob"), vec!["approve", &"0".repeat(64)], "it was never proposed"),
        (Some("bob"), vec!["approve", "00000000"], "no proposed release has that id"),
        (Some("mallory"), vec!["approve", c.as_str()], "is not declared"),
        (None, vec!["approve", c.as_str()], "--as NAME"),
    ] {
        let (code, _, err) = w.release(who, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    w.ok(Some("bob"), &["reject", &c, "--reason", "schedule clashes with the month-end batch"]);
    let (code, _, err) = w.release(Some("carol"), &["approve", &c]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("was rejected by dev:bob"), "{err}");
    w.write_catalog("0 0 12 * * *", "  approvals: 0\n  windows:\n    allow:\n      - {from: \"25:00\", to: \"08:00\"}\n");
    let (code, _, err) = w.release(Some("alice"), &["propose", "--catalog", &w.catalog().display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("catalog.yaml:16:14: `approvals` must be at least 1"), "{err}");
    assert!(err.contains("`25:00` is not a time of day"), "{err}");
    let list: Value = serde_json::from_str(&w.ok(None, &["list", "--json"])).unwrap();
    assert_eq!(list["releases"].as_array().unwrap().len(), 3, "the bad catalog proposed nothing");
    assert_eq!(list["active"]["release"], a.as_str());

    // Every step is in the audit chain, and the chain verifies.
    let out = flowgate().args(["audit", "verify", "--state"]).arg(w.state()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = flowgate().args(["audit", "export", "--state"]).arg(w.state()).output().unwrap();
    let kinds: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "release_proposed",
        "release_approved",
        "release_refused",
        "release_checked",
        "release_promoted",
        "release_rolled_back",
        "release_rejected",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }
}

#[test]
fn a_promotion_inside_a_freeze_needs_the_emergency_path_and_a_second_persons_review() {
    let frozen = format!(
        "{NO_SMOKE}  windows:\n    freeze:\n      - {{from: \"2000-01-01T00:00\", to: \"2100-01-01T00:00\", reason: change freeze}}\n"
    );
    let w = Workspace::new("0 0 9 * * *", &frozen);
    let a = w.propose("alice");
    w.ok(Some("bob"), &["approve", &a]);
    w.ok(Some("carol"), &["approve", &a]);
    let (code, _, err) = w.release(Some("alice"), &["promote", &a]);
    assert_eq!(code, 1);
    assert!(err.contains("inside the freeze") && err.contains("change freeze"), "{err}");
    let (code, _, err) = w.release(Some("alice"), &["promote", &a, "--emergency", "--reason", "outage", "--incident", "INC-7"]);
    assert_eq!(code, 1, "the emergency path needs Release.Emergency: {err}");
    let (code, _, _) = w.release(Some("erin"), &["promote", &a, "--emergency"]);
    assert_eq!(code, 2, "--emergency needs --reason and --incident");
    w.ok(Some("erin"), &["promote", &a, "--emergency", "--reason", "claims backlog outage", "--incident", "INC-7"]);
    let status: Value = serde_json::from_str(&w.ok(None, &["status", &a, "--json"])).unwrap();
    assert_eq!(status["state"], "active");
    assert_eq!(status["review_state"], "open");
    assert_eq!(status["emergency"]["incident"], "INC-7");
    let (code, _, err) = w.release(Some("erin"), &["review", &a]);
    assert_eq!(code, 1, "the person who made the change cannot review it: {err}");
    w.ok(Some("bob"), &["review", &a]);
    let status: Value = serde_json::from_str(&w.ok(None, &["status", &a, "--json"])).unwrap();
    assert_eq!(status["review_state"], "reviewed");
}

#[test]
fn solo_mode_allows_self_approval_and_says_so() {
    let w = Workspace::new("0 0 9 * * *", "  solo: true\n  checks: {smoke: false}\n");
    let a = w.propose("alice");
    let out = w.ok(Some("alice"), &["approve", &a]);
    assert!(out.contains("self-approved: solo mode"), "{out}");
    w.ok(Some("alice"), &["promote", &a]);
    let out = w.ok(None, &["status", &a]);
    assert!(out.contains("SELF-APPROVED") && out.contains("solo mode"), "{out}");
    let out = w.ok(None, &["list"]);
    assert!(out.contains("1 (1 self)"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Through the flows.

fn dev(name: &str) -> Principal {
    Principal::development(name, ["Release.Approver".to_string()])
}

pub fn local_deps(state: &Path) -> ReleaseDeps {
    use std::sync::Arc;
    ReleaseDeps {
        store: Arc::new(flowgate::adapters::local::SqliteStore::open(&state.join("state.db")).unwrap()),
        audit: Arc::new(flowgate::adapters::local::SqliteAudit::open(&state.join("audit.db")).unwrap()),
        content: Arc::new(flowgate::adapters::local::FileBlobs::new(state)),
        runner: Arc::new(flowgate::adapters::http::HttpRunner::new(None).unwrap()),
        endpoints: Arc::new(flowgate::adapters::http::HttpRunner::new(None).unwrap()),
        settings: Arc::new(|_: &str| None),
        azure: false,
    }
}

pub async fn proposed_and_approved(d: &ReleaseDeps, w: &Workspace) -> ReleaseId {
    let now = chrono::Utc::now();
    let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
    let p = releases::propose(d, bundle, &dev("alice"), None, "catalog.yaml", now).await.unwrap();
    for who in ["bob", "carol"] {
        releases::approve(d, &p.id, &dev(who), now).await.unwrap();
    }
    p.id
}

#[tokio::test]
async fn an_approval_row_written_into_the_store_does_not_count() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let d = local_deps(&w.state());
    let now = chrono::Utc::now();
    let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
    let id = releases::propose(&d, bundle, &dev("alice"), None, "catalog.yaml", now).await.unwrap().id;
    let real = releases::approve(&d, &id, &dev("bob"), now).await.unwrap().approval;
    // Carol's approval written by hand: once with no event, once copying Bob's event.
    let mut forged = real.clone();
    forged.by = dev("carol");
    d.store.insert(records::TABLE, id.as_str(), "approval|dev:carol", &serde_json::to_value(&forged).unwrap()).await.unwrap();
    forged.by = dev("dave");
    forged.audit_seq = 999;
    d.store.insert(records::TABLE, id.as_str(), "approval|dev:dave", &serde_json::to_value(&forged).unwrap()).await.unwrap();
    let checked = releases::gate_check(&d, &id, None, false, now).await.unwrap();
    assert!(!checked.verdict.passed);
    let counted: Vec<_> = checked.verdict.approvals.iter().filter(|a| a.counted).map(|a| a.by.clone()).collect();
    assert_eq!(counted, vec!["dev:bob".to_string()]);
    for a in checked.verdict.approvals.iter().filter(|a| !a.counted) {
        assert!(a.why_not.as_deref().unwrap().contains("not backed by the verified audit chain"), "{a:?}");
    }
}

#[test]
fn two_concurrent_promotions_exactly_one_wins() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let d = local_deps(&w.state());
    let a = rt.block_on(proposed_and_approved(&d, &w));
    w.write_catalog("0 0 10 * * *", NO_SMOKE);
    let b = rt.block_on(proposed_and_approved(&d, &w));
    // Each holds its switch for a moment after reading the pointer, so both read it first.
    let spawn = |id: &ReleaseId| {
        let mut c = flowgate();
        c.args(["release", "promote", id.as_str(), "--as", "alice", "--state"]).arg(w.state());
        c.env("FLOWGATE_CHAOS_PAUSE_BEFORE_SWITCH_MS", "3000");
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let (x, y) = (spawn(&a), spawn(&b));
    let (x, y) = (x.wait_with_output().unwrap(), y.wait_with_output().unwrap());
    let codes = [x.status.code(), y.status.code()];
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(1)), "exactly one wins: {codes:?}");
    let loser = if x.status.success() { &y } else { &x };
    assert!(
        String::from_utf8_lossy(&loser.stderr).contains("switched the active release first"),
        "{}",
        String::from_utf8_lossy(&loser.stderr)
    );
    let (pointer, _) = rt.block_on(records::pointer(d.store.as_ref())).unwrap().unwrap();
    assert_eq!((pointer.generation, pointer.recorded), (1, true));
    let winner = if x.status.success() { &a } else { &b };
    assert_eq!(&pointer.release, winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_the_deployed_state_go_through_the_releases_function_as_the_signed_in_person() {
    use std::sync::{Arc, Mutex};
    let id = crate::identity::fake_identity::FakeIdentity::default();
    *id.lifetime_secs.lock().unwrap() = 3600;
    let identity_url = id.start().await;
    // A stand-in for the Releases function behind App Service: records what the CLI sends.
    type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/releases", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route(
            "/api/releases",
            axum::routing::post(
                |axum::extract::State(seen): axum::extract::State<Seen>,
                 headers: axum::http::HeaderMap,
                 axum::Json(body): axum::Json<Value>| async move {
                    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    seen.lock().unwrap().push((h("authorization"), h("x-functions-key"), body.clone()));
                    if body["action"] == "approve" {
                        return (
                            axum::http::StatusCode::FORBIDDEN,
                            axum::Json(serde_json::json!({"error": "entra:t/o proposed this release and may not approve it"})),
                        );
                    }
                    (axum::http::StatusCode::OK, axum::Json(serde_json::json!({"id": "a".repeat(64), "created": true})))
                },
            ),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let run = |args: Vec<String>| {
        let mut c = flowgate();
        c.arg("release").args(args).args(["--state", "azure"]);
        c.env("IDENTITY_ENDPOINT", &identity_url).env("IDENTITY_HEADER", "header-value");
        c.env("FLOWGATE_RELEASES_URL", &url).env("FLOWGATE_RELEASES_AUDIENCE", "api://flowgate-app").env("FLOWGATE_FUNCTION_KEY", "fk-1");
        c.env_remove("FLOWGATE_TABLE_ENDPOINT");
        c
    };
    let out = tokio::task::spawn_blocking({
        let mut c = run(vec!["propose".into(), "--catalog".into(), w.catalog().display().to_string(), "--commit".into(), "abc".into()]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "a".repeat(64));
    let out = tokio::task::spawn_blocking({
        let mut c = run(vec!["approve".into(), "a".repeat(64)]);
        move || c.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("answered 403"), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].0.starts_with("Bearer t"), "the person's Entra token: {:?}", seen[0].0);
    assert_eq!(seen[0].1, "fk-1");
    assert_eq!(seen[0].2["action"], "propose");
    assert_eq!(seen[0].2["commit"], "abc");
    assert_eq!(seen[0].2["bundle"]["format"], "flowgate.release.v1");
    assert_eq!(id.calls.lock().unwrap()[0]["resource"], "api://flowgate-app", "a token for the app's audience");
    // Without the function's address it says what to set, and exits 2.
    let out = flowgate().args(["release", "approve", "abc", "--state", "azure"]).env_remove("FLOWGATE_RELEASES_URL").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FLOWGATE_RELEASES_URL"));
}

#[test]
fn an_altered_bundle_is_refused_not_run() {
    let w = Workspace::new("0 0 9 * * *", NO_SMOKE);
    let a = w.released("0 0 9 * * *", NO_SMOKE);
    let b = w.released("0 0 10 * * *", NO_SMOKE);
    // Someone edits release A's stored content: a rollback to it is refused, and so is reading it.
    let stored = w.state().join("releases").join(format!("{a}.json"));
    let text = std::fs::read_to_string(&stored).unwrap().replace("0 0 9 * * *", "0 0 3 * * *");
    std::fs::write(&stored, text).unwrap();
    let (code, _, err) = w.release(Some("bob"), &["rollback", "--to", &a]);
    assert_eq!(code, 1);
    assert!(err.contains("was altered after it was proposed"), "{err}");
    let (code, _, err) = w.release(None, &["status", &a]);
    assert_eq!(code, 1);
    assert!(err.contains("altered after it was proposed"), "{err}");
    let list: Value = serde_json::from_str(&w.ok(None, &["list", "--json"])).unwrap();
    assert_eq!(list["active"]["release"], b.as_str(), "nothing changed");
    // A release rejected after it ran is no rollback target either.
    w.released("0 0 11 * * *", NO_SMOKE);
    w.ok(Some("bob"), &["reject", &b, "--reason", "its schedule overloads the endpoint"]);
    let (code, _, err) = w.release(Some("bob"), &["rollback", "--to", &b]);
    assert_eq!(code, 2);
    assert!(err.contains("was rejected by dev:bob since it ran"), "{err}");
}
