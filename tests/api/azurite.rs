//! Azure Storage adapters against Azurite, the real storage emulator. `scripts/test` installs it
//! (`npm ci` in tests/azurite), starts it on loopback over HTTPS with OAuth checking (a throwaway
//! self-signed certificate) and sets `FLOWGATE_AZURITE_BLOB`, `FLOWGATE_AZURITE_TABLE` and
//! `FLOWGATE_STORAGE_CA`; it stops Azurite by its PID. Under `scripts/test` a missing Azurite is a
//! failure (`FLOWGATE_REQUIRE_AZURITE=1`); a bare `cargo test` skips these tests and says so.
//!
//! Azurite checks a bearer token's audience, issuer and lifetime but not its signature, so the
//! tests mint an unsigned one: the adapters send it exactly as they send a managed identity's.

use std::sync::Arc;

use base64::Engine;
use flowgate::adapters::azure::identity::StaticToken;
use flowgate::adapters::azure::storage::Storage;
use flowgate::ports::AccessToken;

pub struct Azurite {
    pub blob: String,
    pub table: String,
    pub ca: Vec<u8>,
}

/// The emulator's endpoints, or None (with a note) when the tests run without it.
pub fn azurite() -> Option<Azurite> {
    match (std::env::var("FLOWGATE_AZURITE_BLOB"), std::env::var("FLOWGATE_AZURITE_TABLE"), std::env::var("FLOWGATE_STORAGE_CA")) {
        (Ok(blob), Ok(table), Ok(ca)) => Some(Azurite { blob, table, ca: std::fs::read(ca).expect("FLOWGATE_STORAGE_CA is readable") }),
        _ => {
            assert!(
                std::env::var_os("FLOWGATE_REQUIRE_AZURITE").is_none(),
                "FLOWGATE_REQUIRE_AZURITE is set but Azurite's endpoints are not"
            );
            eprintln!("skipped: Azurite is not running (scripts/test starts it and sets FLOWGATE_AZURITE_*)");
            None
        }
    }
}

/// An unsigned Entra-shaped token for `https://storage.azure.com`, valid for an hour.
pub fn token() -> Arc<StaticToken> {
    let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
        "oid": "11111111-1111-1111-1111-111111111111",
    });
    let jwt = format!("{}.{}.c2lnbmF0dXJl", b64(serde_json::json!({ "alg": "RS256", "typ": "JWT" })), b64(claims));
    Arc::new(StaticToken(AccessToken::new(jwt, chrono::Utc::now() + chrono::Duration::hours(1))))
}

pub fn blob_storage(a: &Azurite) -> Storage {
    Storage::new(&a.blob, token(), Some(&a.ca)).unwrap()
}

pub fn table_storage(a: &Azurite) -> Storage {
    Storage::new(&a.table, token(), Some(&a.ca)).unwrap()
}

/// A container or table name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple()).chars().take(40).collect()
}

mod tables {
    use flowgate::adapters::azure::tables::TableStore;
    use flowgate::ports::{RowRange, Store, Table};

    use super::*;

    /// The same suite the SQLite store passes, against Table Storage in Azurite.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_table_store_meets_the_store_contract() {
        let Some(a) = azurite() else { return };
        let table = Table(Box::leak(unique("contract").into_boxed_str()));
        crate::store_contract::contract_suite(Arc::new(TableStore::new(table_storage(&a))), table).await;
    }

    #[tokio::test]
    async fn keys_with_slashes_and_large_bodies_survive() {
        let Some(a) = azurite() else { return };
        let store = TableStore::new(table_storage(&a));
        let t = Table(Box::leak(unique("keys").into_boxed_str()));
        let row = "2026-11-27T09:00:00.000Z|claims/urgent/a #1?.jsonl";
        let body = serde_json::json!({ "evidence": "x".repeat(200_000), "path": row });
        store.insert(t, "urgent/correspondence", row, &body).await.unwrap();
        let got = store.get(t, "urgent/correspondence", row).await.unwrap().unwrap();
        assert_eq!(got.body, body);
        let rows = store
            .query(t, Some("urgent/correspondence"), RowRange { from: Some("2026-11-27T00".into()), to: Some("2026-11-28".into()) }, 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, row);
        // The ETag a query returns is good for a conditional write.
        store.replace(t, "urgent/correspondence", row, &serde_json::json!({}), &rows[0].etag).await.unwrap();
    }
}

mod report_parity {
    use flowgate::adapters::azure::tables::TableStore;
    use flowgate::adapters::local::SqliteStore;
    use flowgate::domain::report::IsoWeek;

    use super::*;

    /// The weekly report of the same records is the same JSON from SQLite and from Table Storage.
    #[tokio::test]
    async fn sqlite_and_table_storage_give_the_same_report() {
        let Some(a) = azurite() else { return };
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("state.db")).unwrap();
        let tables = TableStore::with_prefix(table_storage(&a), &unique("rpt"));
        crate::report::fill(&sqlite).await;
        crate::report::fill(&tables).await;
        let (week, tz) = (IsoWeek::parse("2026-W48").unwrap(), "Europe/London".parse().unwrap());
        let inputs = flowgate::flows::report::ReportInputs {
            thresholds: [("feed".to_string(), std::time::Duration::from_secs(6 * 3600))].into(),
            ..Default::default()
        };
        let from_sqlite = flowgate::flows::report::weekly(&sqlite, None, week, tz, &inputs).await.unwrap();
        let from_tables = flowgate::flows::report::weekly(&tables, None, week, tz, &inputs).await.unwrap();
        let (x, y) = (serde_json::to_value(&from_sqlite).unwrap(), serde_json::to_value(&from_tables).unwrap());
        assert_eq!(x["this_week"]["success"]["den"], 34, "the fixture is there: {x}");
        assert_eq!(x["freshness"][0]["accepted"], 3, "{x}");
        assert_eq!(x, y);
    }
}

mod audit_blob {
    use chrono::{DateTime, Utc};
    use flowgate::adapters::azure::blob_audit::AppendBlobAudit;
    use flowgate::domain::audit::{verify, AuditDraft, AuditKind};
    use flowgate::ports::AuditSink;

    use super::*;

    fn draft(at: DateTime<Utc>, i: usize) -> AuditDraft {
        AuditDraft {
            at,
            kind: AuditKind::Attempted,
            actor: "system".into(),
            subject: format!("job@{i}"),
            decision: "succeeded on attempt 1".into(),
            evidence: serde_json::json!({ "i": i }),
            invocation_id: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eight_writers_keep_one_chain_across_days_in_append_blobs() {
        let Some(a) = azurite() else { return };
        let container = unique("audit");
        let first = AppendBlobAudit::new(blob_storage(&a), &container);
        first.ensure_container().await.unwrap();
        let day1 = DateTime::parse_from_rfc3339("2026-11-26T23:59:00Z").unwrap().with_timezone(&Utc);
        // Eight writers, each its own instance (its own idea of the tail), appending at once;
        // halfway through, the events move to the next day.
        let mut tasks = Vec::new();
        for w in 0..8 {
            let audit = AppendBlobAudit::new(blob_storage(&a), &container);
            tasks.push(tokio::spawn(async move {
                for i in 0..40 {
                    let at = day1 + chrono::Duration::seconds(i * 3);
                    audit.append(draft(at, w * 1000 + i as usize)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let events = first.read(None, None).await.unwrap();
        assert_eq!(events.len(), 320);
        assert_eq!(verify(&events).map_err(|b| b.why).unwrap(), Some(events.last().unwrap().hash.clone()));
        // Two day blobs, read in order.
        let next_day = events.iter().filter(|e| e.at.date_naive() > day1.date_naive()).count();
        assert!(next_day > 0 && next_day < 320);
        // A fresh instance finds the tail and continues the chain.
        let later = AppendBlobAudit::new(blob_storage(&a), &container);
        let e = later.append(draft(day1 + chrono::Duration::days(1), 9999)).await.unwrap();
        assert_eq!(e.seq, 321);
        let all = later.read(None, None).await.unwrap();
        assert!(verify(&all).is_ok());
        // A time window reads only its events.
        let window = later.read(Some(day1 + chrono::Duration::seconds(60)), None).await.unwrap();
        assert!(window.iter().all(|e| e.at >= day1 + chrono::Duration::seconds(60)) && !window.is_empty());
    }

    #[tokio::test]
    async fn a_stale_writer_is_refused_at_the_old_position_and_chains_after() {
        let Some(a) = azurite() else { return };
        let container = unique("audit");
        let one = AppendBlobAudit::new(blob_storage(&a), &container);
        one.ensure_container().await.unwrap();
        let two = AppendBlobAudit::new(blob_storage(&a), &container);
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&Utc);
        one.append(draft(at, 1)).await.unwrap();
        two.append(draft(at, 2)).await.unwrap(); // learns the tail
        one.append(draft(at, 3)).await.unwrap(); // its offset is stale: 412, then chains after event 2
        let events = two.read(None, None).await.unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(verify(&events).is_ok());
    }
}

mod azure_mode {
    use chrono::{DateTime, Utc};
    use flowgate::adapters::azure::blob_audit::AppendBlobAudit;
    use flowgate::adapters::azure::blobs::AzureBlobs;
    use flowgate::adapters::azure::tables::TableStore;
    use flowgate::domain::audit::verify;
    use flowgate::domain::ids::{InvocationId, RunKey};
    use flowgate::domain::messages::DispatchMessage;
    use flowgate::flows::data_arrived::{data_arrived, ArrivalReport, BlobCreated};
    use flowgate::flows::dispatch_run::{dispatch_run, DispatchInput, DispatchReport};
    use flowgate::ports::{AuditSink, BlobStore};

    use super::*;
    use crate::helpers::{app_with, scoring::FakeScoring, CATALOG};

    /// The flows on the Azure adapters: an arrival recorded in Tables, its blob read from Blob
    /// Storage, the run's output written there, every decision in the append-blob audit chain,
    /// and the run's lineage in Tables.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_arrival_runs_end_to_end_on_tables_and_blobs() {
        let Some(a) = azurite() else { return };
        let fake = FakeScoring::default();
        let mut app = app_with(CATALOG, &fake.start().await);
        let blobs = AzureBlobs::new(blob_storage(&a));
        let audit = AppendBlobAudit::new(blob_storage(&a), &unique("audit"));
        audit.ensure_container().await.unwrap();
        for c in ["landing", "curated"] {
            AppendBlobAudit::new(blob_storage(&a), c).ensure_container().await.unwrap();
        }
        let audit = Arc::new(audit);
        app.deps.store = Arc::new(TableStore::new(table_storage(&a)));
        app.deps.blobs = Arc::new(AzureBlobs::new(blob_storage(&a)));
        app.deps.audit = audit.clone();

        let path = format!("claims/urgent/{}.jsonl", unique("a"));
        let lines = "{\"claim_id\":\"C1\",\"body\":\"car crash\"}\n{\"claim_id\":\"C2\",\"body\":\"refund\"}\n";
        blobs.write("landing", &path, lines.as_bytes()).await.unwrap();
        assert!(matches!(blobs.read("landing", "claims/urgent/missing.jsonl").await, Err(flowgate::ports::BlobError::NotFound(_))));
        // A logical time of its own: the emulator keeps its tables for the whole test run.
        let at = DateTime::<Utc>::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
        let event = BlobCreated {
            container: "landing".into(),
            path: path.clone(),
            size: Some(lines.len() as u64),
            content_type: None,
            event_id: Some(unique("evt")),
            event_time: at,
        };
        let r = data_arrived(&app.deps, event, at, &InvocationId::generate()).await.unwrap();
        let ArrivalReport::Recorded { enqueued, .. } = r else { panic!("{r:?}") };
        assert_eq!(enqueued.len(), 1);
        let key: RunKey = enqueued[0].clone();
        let trigger = flowgate::domain::run::RunTrigger::Arrival { dataset: "urgent".into(), container: "landing".into(), path };
        let input = DispatchInput { message: DispatchMessage::new(&key, 1, trigger), now: at, invocation: InvocationId::generate() };
        let r = dispatch_run(&app.deps, input).await.unwrap();
        assert_eq!(r, DispatchReport::Succeeded { attempts: 1, records: 2 });

        let run = flowgate::flows::runs::load(app.deps.store.as_ref(), &key).await.unwrap().unwrap().0;
        let output = run.output.expect("the run wrote its output");
        let (container, out_path) = output.split_once('/').unwrap();
        let written = String::from_utf8(blobs.read(container, out_path).await.unwrap()).unwrap();
        assert_eq!(written.lines().count(), 2, "{written}");
        let events = audit.read(None, None).await.unwrap();
        assert!(events.len() >= 3, "{} audit events", events.len());
        assert!(verify(&events).is_ok());
        let lineage = flowgate::flows::lineage::export(app.deps.store.as_ref(), None, None).await.unwrap();
        let run_id = flowgate::domain::lineage::run_id(&key).to_string();
        assert_eq!(lineage.iter().filter(|e| e["run"]["runId"] == run_id.as_str()).count(), 2);
    }
}

mod cli_on_azure {
    use std::process::Command;

    use flowgate::adapters::azure::blob_audit::AppendBlobAudit;
    use flowgate::domain::audit::{AuditDraft, AuditKind};
    use flowgate::ports::AuditSink;

    use super::*;

    /// `flowgate runs|audit verify --state azure` against the emulator, with tokens from the Azure
    /// CLI — here a stand-in `az` on PATH that prints the unsigned emulator token the way
    /// `az account get-access-token` prints one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_read_the_deployed_state() {
        let Some(a) = azurite() else { return };
        let audit = AppendBlobAudit::new(blob_storage(&a), "audit");
        audit.ensure_container().await.unwrap();
        let at = chrono::Utc::now();
        let draft = AuditDraft {
            at,
            kind: AuditKind::Scheduled,
            actor: "system".into(),
            subject: "cli@test".into(),
            decision: "scheduled".into(),
            evidence: serde_json::json!({}),
            invocation_id: None,
        };
        audit.append(draft).await.unwrap();

        let bin = tempfile::tempdir().unwrap();
        let jwt = token().0.secret().to_string();
        let az = bin.path().join("az");
        std::fs::write(
            &az,
            format!(
                "#!/bin/sh\nprintf '{{\"accessToken\": \"{jwt}\", \"expires_on\": {}}}'\n",
                (at + chrono::Duration::hours(1)).timestamp()
            ),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let ca = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca.path(), &a.ca).unwrap();
        let cmd = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_flowgate"))
                .args(args)
                .env("PATH", format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default()))
                .env("FLOWGATE_TOKEN_SOURCE", "cli")
                .env("FLOWGATE_TABLE_ENDPOINT", &a.table)
                .env("FLOWGATE_BLOB_ENDPOINT", &a.blob)
                .env("FLOWGATE_SERVICEBUS_NAMESPACE", "unused.servicebus.windows.net")
                .env("FLOWGATE_STORAGE_CA", ca.path())
                .output()
                .unwrap()
        };
        let runs = cmd(&["runs", "--json", "--state", "azure"]);
        assert_eq!(runs.status.code(), Some(0), "{}", String::from_utf8_lossy(&runs.stderr));
        assert!(serde_json::from_slice::<serde_json::Value>(&runs.stdout).unwrap().is_array());
        let verify = cmd(&["audit", "verify", "--state", "azure"]);
        assert_eq!(verify.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
        // Without the settings, `--state azure` says what it needs.
        let bare = Command::new(env!("CARGO_BIN_EXE_flowgate"))
            .args(["runs", "--state", "azure"])
            .env_remove("FLOWGATE_TABLE_ENDPOINT")
            .output()
            .unwrap();
        assert_eq!(bare.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bare.stderr).contains("FLOWGATE_TABLE_ENDPOINT"));
    }
}

mod releases {
    use flowgate::adapters::azure::blob_audit::AppendBlobAudit;
    use flowgate::adapters::azure::blobs::AzureBlobs;
    use flowgate::adapters::azure::tables::TableStore;
    use flowgate::domain::principal::{from_client_principal, Principal};
    use flowgate::flows::releases::{self as releases, records, Promotion, ReleaseDeps};

    use super::*;

    fn entra(name: &str) -> Principal {
        from_client_principal(&crate::helpers::client_principal("t-1", &format!("o-{name}"), name, &["Release.Approver"])).unwrap()
    }

    /// Releases on the deployed state's adapters: the Store on Table Storage (the pointer switched
    /// with If-Match), bundles in the `releases` container, the audit trail in append blobs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn releases_are_proposed_promoted_and_rolled_back_on_azure_storage() {
        let Some(a) = azurite() else { return };
        // The Bicep creates these containers in Azure.
        let audit = AppendBlobAudit::new(blob_storage(&a), &unique("audit"));
        audit.ensure_container().await.unwrap();
        AppendBlobAudit::new(blob_storage(&a), flowgate::flows::releases::CONTENT_CONTAINER).ensure_container().await.unwrap();
        let d = ReleaseDeps {
            store: Arc::new(TableStore::new(table_storage(&a))),
            audit: Arc::new(audit),
            content: Arc::new(AzureBlobs::new(blob_storage(&a))),
            runner: Arc::new(flowgate::adapters::http::HttpRunner::new(None).unwrap()),
            endpoints: Arc::new(flowgate::adapters::http::HttpRunner::new(None).unwrap()),
            settings: Arc::new(|_: &str| None),
            azure: true,
        };
        let now = chrono::Utc::now();
        // Each run of this test proposes content of its own (Azurite may outlive one run).
        let w = crate::releases::Workspace::new("0 0 9 * * *", &format!("  checks: {{smoke: false}}\n  approver_role: Release.Approver\n  promoter_role: Release.Approver\n  rollback_role: Release.Approver\n  emergency: {{role: R-{}}}\n", unique("")));
        let mut ids = Vec::new();
        for schedule in ["0 0 9 * * *", "0 0 10 * * *"] {
            let text = std::fs::read_to_string(w.catalog()).unwrap().replace("0 0 9 * * *", schedule);
            std::fs::write(w.catalog(), text).unwrap();
            let bundle = flowgate::commands::release::from_catalog(&w.catalog()).unwrap();
            let id = releases::propose(&d, bundle, &entra("alice"), Some("abc".into()), "catalog.yaml", now).await.unwrap().id;
            // In Azure, a development identity's approval does not count.
            releases::approve(&d, &id, &Principal::development("bob", ["Release.Approver".to_string()]), now).await.unwrap();
            let checked = releases::gate_check(&d, &id, None, false, now).await.unwrap();
            assert!(
                !checked.verdict.passed && checked.verdict.reasons[0].contains("development identity"),
                "{:?}",
                checked.verdict.reasons
            );
            releases::approve(&d, &id, &entra("carol"), now).await.unwrap();
            releases::promote(&d, &id, &entra("dan"), &Promotion::default(), now).await.unwrap();
            ids.push(id);
        }
        let (before, _) = records::pointer(d.store.as_ref()).await.unwrap().unwrap();
        assert_eq!(before.release, ids[1]);
        let back = releases::rollback(&d, &ids[0], &entra("carol"), now).await.unwrap();
        assert_eq!((back.release.clone(), back.generation, back.recorded), (ids[0].clone(), before.generation + 1, true));
        let events = d.audit.read(None, None).await.unwrap();
        assert!(flowgate::domain::audit::verify(&events).is_ok());
        assert!(events.iter().any(|e| e.kind == flowgate::domain::audit::AuditKind::ReleaseRolledBack && e.actor == "entra:t-1/o-carol"));
        // The stored bundle is the content the id names.
        let (_, view) = releases::load(&d, &ids[0]).await.unwrap();
        assert_eq!(view.id, ids[0]);
    }
}
