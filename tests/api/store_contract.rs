//! The Store contract, written once against the port so that every adapter (SQLite, and Azure
//! Tables against Azurite, in `azurite.rs`) must pass the same suite.

use std::sync::Arc;

use flowgate::adapters::local::SqliteStore;
use flowgate::ports::{RowRange, Store, StoreError, Table};
use serde_json::json;

/// Runs the suite on table `t` (fresh: the suite creates its own rows).
pub async fn contract_suite(store: Arc<dyn Store>, t: Table) {
    // Insert, conflict, get.
    let e1 = store.insert(t, "p", "r1", &json!({"v": 1})).await.unwrap();
    assert!(matches!(store.insert(t, "p", "r1", &json!({"v": 2})).await, Err(StoreError::Conflict(_))));
    let got = store.get(t, "p", "r1").await.unwrap().unwrap();
    assert_eq!((got.body.clone(), got.etag.clone()), (json!({"v": 1}), e1.clone()));
    assert!(store.get(t, "p", "nope").await.unwrap().is_none());
    // Conditional replace: the current ETag wins, a stale one loses.
    let e2 = store.replace(t, "p", "r1", &json!({"v": 2}), &e1).await.unwrap();
    assert_ne!(e1, e2);
    assert!(matches!(store.replace(t, "p", "r1", &json!({"v": 3}), &e1).await, Err(StoreError::PreconditionFailed(_))));
    assert!(matches!(store.replace(t, "p", "missing", &json!({}), &e1).await, Err(StoreError::NotFound(_))));
    // Upsert and conditional delete.
    store.upsert(t, "p", "r2", &json!({"v": 1})).await.unwrap();
    let e3 = store.upsert(t, "p", "r2", &json!({"v": 2})).await.unwrap();
    assert!(matches!(store.delete(t, "p", "r2", Some(&e1)).await, Err(StoreError::PreconditionFailed(_))));
    store.delete(t, "p", "r2", Some(&e3)).await.unwrap();
    assert!(matches!(store.delete(t, "p", "r2", None).await, Err(StoreError::NotFound(_))));
    // Queries by partition and row range, in row order.
    for r in ["a", "b", "c", "d"] {
        store.insert(t, "q", r, &json!({"r": r})).await.unwrap();
    }
    store.insert(t, "other", "a", &json!({})).await.unwrap();
    let rows = store.query(t, Some("q"), RowRange { from: Some("b".into()), to: Some("d".into()) }, 100).await.unwrap();
    assert_eq!(rows.iter().map(|e| e.row.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
    assert_eq!(store.query(t, Some("q"), RowRange::default(), 2).await.unwrap().len(), 2);
    assert_eq!(store.query(t, None, RowRange::default(), 100).await.unwrap().len(), 6);
    // Pages of the whole table in (partition, row) order, each continuing after the last key.
    let mut seen = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = store.page(t, after.as_ref().map(|(p, r)| (p.as_str(), r.as_str())), 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some((last.partition.clone(), last.row.clone()));
        seen.extend(page.iter().map(|e| format!("{}/{}", e.partition, e.row)));
    }
    assert_eq!(seen, vec!["other/a", "p/r1", "q/a", "q/b", "q/c", "q/d"]);
    // Concurrent conditional writers: exactly one wins each round.
    store.insert(t, "race", "r", &json!({"n": 0})).await.unwrap();
    let current = store.get(t, "race", "r").await.unwrap().unwrap().etag;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (s, e) = (store.clone(), current.clone());
        tasks.push(tokio::spawn(async move { s.replace(t, "race", "r", &json!({"n": i}), &e).await.is_ok() }));
    }
    let mut wins = 0;
    for task in tasks {
        if task.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn sqlite_store_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract_suite(Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap()), Table("contract")).await;
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let b = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let e = a.insert(Table("t"), "p", "r", &json!({"v": 1})).await.unwrap();
    b.replace(Table("t"), "p", "r", &json!({"v": 2}), &e).await.unwrap();
    assert!(matches!(a.replace(Table("t"), "p", "r", &json!({"v": 3}), &e).await, Err(StoreError::PreconditionFailed(_))));
}
