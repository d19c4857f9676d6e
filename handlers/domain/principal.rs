//! Who acts: a person signed in with Entra ID (keyed by tenant id + object id, never by the
//! changeable display name), a named development identity on a laptop, or flowgate itself. Roles
//! are app roles (`roles` claims); the display name is a label only.

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The app roles flowgate knows.
pub mod roles {
    pub const RELEASE_APPROVER: &str = "Release.Approver";
    pub const RELEASE_EMERGENCY: &str = "Release.Emergency";
    pub const QUARANTINE_OPERATOR: &str = "Quarantine.Operator";
}

/// How a principal was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person or application signed in through App Service authentication (Entra ID).
    Entra,
    /// A named development identity (`--as NAME`, roles from `<state>/identities.yaml`).
    Development,
    /// flowgate itself, acting on a recorded automated decision (a canary's PROMOTE); holds no
    /// roles and never approves.
    System,
}

/// Someone who acts on releases or quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// Entra: the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Entra: the object id; development: the identity's name.
    pub id: String,
    /// A display name, for people to read (never used to decide anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub roles: BTreeSet<String>,
}

impl Principal {
    /// A development identity with its declared roles.
    pub fn development(name: &str, roles: impl IntoIterator<Item = String>) -> Self {
        Self { kind: PrincipalKind::Development, tenant: None, id: name.to_string(), label: None, roles: roles.into_iter().collect() }
    }

    /// flowgate's own automated actor `flowgate:NAME`.
    pub fn system(name: &str) -> Self {
        Self { kind: PrincipalKind::System, tenant: None, id: name.to_string(), label: None, roles: BTreeSet::new() }
    }

    /// The key that identifies the person: `entra:<tenant>/<object>` or `dev:<name>`.
    pub fn key(&self) -> String {
        match self.kind {
            PrincipalKind::Entra => format!("entra:{}/{}", self.tenant.as_deref().unwrap_or(""), self.id),
            PrincipalKind::Development => format!("dev:{}", self.id),
            PrincipalKind::System => format!("flowgate:{}", self.id),
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn is_development(&self) -> bool {
        self.kind == PrincipalKind::Development
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(l) => write!(f, "{} ({l})", self.key()),
            None => f.write_str(&self.key()),
        }
    }
}

/// Why no principal could be established.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("App Service authentication is off (WEBSITE_AUTH_ENABLED is not true): the caller cannot be known, so nothing is changed")]
    AuthDisabled,
    #[error("no signed-in principal: the request carries no X-MS-CLIENT-PRINCIPAL")]
    Missing,
    #[error("the client principal is unreadable: {0}")]
    Malformed(String),
    #[error("the client principal has no {0} claim: people are keyed by tenant id and object id")]
    MissingClaim(&'static str),
}

const TENANT_CLAIMS: [&str; 2] = ["tid", "http://schemas.microsoft.com/identity/claims/tenantid"];
const OBJECT_CLAIMS: [&str; 2] = ["oid", "http://schemas.microsoft.com/identity/claims/objectidentifier"];
const ROLE_CLAIMS: [&str; 2] = ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];
const NAME_CLAIMS: [&str; 4] = ["name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "upn"];

/// Reads the decoded `X-MS-CLIENT-PRINCIPAL` header (base64 JSON with `claims`, `role_typ`,
/// `name_typ`). The caller decides whether to trust it (only with `WEBSITE_AUTH_ENABLED`).
pub fn from_client_principal(header: &str) -> Result<Principal, AuthError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim().trim_end_matches('=')))
        .map_err(|e| AuthError::Malformed(format!("not base64: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| AuthError::Malformed(format!("not JSON: {e}")))?;
    let claims: Vec<(String, String)> = v
        .get("claims")
        .and_then(Value::as_array)
        .ok_or(AuthError::Malformed("no `claims` list".into()))?
        .iter()
        .filter_map(|c| Some((c.get("typ")?.as_str()?.to_string(), c.get("val")?.as_str()?.to_string())))
        .collect();
    let role_typ = v.get("role_typ").and_then(Value::as_str);
    let name_typ = v.get("name_typ").and_then(Value::as_str);
    from_claims(&claims, role_typ, name_typ)
}

/// Reads the host's `Identities` of a wrapped HTTP request (`[{AuthenticationType, Claims:
/// [{Type, Value}]}]`), skipping the function-key identity (`WebJobsAuthLevel`).
pub fn from_identities(identities: &Value) -> Result<Principal, AuthError> {
    let mut claims = Vec::new();
    for identity in identities.as_array().into_iter().flatten() {
        let kind = identity.get("AuthenticationType").and_then(Value::as_str).unwrap_or("");
        if kind.eq_ignore_ascii_case("WebJobsAuthLevel") || kind.eq_ignore_ascii_case("WebJobsAuthLevelKey") {
            continue;
        }
        for c in identity.get("Claims").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(t), Some(v)) = (c.get("Type").and_then(Value::as_str), c.get("Value").and_then(Value::as_str)) {
                claims.push((t.to_string(), v.to_string()));
            }
        }
    }
    if claims.is_empty() {
        return Err(AuthError::Missing);
    }
    from_claims(&claims, None, None)
}

fn from_claims(claims: &[(String, String)], role_typ: Option<&str>, name_typ: Option<&str>) -> Result<Principal, AuthError> {
    let first = |names: &[&str]| claims.iter().find(|(t, _)| names.iter().any(|n| t.eq_ignore_ascii_case(n))).map(|(_, v)| v.clone());
    let tenant = first(&TENANT_CLAIMS).filter(|v| !v.is_empty()).ok_or(AuthError::MissingClaim("tenant id (tid)"))?;
    let object = first(&OBJECT_CLAIMS).filter(|v| !v.is_empty()).ok_or(AuthError::MissingClaim("object id (oid)"))?;
    let roles = claims
        .iter()
        .filter(|(t, _)| ROLE_CLAIMS.iter().any(|n| t.eq_ignore_ascii_case(n)) || role_typ.is_some_and(|r| t == r))
        .map(|(_, v)| v.clone())
        .collect();
    let label = name_typ.and_then(|n| claims.iter().find(|(t, _)| t == n).map(|(_, v)| v.clone())).or_else(|| first(&NAME_CLAIMS));
    Ok(Principal { kind: PrincipalKind::Entra, tenant: Some(clip(&tenant)), id: clip(&object), label: label.map(|l| clip(&l)), roles })
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// Whether an app setting holds a true value as the Functions host parses it (`true`, `1`).
pub fn setting_is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(v: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(v.to_string())
    }

    #[test]
    fn a_client_principal_is_keyed_by_tenant_and_object() {
        let header = encode(&json!({
            "auth_typ": "aad",
            "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
            "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
            "claims": [
                {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": "t-1"},
                {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "o-9"},
                {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "val": "Ann Example"},
                {"typ": "roles", "val": "Release.Approver"},
                {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": "Quarantine.Operator"},
                {"typ": "groups", "val": "g-1"}
            ]
        }));
        let p = from_client_principal(&header).unwrap();
        assert_eq!(p.key(), "entra:t-1/o-9");
        assert_eq!(p.label.as_deref(), Some("Ann Example"));
        assert!(p.has_role(roles::RELEASE_APPROVER) && p.has_role(roles::QUARANTINE_OPERATOR));
        assert!(!p.has_role("g-1"));
    }

    #[test]
    fn a_principal_without_ids_or_in_bad_shape_is_refused() {
        let no_oid = encode(&json!({"claims": [{"typ": "tid", "val": "t"}, {"typ": "name", "val": "x"}]}));
        assert_eq!(from_client_principal(&no_oid), Err(AuthError::MissingClaim("object id (oid)")));
        assert!(matches!(from_client_principal("%%%"), Err(AuthError::Malformed(_))));
        assert!(matches!(from_client_principal(&encode(&json!([1]))), Err(AuthError::Malformed(_))));
    }

    #[test]
    fn identities_skip_the_function_key() {
        let ids = json!([
            {"AuthenticationType": "WebJobsAuthLevel", "Claims": [{"Type": "http://schemas.microsoft.com/2017/07/functions/claims/authlevel", "Value": "Function"}]},
            {"AuthenticationType": "aad", "Claims": [{"Type": "tid", "Value": "t"}, {"Type": "oid", "Value": "o"}, {"Type": "roles", "Value": "Release.Emergency"}]}
        ]);
        let p = from_identities(&ids).unwrap();
        assert_eq!(p.key(), "entra:t/o");
        assert!(p.has_role(roles::RELEASE_EMERGENCY));
        assert_eq!(from_identities(&json!([ids[0].clone()])), Err(AuthError::Missing));
    }

    #[test]
    fn settings_parse_like_the_host() {
        assert!(setting_is_true(Some("True")) && setting_is_true(Some("1")));
        assert!(!setting_is_true(Some("false")) && !setting_is_true(None) && !setting_is_true(Some("")));
    }
}
