//! Lineage delivered as JSON Lines (`<state>/lineage.jsonl`), one OpenLineage event per line,
//! appended; and a sink that hands events to several sinks in turn.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::ports::{LineageError, LineageSink};

/// Appends to one file, kept open between runs; each run's events are one small write (done
/// in place: cheaper than a hop to the blocking pool).
#[derive(Debug)]
pub struct JsonlLineage {
    path: PathBuf,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl JsonlLineage {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), file: std::sync::Mutex::new(None) }
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
        let mut guard = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let file = match guard.take() {
            Some(f) => f,
            None => std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(fail)?,
        };
        // A failed write drops the handle: the next run reopens the file (moved, disk full).
        std::io::Write::write_all(&mut &file, text.as_bytes()).map_err(fail)?;
        *guard = Some(file);
        Ok(())
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
