//! The generic webhook's Standard Webhooks signature, verified by an independent implementation:
//! Python's standard library (`hmac`, `hashlib`, `base64`), not the code under test.

use std::process::Command;

use flowgate::domain::notify::webhook;

const VERIFY: &str = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, body, header = sys.argv[1:6]
key = base64.b64decode(secret.removeprefix("whsec_"))
want = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
ok = any(hmac.compare_digest(s.split(",", 1)[1], want) for s in header.split(" ") if s.startswith("v1,"))
print("valid" if ok else "invalid")
"#;

fn verify(secret: &str, id: &str, ts: &str, body: &str, header: &str) -> String {
    let out = Command::new("python3").args(["-c", VERIFY, secret, id, ts, body, header]).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_webhook_signature_verifies_independently_and_a_changed_byte_does_not() {
    let secret_text = "whsec_c2VjcmV0LWZvci10aGUtdGVzdC1vbmx5LTMyYnl0ZXMh";
    let key = webhook::secret(secret_text).unwrap();
    let body = r#"{"version":"4","status":"firing","alerts":[{"labels":{"alertname":"SlaBreach"}}]}"#;
    let [(_, id), (_, ts), (_, sig)] = webhook::headers(&key, "4b41.firing.1796018400", 1_796_018_460, body);
    assert_eq!(verify(secret_text, &id, &ts, body, &sig), "valid");
    assert_eq!(verify(secret_text, &id, &ts, &body.replace("firing", "fired!"), &sig), "invalid");
    assert_eq!(verify(secret_text, &id, "1796018461", body, &sig), "invalid", "the timestamp is signed");
    assert_eq!(verify("whsec_b3RoZXItc2VjcmV0LW9mLWVub3VnaC1ieXRlcy0hIQ==", &id, &ts, body, &sig), "invalid");
}
