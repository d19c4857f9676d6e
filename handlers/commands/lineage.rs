//! `flowgate lineage export --state DIR [--from T] [--to T]`: the OpenLineage events of finished
//! runs (START, then COMPLETE or FAIL), as JSON Lines on stdout, oldest first.

use std::path::Path;

use crate::flows::lineage;

pub async fn export(state: &Path, from: Option<&str>, to: Option<&str>) -> u8 {
    let (from, to) = match super::window(from, to) {
        Ok(w) => w,
        Err(c) => return c,
    };
    let store = match super::state::open(state) {
        Ok(s) => s.store,
        Err(c) => return c,
    };
    super::print_jsonl(lineage::export(store.as_ref(), from, to).await)
}
