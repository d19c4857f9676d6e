//! Personal data: values of the fields a contract marks as PII (`classification` restricted or
//! confidential, or tagged `pii`) are replaced by keyed tokens, HMAC-SHA256 under a key that never
//! leaves the process, before they reach outputs, quarantine records, audit events or logs. The
//! same value always gives the same token (joins still work); the token cannot be reversed
//! without the key.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The shortest value scrubbed out of free text: shorter ones would match everywhere.
const MIN_SCRUB_LEN: usize = 4;

pub struct Tokenizer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer { key: <redacted> }")
    }
}

impl Tokenizer {
    /// A key of at least 16 bytes.
    pub fn new(key: Vec<u8>) -> Result<Self, String> {
        if key.len() < 16 {
            return Err(format!("the tokenization key must be at least 16 bytes, not {}", key.len()));
        }
        Ok(Self { key })
    }

    /// `pii_` and the first 16 bytes of HMAC-SHA256(key, value), in hex.
    pub fn token(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(value.as_bytes());
        format!("pii_{}", hex::encode(&mac.finalize().into_bytes()[..16]))
    }

    /// `text` with every occurrence of each value replaced by its token (longest values first, so
    /// a value inside another is not half-replaced).
    pub fn scrub(&self, text: &str, values: &[String]) -> String {
        let mut sorted: Vec<&String> = values.iter().filter(|v| v.len() >= MIN_SCRUB_LEN).collect();
        sorted.sort_by_key(|v| std::cmp::Reverse(v.len()));
        sorted.dedup();
        let mut out = text.to_string();
        for v in sorted {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), &self.token(v));
            }
        }
        out
    }

    /// Scrubs every string (and object key) inside a JSON value.
    pub fn scrub_json(&self, value: &mut Value, values: &[String]) {
        if values.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.scrub(s, values),
            Value::Array(a) => a.iter_mut().for_each(|v| self.scrub_json(v, values)),
            Value::Object(m) => {
                let entries = std::mem::take(m);
                for (k, mut v) in entries {
                    self.scrub_json(&mut v, values);
                    m.insert(self.scrub(&k, values), v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> Tokenizer {
        Tokenizer::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    #[test]
    fn tokens_are_stable_keyed_and_opaque() {
        let a = t().token("jane@example.com");
        assert_eq!(a, t().token("jane@example.com"));
        assert!(a.starts_with("pii_") && a.len() == 36 && !a.contains("jane"));
        let other = Tokenizer::new(b"another key of enough length".to_vec()).unwrap();
        assert_ne!(other.token("jane@example.com"), a);
        assert!(Tokenizer::new(b"short".to_vec()).is_err());
        assert_eq!(format!("{:?}", t()), "Tokenizer { key: <redacted> }");
    }

    #[test]
    fn scrubbing_replaces_values_in_text_and_json() {
        let values = vec!["jane@example.com".to_string(), "Jane Doe".to_string(), "x".to_string()];
        let s = t().scrub("Required input fields ['text'] are missing in {'email': 'jane@example.com', 'name': 'Jane Doe'}", &values);
        assert!(!s.contains("jane@") && !s.contains("Jane Doe") && s.contains("['text']"), "{s}");
        let mut v = json!({ "echo": { "email": "jane@example.com" }, "jane@example.com": [1, "Jane Doe"] });
        t().scrub_json(&mut v, &values);
        assert!(!v.to_string().contains("jane@") && !v.to_string().contains("Jane Doe"), "{v}");
    }
}
