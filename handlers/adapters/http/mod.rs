//! The JobRunner for endpoints with the scoring contract (JSON in, JSON out): Foundry / Azure ML
//! online endpoints, `pf flow serve`, and any HTTP service that behaves the same; and the long-running
//! kinds on the same client (`longjob`: Azure ML jobs through ARM, Foundry evaluation runs).

pub mod ci;
mod endpoints;
mod lineage;
mod longjob;
mod notifiers;
mod runner;

pub use ci::{AzureDevOps, GitHubApp, GitHubAppSettings};
pub use lineage::{OpenLineageHttp, PurviewLineage};
pub use notifiers::{HttpNotifier, Receiver};
pub use runner::{parse_retry_after, BearerSource, EntraBearer, HttpRunner};
