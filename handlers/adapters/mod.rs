//! Adapters: one module per outside system, each implementing a port. `local` holds the laptop
//! adapters (SQLite, local queues, files); `http` the HTTP job runner shared by both worlds.

pub mod http;
pub mod local;
