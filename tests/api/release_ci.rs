//! Releases as the gate of other systems: an Azure Pipelines check in callback mode (answered at
//! once, decided later, exactly one `TaskCompleted` per task) and a GitHub deployment protection
//! rule (signed deliveries only; approve only the commit of a release whose gate passes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use flowgate::domain::principal::Principal;
use flowgate::domain::release::external::github_signature;
use flowgate::flows::releases;
use flowgate::ports::queues;
use serde_json::{json, Value};

use crate::helpers::{app_with, client_principal, TestApp};
use crate::releases::Workspace;

#[path = "../fakes/ci_gates.rs"]
mod ci_gates;
use ci_gates::FakeCi;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A scoring endpoint that takes `delay` to answer (a gate slower than the 3 s a check has).
async fn slow_endpoint(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/score",
        axum::routing::post(move || async move {
            tokio::time::sleep(delay).await;
            axum::Json(json!({"label": "fnol"}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/score")
}

async fn approved_release(app: &TestApp, w: &Workspace, commit: &str) -> flowgate::domain::release::ReleaseId {
    let d = app.deps.release_deps();
    let now = Utc::now();
    let person = |n: &str| Principal::development(n, ["Release.Approver".to_string()]);
    let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
    let id = releases::propose(&d, bundle, &person("alice"), Some(commit.into()), "catalog.yaml", now).await.unwrap().id;
    releases::approve(&d, &id, &person("bob"), now).await.unwrap();
    id
}

fn http(method_body: &str, headers: Value, principal: Option<&str>, function: &str) -> String {
    let mut headers = headers;
    if let Some(p) = principal {
        headers["x-ms-client-principal"] = json!([p]);
    }
    json!({
        "Data": {"req": {"Url": format!("https://app/api/{function}"), "Method": "POST", "Query": {}, "Headers": headers, "Params": {},
            "Identities": [], "Body": method_body}},
        "Metadata": {"sys": {"MethodName": function, "UtcNow": Utc::now().to_rfc3339(), "RandGuid": "x"}}
    })
    .to_string()
}

fn res(v: &Value) -> (u64, Value) {
    let r = &v["Outputs"]["res"];
    (r["statusCode"].as_u64().unwrap(), serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
}

/// Delivers every message waiting on the `checks` queue to CompleteCheck, as the host would.
async fn drain_checks(app: &TestApp) -> usize {
    let mut n = 0;
    while let Some(m) = app.queue.receive(queues::CHECKS, Utc::now()).await.unwrap() {
        let env = json!({"Data": {"msg": m.body}, "Metadata": {"MessageId": m.message_id, "DeliveryCount": m.delivery_count,
            "sys": {"MethodName": "CompleteCheck", "UtcNow": Utc::now().to_rfc3339(), "RandGuid": "x"}}});
        let (status, v) = crate::helpers::invoke(app, "CompleteCheck", env.to_string()).await;
        assert_eq!(status, 200, "{v}");
        app.queue.complete(&m.lock_token, Utc::now()).await.unwrap();
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_check_answers_at_once_and_posts_one_task_completed() {
    let fake = FakeCi::default();
    let base = fake.start().await;
    let slow = slow_endpoint(Duration::from_millis(3500)).await;
    let w = Workspace::new("0 0 9 * * *", "  approvals: 1\n");
    let app = app_with(crate::helpers::CATALOG, "http://127.0.0.1:9/score");
    app.set("REL_SCORING_URL", &slow);
    app.set("WEBSITE_AUTH_ENABLED", "true");
    app.set("FLOWGATE_PIPELINES_ALLOWED_URLS", &format!("{base}/"));
    let id = approved_release(&app, &w, SHA).await;
    let pipeline = client_principal("t-1", "o-pipeline", "ado-service-connection", &[]);
    let token = "job-token-never-to-be-stored-0123456789";
    let headers = |task: &str, plan_url: &str| {
        json!({"PlanUrl": [plan_url], "ProjectId": ["proj-1"], "HubName": ["checks"], "PlanId": ["plan-9"], "JobId": ["job-3"],
            "TimelineId": ["tl-1"], "TaskInstanceId": [task], "AuthToken": [token], "Content-Type": ["application/json"]})
    };
    let body = json!({"commit": SHA}).to_string();

    let started = Instant::now();
    let (_, v) = crate::helpers::invoke(
        &app,
        "PipelineCheck",
        http(&body, headers("task-1", &format!("{base}/contoso/")), Some(&pipeline), "PipelineCheck"),
    )
    .await;
    let answered_in = started.elapsed();
    assert_eq!(res(&v), (200, json!({"status": "queued", "duplicate": false})));
    assert!(answered_in < Duration::from_secs(3), "answered in {answered_in:?}");
    // The same task asked again (a retried HTTP call) is not queued twice.
    let (_, v) = crate::helpers::invoke(
        &app,
        "PipelineCheck",
        http(&body, headers("task-1", &format!("{base}/contoso/")), Some(&pipeline), "PipelineCheck"),
    )
    .await;
    assert_eq!(res(&v).1["duplicate"], true);

    let started = Instant::now();
    assert_eq!(drain_checks(&app).await, 1);
    assert!(started.elapsed() >= Duration::from_millis(3500), "the gate (a slow smoke request) took longer than the check may wait");
    let posted = fake.at("/plans/plan-9/events");
    assert_eq!(posted.len(), 1, "exactly one TaskCompleted");
    assert_eq!(posted[0].path, "/contoso/proj-1/_apis/distributedtask/hubs/checks/plans/plan-9/events");
    assert_eq!(posted[0].bearer, token);
    assert_eq!(posted[0].body, json!({"name": "TaskCompleted", "taskId": "task-1", "jobId": "job-3", "result": "succeeded"}));

    // A redelivered message posts nothing more.
    let msg = flowgate::domain::release::external::CheckMessage::AzurePipelines {
        task: flowgate::domain::release::external::PipelineTask::from_headers(
            &|k| headers("task-1", &format!("{base}/contoso/"))[k][0].as_str().map(str::to_string),
            &[format!("{base}/")],
        )
        .unwrap(),
        auth_token: token.into(),
        release: None,
        commit: Some(SHA.into()),
    };
    assert_eq!(releases::external::complete(&app.deps, &msg, Utc::now()).await.unwrap(), releases::external::Completed::AlreadyAnswered);
    assert_eq!(fake.at("/plans/plan-9/events").len(), 1);

    // An unknown commit fails the check; a PlanUrl outside the allow-list is refused outright.
    let other = json!({"commit": "f".repeat(40)}).to_string();
    crate::helpers::invoke(
        &app,
        "PipelineCheck",
        http(&other, headers("task-2", &format!("{base}/contoso/")), Some(&pipeline), "PipelineCheck"),
    )
    .await;
    drain_checks(&app).await;
    assert_eq!(fake.at("/plans/plan-9/events").last().unwrap().body["result"], "failed");
    let (_, v) = crate::helpers::invoke(
        &app,
        "PipelineCheck",
        http(&body, headers("task-3", "https://evil.example/"), Some(&pipeline), "PipelineCheck"),
    )
    .await;
    let (status, b) = res(&v);
    assert_eq!(status, 400);
    assert!(b["error"].as_str().unwrap().contains("not an allowed PlanUrl"));
    let (_, v) =
        crate::helpers::invoke(&app, "PipelineCheck", http(&body, headers("task-4", &format!("{base}/contoso/")), None, "PipelineCheck"))
            .await;
    assert_eq!(res(&v).0, 401, "no trusted caller");

    // The job's token was used, never kept: not in the Store, the audit trail or the queue.
    for f in ["state.db", "audit.db", "queues.db", "state.db-wal", "audit.db-wal"] {
        if let Ok(bytes) = std::fs::read(app.dir.path().join(f)) {
            assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()), "the token is in {f}");
        }
    }
    let _ = id;
}

#[tokio::test]
async fn the_github_gate_approves_only_the_commit_of_a_release_that_passes() {
    let fake = FakeCi::default();
    let base = fake.start().await;
    let w = Workspace::new("0 0 9 * * *", "  approvals: 1\n  checks: {smoke: false}\n");
    let mut app = app_with(crate::helpers::CATALOG, "http://127.0.0.1:9/score");
    let secret_file = app.dir.path().join("github-webhook-secret");
    std::fs::write(&secret_file, "whsec-test\n").unwrap();
    let token = flowgate::ports::AccessToken::new("vault-token", Utc::now() + chrono::Duration::hours(1));
    let tokens =
        Arc::new(flowgate::adapters::azure::identity::CachedTokens::new(Arc::new(flowgate::adapters::azure::identity::StaticToken(token))));
    let settings = flowgate::adapters::http::GitHubAppSettings {
        app_id: "123456".into(),
        key_url: format!("{base}/keys/github-app"),
        secret: flowgate::adapters::http::ci::Secret::File(secret_file),
        api: base.clone(),
    };
    app.deps.github = Some(Arc::new(flowgate::adapters::http::GitHubApp::new(settings, tokens).unwrap()));
    approved_release(&app, &w, SHA).await;

    let payload = |sha: &str, run: u32| {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/github-deployment-protection-rule.json"))
            .unwrap()
            .replace("SHA", sha)
            .replace("CALLBACK", &base)
            .replace("runs/4242", &format!("runs/{run}"))
    };
    let deliver = |body: String, signature: Option<String>| {
        let mut headers =
            json!({"X-GitHub-Event": ["deployment_protection_rule"], "X-GitHub-Delivery": ["d-1"], "Content-Type": ["application/json"]});
        if let Some(s) = signature {
            headers["X-Hub-Signature-256"] = json!([s]);
        }
        http(&body, headers, None, "GitHubGate")
    };
    // A forged delivery: 401, audited, nothing queued.
    let body = payload(SHA, 4242);
    let (_, v) = crate::helpers::invoke(&app, "GitHubGate", deliver(body.clone(), Some(github_signature(b"wrong", body.as_bytes())))).await;
    assert_eq!(res(&v).0, 401);
    let (_, v) = crate::helpers::invoke(&app, "GitHubGate", deliver(body.clone(), None)).await;
    assert_eq!(res(&v).0, 401);
    assert_eq!(drain_checks(&app).await, 0);

    let (_, v) =
        crate::helpers::invoke(&app, "GitHubGate", deliver(body.clone(), Some(github_signature(b"whsec-test", body.as_bytes())))).await;
    assert_eq!(res(&v), (200, json!({"status": "queued", "duplicate": false})));
    let unknown = payload(&"e".repeat(40), 4343);
    crate::helpers::invoke(&app, "GitHubGate", deliver(unknown.clone(), Some(github_signature(b"whsec-test", unknown.as_bytes())))).await;
    assert_eq!(drain_checks(&app).await, 2);

    let approved = fake.at("/runs/4242/deployment_protection_rule");
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].bearer, "ghs_installation_555", "posted as the app's installation");
    assert_eq!(approved[0].body["state"], "approved");
    assert_eq!(approved[0].body["environment_name"], "production");
    let rejected = fake.at("/runs/4343/deployment_protection_rule");
    assert_eq!(rejected[0].body["state"], "rejected");
    assert!(rejected[0].body["comment"].as_str().unwrap().contains("no release was proposed from commit"), "{:?}", rejected[0].body);
    assert!(rejected[0].body["comment"].as_str().unwrap().len() <= 1024);
    // The app JWT was signed by Key Vault and names the app.
    let tokens = fake.at("/app/installations/555/access_tokens");
    let parts: Vec<&str> = tokens[0].bearer.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], "123456");
    assert_eq!(fake.at("/keys/github-app/sign")[0].body["alg"], "RS256");
    assert_eq!(fake.at("/keys/github-app/sign")[0].bearer, "vault-token");
}
