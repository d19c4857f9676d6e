//! Audit verification of a mutated chain: a chain of events as stored (one JSON row each)
//! verifies; with any one byte of any row changed, it never does.
#![no_main]

use chrono::{DateTime, Duration, Utc};
use flowgate::domain::audit::{verify_rows, AuditDraft, AuditEvent, AuditKind, StoredRow, GENESIS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let n = usize::from(head[0] % 6) + 1;
    let text = String::from_utf8_lossy(rest);
    let t0: DateTime<Utc> = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let kinds = [AuditKind::Scheduled, AuditKind::Attempted, AuditKind::Quarantined, AuditKind::GateDecided];
    let mut prev = GENESIS.to_string();
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        let draft = AuditDraft {
            at: t0 + Duration::milliseconds(i as i64 * 1_337),
            kind: kinds[i % kinds.len()],
            actor: "system".into(),
            subject: format!("job@{i}"),
            decision: text.chars().skip(i).take(40).collect(),
            evidence: serde_json::json!({ "i": i, "ratio": f64::from(head[1]) / 7.0, "note": text.as_ref(), "none": null }),
            invocation_id: (i % 2 == 0).then(|| format!("inv-{i}")),
        };
        let e = AuditEvent::chain(draft, i as u64 + 1, &prev);
        prev = e.hash.clone();
        rows.push(serde_json::to_vec(&e).unwrap());
    }
    let parse = |rows: &[Vec<u8>]| -> Vec<StoredRow> { rows.iter().enumerate().map(|(i, r)| StoredRow::parse(r, Some(i as u64 + 1), i as u64 + 1)).collect() };
    assert!(verify_rows(&parse(&rows)).is_ok(), "an untouched chain verifies");
    // Change one byte of one row.
    let row = usize::from(head[2]) % n;
    let at = usize::from(u16::from_le_bytes([head[3], head[1]])) % rows[row].len();
    let delta = (head[3] | 1).max(1);
    rows[row][at] = rows[row][at].wrapping_add(delta);
    assert!(verify_rows(&parse(&rows)).is_err(), "row {row} changed at byte {at} still verifies: {}", String::from_utf8_lossy(&rows[row]));
});
