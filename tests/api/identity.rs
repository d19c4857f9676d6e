//! Tokens without secrets: the managed identity client against a fake endpoint, caching and
//! refresh before expiry, one refresh in flight, errors that say whether retrying helps; and a
//! rejected (expired) token refreshed once by the job runner.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use flowgate::adapters::azure::identity::{resource_for, AppServiceIdentity, CachedTokens};
use flowgate::adapters::http::{BearerSource, HttpRunner};
use flowgate::ports::{JobRequest, JobRunner, RunnerError, TokenSource};

#[path = "../fakes/identity.rs"]
pub mod fake_identity;

#[tokio::test]
async fn managed_identity_tokens_are_cached_refreshed_and_single_flight() {
    let fake = fake_identity::FakeIdentity::default();
    let url = fake.start().await;
    let mi = Arc::new(AppServiceIdentity::new(url.clone(), "header-value".into(), Some("client-123".into())));
    let cached = Arc::new(CachedTokens::new(mi));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = cached.clone();
        tasks.push(tokio::spawn(async move { c.token("https://ml.azure.com").await.unwrap() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().secret(), "t1");
    }
    assert_eq!(fake.calls.lock().unwrap().len(), 1, "eight callers, one request");
    let q = fake.calls.lock().unwrap()[0].clone();
    assert_eq!(
        (q["resource"].as_str(), q["api-version"].as_str(), q["client_id"].as_str()),
        ("https://ml.azure.com", "2019-08-01", "client-123")
    );
    // Another resource has its own token.
    assert_eq!(cached.token("https://storage.azure.com").await.unwrap().secret(), "t2");
    // A token about to expire (inside the five-minute margin) is refreshed.
    *fake.lifetime_secs.lock().unwrap() = 60;
    cached.invalidate("https://ml.azure.com").await;
    assert_eq!(cached.token("https://ml.azure.com").await.unwrap().secret(), "t3");
    assert_eq!(cached.token("https://ml.azure.com").await.unwrap().secret(), "t4");
    // Errors say whether retrying helps; the token never shows in Debug output.
    fake.errors.lock().unwrap().extend([500, 400]);
    let plain = AppServiceIdentity::new(url, "header-value".into(), None);
    assert!(plain.token("https://ml.azure.com").await.unwrap_err().retryable);
    let e = plain.token("https://ml.azure.com").await.unwrap_err();
    assert!(!e.retryable, "{e}");
    let t = plain.token("https://ml.azure.com").await.unwrap();
    assert!(!format!("{t:?}").contains(t.secret()));
}

#[test]
fn resources_by_host() {
    assert_eq!(resource_for("https://claims.uksouth.inference.ml.azure.com/score"), Some("https://ml.azure.com"));
    assert_eq!(resource_for("https://acct.services.ai.azure.com/api/projects/p"), Some("https://ai.azure.com"));
    assert_eq!(resource_for("http://127.0.0.1:18089/score"), None);
}

/// A bearer source whose first token the endpoint rejects as expired.
struct Rotating {
    issued: AtomicUsize,
    invalidated: AtomicUsize,
}

#[async_trait]
impl BearerSource for Rotating {
    async fn bearer(&self, _: &str) -> Result<Option<String>, RunnerError> {
        Ok(Some(format!("token-{}", self.issued.fetch_add(1, Ordering::SeqCst) + 1)))
    }
    async fn invalidate(&self, _: &str) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once() {
    use axum::http::{HeaderMap, StatusCode};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/score",
        axum::routing::post(|h: HeaderMap| async move {
            match h.get("authorization").and_then(|v| v.to_str().ok()) {
                Some("Bearer token-1") => (StatusCode::UNAUTHORIZED, "{\"error\":\"token expired\"}"),
                Some(_) => (StatusCode::OK, "{\"ok\":true}"),
                None => (StatusCode::UNAUTHORIZED, "{}"),
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let source = Arc::new(Rotating { issued: AtomicUsize::new(0), invalidated: AtomicUsize::new(0) });
    let runner = HttpRunner::new(Some(source.clone())).unwrap();
    let req = JobRequest {
        endpoint: url,
        deployment: None,
        body: serde_json::json!({}),
        timeout: std::time::Duration::from_secs(5),
        correlation_id: "t".into(),
    };
    assert_eq!(runner.invoke(&req).await.unwrap(), serde_json::json!({"ok": true}));
    assert_eq!(source.invalidated.load(Ordering::SeqCst), 1);
    assert_eq!(source.issued.load(Ordering::SeqCst), 2);
}
