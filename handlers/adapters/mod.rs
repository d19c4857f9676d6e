//! Adapters: one module per outside system, each implementing a port. `local` holds the laptop
//! adapters (SQLite, local queues, files); `azure` the Azure REST clients; `http` the HTTP job
//! runner and alert webhook shared by both worlds.

pub mod azure;
pub mod http;
pub mod local;
