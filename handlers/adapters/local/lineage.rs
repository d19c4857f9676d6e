//! Lineage delivered as JSON Lines (`<state>/lineage.jsonl`), one OpenLineage event per line,
//! appended; and a sink that hands events to several sinks in turn.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::ports::{LineageError, LineageSink};

#[derive(Debug, Clone)]
pub struct JsonlLineage {
    path: PathBuf,
}

impl JsonlLineage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl LineageSink for JsonlLineage {
    async fn emit(&self, events: &[Value]) -> Result<(), LineageError> {
        let mut text = String::new();
        for e in events {
            text.push_str(&e.to_string());
            text.push('\n');
        }
        let fail = |e: std::io::Error| LineageError { message: format!("{}: {e}", self.path.display()), retryable: true };
        let mut f = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await.map_err(fail)?;
        f.write_all(text.as_bytes()).await.map_err(fail)?;
        f.flush().await.map_err(fail)
    }
}

/// Delivers to every sink; the first failure is reported after all were tried.
pub struct FanOut(pub Vec<Arc<dyn LineageSink>>);

#[async_trait]
impl LineageSink for FanOut {
    async fn emit(&self, events: &[Value]) -> Result<(), LineageError> {
        let mut first = None;
        for sink in &self.0 {
            if let Err(e) = sink.emit(events).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}
