//! The Notifier as a JSON Lines file (`<state>/alerts.jsonl`), one alert per line, appended.

use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use crate::domain::alert::Alert;
use crate::ports::{Notifier, NotifyError};

/// Appends alerts to a file.
#[derive(Debug, Clone)]
pub struct JsonlNotifier {
    path: PathBuf,
}

impl JsonlNotifier {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

#[async_trait]
impl Notifier for JsonlNotifier {
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let mut line = serde_json::to_string(alert).map_err(|e| NotifyError(e.to_string()))?;
        line.push('\n');
        let fail = |e: std::io::Error| NotifyError(format!("{}: {e}", self.path.display()));
        let mut f = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await.map_err(fail)?;
        f.write_all(line.as_bytes()).await.map_err(fail)?;
        f.flush().await.map_err(fail)
    }
}
