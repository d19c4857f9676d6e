//! How many calls the Azure adapters made, by kind (`table.get`, `blob.append`,
//! `servicebus.send`, …): a process-wide tally the storage and Service Bus clients add to on every
//! request they send (retries included), read by the cost benchmark and the end-to-end tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

static CALLS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

/// Counts one request of `kind`.
pub fn count(kind: &'static str) {
    *CALLS.lock().unwrap_or_else(|p| p.into_inner()).entry(kind).or_default() += 1;
}

/// The tally so far.
pub fn snapshot() -> BTreeMap<&'static str, u64> {
    CALLS.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// What was counted between two snapshots.
pub fn since(before: &BTreeMap<&'static str, u64>) -> BTreeMap<&'static str, u64> {
    snapshot().into_iter().map(|(k, v)| (k, v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}
