//! The pure core: catalog, schedules, runs, retry and messages. No I/O and no clock: every
//! instant is passed in by the caller.

pub mod alert;
pub mod alerting;
pub mod audit;
pub mod breaker;
pub mod canary;
pub mod catalog;
pub mod contract;
pub mod duration;
pub mod evaluation;
pub mod gate;
pub mod ids;
pub mod lineage;
pub mod longjob;
pub mod messages;
pub mod metrics;
pub mod notify;
pub mod pii;
pub mod plan;
pub mod principal;
pub mod release;
pub mod report;
pub mod retry;
pub mod rollout;
pub mod run;
pub mod schedule;
pub mod scheduling;
pub mod sla;
pub mod stats;
pub mod status;
pub mod text;
