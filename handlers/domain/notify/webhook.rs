//! A generic webhook: the Alertmanager webhook v4 body, signed per Standard Webhooks 1.0 —
//! `webhook-id` (the same for every retry of one notification), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`,
//! the secret given as `whsec_<base64>` (at least 24 bytes).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::{Group, Status};

/// What `endsAt` says while an alert fires (Alertmanager's zero time).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret is `whsec_` followed by base64")]
    Format,
    #[error("a webhook secret must hold at least 24 bytes (it holds {0})")]
    TooShort(usize),
}

/// The secret's bytes.
pub fn secret(text: &str) -> Result<Vec<u8>, SecretError> {
    let b64 = text.trim().strip_prefix("whsec_").ok_or(SecretError::Format)?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| SecretError::Format)?;
    if bytes.len() < 24 {
        return Err(SecretError::TooShort(bytes.len()));
    }
    Ok(bytes)
}

/// The Alertmanager v4 body for a group.
pub fn body(g: &Group, external_url: &str) -> Value {
    let alerts: Vec<Value> = g
        .alerts
        .iter()
        .map(|a| {
            let mut labels: Map<String, Value> = a.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            labels.insert("alertname".into(), json!(a.name));
            labels.insert("severity".into(), json!(a.severity));
            let mut annotations = Map::new();
            annotations.insert("summary".into(), json!(a.summary));
            if let Some(r) = &a.runbook {
                annotations.insert("runbook_url".into(), json!(r));
            }
            json!({
                "status": a.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": a.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "endsAt": a.ends_at.map_or(ZERO_TIME.to_string(), |e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "generatorURL": a.link.clone().unwrap_or_default(),
                "fingerprint": a.fingerprint(),
            })
        })
        .collect();
    let mut group_labels = Map::new();
    group_labels.insert("alertname".into(), json!(g.name));
    if let Some(j) = &g.job {
        group_labels.insert("job".into(), json!(j));
    }
    json!({
        "version": "4",
        "groupKey": g.key(),
        "truncatedAlerts": 0,
        "status": g.status(),
        "receiver": "flowgate",
        "groupLabels": group_labels,
        "commonLabels": { "alertname": g.name, "severity": g.severity() },
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": alerts,
    })
}

/// The notification's id: the group's fingerprint, its status and when its first alert started,
/// so that every retry of one notification carries the same id.
pub fn message_id(g: &Group) -> String {
    let started = g.alerts.iter().map(|a| a.starts_at).min().map(|t| t.timestamp()).unwrap_or(0);
    let status = if g.status() == Status::Firing { "firing" } else { "resolved" };
    format!("{}.{status}.{started}", &super::fingerprint(&g.name, &g.job.iter().map(|j| ("job".to_string(), j.clone())).collect()))
}

/// The `webhook-signature` value for one delivery.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// The three Standard Webhooks headers.
pub fn headers(secret: &[u8], id: &str, timestamp: i64, body: &str) -> [(&'static str, String); 3] {
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature(secret, id, timestamp, body)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::group;
    use super::*;

    #[test]
    fn the_body_matches_its_golden_file() {
        let b = body(&group(2, Status::Firing), "https://flowgate.example");
        let golden: Value = serde_json::from_str(include_str!("../../../tests/fixtures/notify/webhook.json")).unwrap();
        assert_eq!(b, golden, "{}", serde_json::to_string_pretty(&b).unwrap());
        let resolved = body(&group(1, Status::Resolved), "https://flowgate.example");
        assert_eq!(resolved["alerts"][0]["endsAt"], "2026-11-30T06:40:00Z");
        assert_eq!(resolved["status"], "resolved");
    }

    #[test]
    fn secrets_are_checked_and_ids_are_stable_across_retries() {
        assert_eq!(secret("abc"), Err(SecretError::Format));
        assert_eq!(secret("whsec_AAAA"), Err(SecretError::TooShort(3)));
        assert_eq!(secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap().len(), 24);
        let g = group(2, Status::Firing);
        assert_eq!(message_id(&g), message_id(&g.clone()));
        assert!(message_id(&g).ends_with(".firing.1796018400"));
    }

    #[test]
    fn the_standard_webhooks_test_vector_holds() {
        // From the Standard Webhooks reference implementations' tests.
        let key = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
