//! Integration tests: the handler behind its router, the CLI, the local host and the adapters.
#![allow(unreachable_pub)]

mod alerts;
mod audit;
mod audit_copy;
mod azurite;
mod breakers;
mod cli;
mod contracts;
mod differential;
mod dispatch;
mod evaluation_real;
mod evidence;
mod fortnight;
mod helpers;
mod identity;
mod infra;
mod lineage;
mod local;
mod local_real_clock;
mod longjobs;
mod notify;
mod package;
mod pii;
mod prompt_flow;
mod protocol;
mod quarantine;
mod release_ci;
mod release_evaluation;
mod releases;
mod releases_http;
mod report;
mod rollouts;
mod servicebus;
mod stats;
mod store_contract;
mod ticks;
