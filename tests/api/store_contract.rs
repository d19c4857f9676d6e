//! The Store contract, written once against the port so that every adapter (SQLite now, Azure
//! Tables later) must pass the same suite.

use std::sync::Arc;

use flowgate::adapters::local::SqliteStore;
use flowgate::ports::{BatchOp, RowRange, Store, StoreError, Table};
use serde_json::json;

pub async fn contract_suite(store: Arc<dyn Store>) {
    let t = Table("contract");
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
    // Batches are all or nothing within a partition.
    let bad = vec![BatchOp::Insert { row: "x".into(), body: json!({}) }, BatchOp::Insert { row: "a".into(), body: json!({}) }];
    assert!(matches!(store.batch(t, "q", bad).await, Err(StoreError::Conflict(_))));
    assert!(store.get(t, "q", "x").await.unwrap().is_none(), "a failed batch leaves nothing behind");
    let ok = vec![BatchOp::Insert { row: "x".into(), body: json!({}) }, BatchOp::Upsert { row: "a".into(), body: json!({"n": 1}) }];
    assert_eq!(store.batch(t, "q", ok).await.unwrap().len(), 2);
    let too_many: Vec<BatchOp> = (0..101).map(|i| BatchOp::Upsert { row: format!("m{i}"), body: json!({}) }).collect();
    assert!(store.batch(t, "q", too_many).await.is_err());
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
    contract_suite(Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap())).await;
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
