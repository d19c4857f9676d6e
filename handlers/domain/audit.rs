//! The audit trail: every decision as a typed event, hash-chained. Each event carries the SHA-256
//! of the previous one over its canonical JSON (RFC 8785, JSON Canonicalization Scheme), so that
//! removing, reordering or changing any event is detectable by `verify`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Scheduled,
    Skipped,
    ArrivalChecked,
    GateDecided,
    Attempted,
    RetryScheduled,
    Quarantined,
    Blocked,
    Deferred,
    Replayed,
    Discarded,
    BreakerTransition,
    Alerted,
    /// A person silenced an alert (its sends, not its state) for a while, with a reason.
    AlertSilenced,
    /// The catalog or a contract the handler runs with changed.
    ConfigChanged,
    /// Old local records were removed by the retention policy.
    RetentionApplied,
    /// A release was proposed (its content stored, its id fixed).
    ReleaseProposed,
    /// A person approved a release.
    ReleaseApproved,
    /// An approval, a promotion, a rollback or a review was refused by a rule.
    ReleaseRefused,
    /// A person rejected a release.
    ReleaseRejected,
    /// A release's automated checks ran (with their results and the gate's verdict).
    ReleaseChecked,
    /// The active pointer moved to a release (a promotion, emergency or not).
    ReleasePromoted,
    /// The active pointer moved back to a release that was active before.
    ReleaseRolledBack,
    /// A second person reviewed an emergency change.
    EmergencyReviewed,
    /// A release's offline evaluation (candidate against baseline on its pinned dataset) was recorded.
    ReleaseEvaluated,
    /// A canary analysis pass decided (with its inputs and numbers).
    CanaryDecided,
    /// An online endpoint's traffic was switched (blue/green), or put back.
    TrafficSwitched,
    /// A request whose caller could not be established was refused (401).
    AccessDenied,
    /// A person marked arrivals as suspect: runs that would read them are held.
    DataSuspected,
    /// A person lifted a suspect mark.
    DataCleared,
    /// The reconciliation pass acted: a dead-lettered message quarantined, a stuck run's attempt
    /// resent, or a run still stuck after its resend quarantined.
    Reconciled,
}

/// An event before it is chained (what the flows emit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditDraft {
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    /// `system`, a managed identity, or a user principal.
    pub actor: String,
    /// What it is about: a run key, a dataset, a breaker, a quarantine item.
    pub subject: String,
    /// The decision in a few words.
    pub decision: String,
    /// Counts, reasons, thresholds; never personal data.
    pub evidence: Value,
    pub invocation_id: Option<String>,
}

/// A chained event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: AuditKind,
    pub actor: String,
    pub subject: String,
    pub decision: String,
    pub evidence: Value,
    pub invocation_id: Option<String>,
    /// The previous event's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 of this event's canonical JSON without `hash`.
    pub hash: String,
}

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl AuditEvent {
    /// Chains a draft after the event with `seq - 1` and `prev_hash`.
    pub fn chain(d: AuditDraft, seq: u64, prev_hash: &str) -> Self {
        let mut e = Self {
            seq,
            at: d.at,
            kind: d.kind,
            actor: d.actor,
            subject: d.subject,
            decision: d.decision,
            evidence: d.evidence,
            invocation_id: d.invocation_id,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// The hash this event should have.
    pub fn compute_hash(&self) -> String {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.remove("hash");
        }
        hex(&Sha256::digest(canonical(&v).as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 8785 canonical JSON: object members sorted by their UTF-16 code units, no whitespace,
/// the minimal string escapes, numbers in the shortest form (`e+` exponents as ECMAScript writes
/// them).
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    // ECMAScript writes plain decimals from 1e-6 up to 1e21, and exponents (`1e+30`) outside.
    if f == 0.0 || (f.abs() >= 1e-6 && f.abs() < 1e21) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The position in the list (0-based) of the first bad event.
    pub index: usize,
    pub seq: Option<u64>,
    pub why: String,
}

/// Checks a chain from its first event: sequence numbers consecutive from `first_seq`, each
/// `prev_hash` the previous `hash` (the genesis value for seq 1), each `hash` correct.
pub fn verify(events: &[AuditEvent]) -> Result<Option<String>, Break> {
    // Each event's hash is independent of the others: compute them on every core, then walk
    // the links in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = events.len().div_ceil(threads).max(1);
    let ok: Vec<bool> = std::thread::scope(|scope| {
        let parts: Vec<_> = events
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|e| e.compute_hash() == e.hash).collect::<Vec<bool>>()))
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut prev: Option<&AuditEvent> = None;
    for (i, e) in events.iter().enumerate() {
        let brk = |why: String| Break { index: i, seq: Some(e.seq), why };
        match prev {
            None if e.seq == 1 && e.prev_hash != GENESIS => return Err(brk("the first event does not start from the genesis hash".into())),
            Some(p) if e.seq != p.seq + 1 => {
                return Err(brk(format!("sequence jumps from {} to {} (an event removed or reordered)", p.seq, e.seq)))
            }
            Some(p) if e.prev_hash != p.hash => return Err(brk(format!("prev_hash does not match event {}", p.seq))),
            _ => {}
        }
        if !ok.get(i).copied().unwrap_or(false) {
            return Err(brk("its content does not match its hash (changed after it was written)".into()));
        }
        prev = Some(e);
    }
    Ok(prev.map(|e| e.hash.clone()))
}

/// A stored audit row: its sequence number and its event, or why the row is not one. A row that
/// does not parse (an edited `kind`, a cut line) is a broken link of the chain at its seq, not a
/// storage failure.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub seq: u64,
    pub event: Result<AuditEvent, String>,
}

impl StoredRow {
    /// Reads a row's bytes; its seq is the stored one when known, else the one the text names,
    /// else `fallback` (the position after the previous row).
    /// A row must be exactly the event as flowgate writes it (the sinks: fields in order; an
    /// exported segment: keys sorted): a change that still reads back as the same event (the key
    /// of an absent field renamed, `t` for `T` in a time, a float's last digit) breaks the chain.
    pub fn parse(bytes: &[u8], stored_seq: Option<u64>, fallback: u64) -> Self {
        match serde_json::from_slice::<AuditEvent>(bytes) {
            Ok(e) if as_written(&e, bytes) => Self { seq: stored_seq.unwrap_or(e.seq), event: Ok(e) },
            Ok(e) => Self { seq: stored_seq.unwrap_or(e.seq), event: Err("the stored row is not the event as it was written".into()) },
            Err(err) => {
                let named = serde_json::from_slice::<Value>(bytes).ok().and_then(|v| v["seq"].as_u64());
                Self { seq: stored_seq.or(named).unwrap_or(fallback), event: Err(err.to_string()) }
            }
        }
    }
}

fn as_written(e: &AuditEvent, bytes: &[u8]) -> bool {
    let bytes = bytes.trim_ascii();
    serde_json::to_vec(e).is_ok_and(|own| own == bytes)
        || serde_json::to_value(e).and_then(|v| serde_json::to_vec(&v)).is_ok_and(|sorted| sorted == bytes)
}

/// [`verify`] over stored rows: the first row that is not an audit event breaks the chain there,
/// with the message an edited event gets.
pub fn verify_rows(rows: &[StoredRow]) -> Result<Option<String>, Break> {
    let bad = rows.iter().position(|r| r.event.is_err());
    let readable: Vec<AuditEvent> = rows[..bad.unwrap_or(rows.len())].iter().filter_map(|r| r.event.as_ref().ok().cloned()).collect();
    let head = verify(&readable)?;
    match bad {
        None => Ok(head),
        Some(i) => Err(Break {
            index: i,
            seq: Some(rows[i].seq),
            why: format!(
                "its content does not match its hash (changed after it was written: the stored row is not a readable audit event, {})",
                rows[i].event.as_ref().err().map_or("", String::as_str)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The `audit_chain` fuzz target's property: a changed byte that still reads back as the same
    /// event (the key of an absent field renamed, a lowercase `t` in a time, a float's last digit)
    /// must not verify.
    #[test]
    fn a_changed_byte_that_reads_back_as_the_same_event_breaks_the_chain() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-03T06:00:00Z").unwrap().with_timezone(&Utc);
        let d = AuditDraft {
            at: t0,
            kind: AuditKind::Scheduled,
            actor: "system".into(),
            subject: "job@1".into(),
            decision: "pending".into(),
            evidence: json!({"ratio": 0.14285714285714285}),
            invocation_id: None,
        };
        let e = AuditEvent::chain(d, 1, GENESIS);
        let row = serde_json::to_string(&e).unwrap();
        let ok = StoredRow::parse(row.as_bytes(), Some(1), 1);
        assert!(verify_rows(&[ok]).is_ok());
        // The sorted-key form an evidence pack exports verifies too.
        let sorted = serde_json::to_string(&serde_json::to_value(&e).unwrap()).unwrap();
        assert!(verify_rows(&[StoredRow::parse(sorted.as_bytes(), Some(1), 1)]).is_ok());
        for tampered in [
            row.replace("\"invocation_id\":null", "\"invocation_iD\":null"),
            row.replace("T06:00:00Z", "t06:00:00Z"),
            row.replace("0.14285714285714285", "0.14285714285714286"),
        ] {
            assert_ne!(tampered, row);
            let r = StoredRow::parse(tampered.as_bytes(), Some(1), 1);
            assert!(verify_rows(&[r]).is_err(), "{tampered} verifies");
        }
    }

    #[test]
    fn a_row_that_is_not_an_event_breaks_the_chain_at_its_seq() {
        let mut events = Vec::new();
        let mut prev = GENESIS.to_string();
        for seq in 1..=3u64 {
            let draft = AuditDraft {
                at: Utc::now(),
                kind: AuditKind::Scheduled,
                actor: "system".into(),
                subject: format!("job@{seq}"),
                decision: "pending".into(),
                evidence: json!({}),
                invocation_id: None,
            };
            let e = AuditEvent::chain(draft, seq, &prev);
            prev = e.hash.clone();
            events.push(e);
        }
        let bytes: Vec<Vec<u8>> = events.iter().map(|e| serde_json::to_vec(e).unwrap()).collect();
        let rows = |b: &[Vec<u8>]| b.iter().enumerate().map(|(i, x)| StoredRow::parse(x, None, i as u64 + 1)).collect::<Vec<_>>();
        assert!(verify_rows(&rows(&bytes)).is_ok());
        // An altered kind no longer parses; a cut row is not JSON: each breaks at its seq.
        let mut kind = bytes.clone();
        kind[1] = String::from_utf8(kind[1].clone()).unwrap().replace("\"scheduled\"", "\"schedulled\"").into_bytes();
        let b = verify_rows(&rows(&kind)).unwrap_err();
        assert_eq!((b.seq, b.index), (Some(2), 1));
        assert!(b.why.starts_with("its content does not match its hash"), "{}", b.why);
        let mut cut = bytes.clone();
        cut[2].truncate(20);
        assert_eq!(verify_rows(&rows(&cut)).unwrap_err().seq, Some(3), "no seq in the text: its position");
    }

    #[test]
    fn canonical_json_follows_rfc_8785() {
        // The RFC's own example (section 3.2.2), numbers aside.
        let v = json!({"string": "\u{20ac}$\u{f}\nA'B\"\\\\\"/", "literals": [null, true, false], "numbers": [333333333, 4.5, 2e-3, 1e30]});
        assert_eq!(
            canonical(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333,4.5,0.002,1e+30],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        // Keys sort by UTF-16 code units.
        let v = json!({"\u{20ac}": 1, "\r": 2, "1": 3, "\u{1f600}": 4, "\u{80}": 5, "\u{fb33}": 6});
        assert_eq!(canonical(&v), "{\"\\r\":2,\"1\":3,\"\u{80}\":5,\"\u{20ac}\":1,\"\u{1f600}\":4,\"\u{fb33}\":6}");
    }

    fn draft(n: u64) -> AuditDraft {
        AuditDraft {
            at: DateTime::from_timestamp(1_800_000_000 + n as i64, 0).unwrap(),
            kind: AuditKind::Scheduled,
            actor: "system".into(),
            subject: format!("job@{n}"),
            decision: "scheduled".into(),
            evidence: json!({"n": n}),
            invocation_id: None,
        }
    }

    fn chain(n: u64) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        for i in 1..=n {
            let prev = out.last().map_or(GENESIS.to_string(), |e| e.hash.clone());
            out.push(AuditEvent::chain(draft(i), i, &prev));
        }
        out
    }

    #[test]
    fn any_change_is_detected_at_the_first_bad_event() {
        let good = chain(6);
        assert_eq!(verify(&good).unwrap(), Some(good[5].hash.clone()));
        let mut changed = good.clone();
        changed[3].decision = "skipped".into();
        assert_eq!(verify(&changed).unwrap_err().seq, Some(4));
        let mut removed = good.clone();
        removed.remove(2);
        assert_eq!(verify(&removed).unwrap_err().seq, Some(4));
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped).unwrap_err().index, 1);
        let truncated = &good[..4];
        assert!(verify(truncated).is_ok(), "a shorter chain verifies; its head hash shows how far it goes");
        let mut evidence = good;
        evidence[5].evidence = json!({"n": 7});
        assert_eq!(verify(&evidence).unwrap_err().seq, Some(6));
    }
}
