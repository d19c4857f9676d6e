//! Logging: JSON lines under Azure (the host collects the handler's stdout), readable text
//! locally. Level from `RUST_LOG` (default `info`). Secrets and PII never go into fields.

use std::io::IsTerminal;

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

impl LogFormat {
    /// `FLOWGATE_LOG_FORMAT=json|text` wins; otherwise JSON when running in Azure (`WEBSITE_INSTANCE_ID`).
    pub fn from_env() -> Self {
        match std::env::var("FLOWGATE_LOG_FORMAT").ok().as_deref() {
            Some("json") => Self::Json,
            Some("text") => Self::Text,
            _ if std::env::var_os("WEBSITE_INSTANCE_ID").is_some() => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Installs the global subscriber once; later calls are no-ops. Logs go to stderr so that
/// commands can print results on stdout.
pub fn init(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(FmtSpan::NONE);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}
