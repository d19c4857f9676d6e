//! The Notifier as a JSON Lines file (`<state>/alerts.jsonl`): one line per alert of each
//! notification, appended — the receiver `flowgate local` always has.

use std::path::PathBuf;

use async_trait::async_trait;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::domain::alerting::delivery::Notification;
use crate::ports::{Notifier, NotifyError};

/// Appends notifications to a file.
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
    fn receiver(&self) -> &str {
        "file"
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let mut text = String::new();
        for a in &n.group.alerts {
            let line = json!({
                "notification": n.id,
                "at": n.made_at,
                "status": a.status,
                "alertname": a.name,
                "severity": a.severity,
                "labels": a.labels,
                "summary": a.summary,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "fingerprint": a.fingerprint(),
            });
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let fail = |e: std::io::Error| NotifyError::Retry { reason: format!("{}: {e}", self.path.display()), after: None };
        let mut f = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await.map_err(fail)?;
        f.write_all(text.as_bytes()).await.map_err(fail)?;
        f.flush().await.map_err(fail)
    }
}
