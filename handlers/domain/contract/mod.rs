//! Data contracts in the Open Data Contract Standard (ODCS v3): `model` reads a contract into the
//! rules flowgate enforces (and lists what it does not), `eval` checks data against them in one
//! streaming pass (`hashes` is its uniqueness set), `result` is the evidence.

pub mod eval;
mod hashes;
pub mod model;
pub mod options;
pub mod result;
pub mod temporal;

pub use model::{parse, Contract, LintFinding};
pub use result::{ContractReport, RuleResult};
