//! Local adapters behind `flowgate local` and the tests: SQLite state (WAL, shared by the host
//! stand-in and the handler process), a Service-Bus-like queue in SQLite, and a folder as blob
//! storage.

pub mod alerts;
pub mod audit;
mod db;
pub mod files;
pub mod identities;
pub mod lineage;
pub mod queue;
pub mod store;

pub use alerts::JsonlNotifier;
pub use audit::SqliteAudit;
pub use files::FileBlobs;
pub use lineage::{FanOut, JsonlLineage};
pub use queue::{LocalQueue, QueueSettings, ReceivedMessage};
pub use store::SqliteStore;
