//! flowgate: runs Azure AI Foundry workloads like clockwork for small regulated teams.
//!
//! The module list is the architecture (see DESIGN.md): the `edge` alone knows axum and the
//! Functions host envelope; `flows` hold one use case per function; `domain` is pure and owns the
//! rules; `ports` are the traits behind which `adapters` reach the outside world; `app` wires
//! them together; `local_host` is the Functions-host stand-in behind `flowgate local`.

pub mod adapters;
pub mod app;
pub mod commands;
pub mod config;
pub mod domain;
pub mod edge;
pub mod flows;
pub mod local_host;
pub mod ports;
pub mod telemetry;
