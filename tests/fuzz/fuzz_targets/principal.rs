//! The Easy Auth principal header (`X-MS-CLIENT-PRINCIPAL`): any header is a principal or a clear
//! refusal; a header made of claims gives back exactly the tenant, object id, name and roles.
#![no_main]

use base64::Engine;
use flowgate::domain::principal::from_client_principal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // As the header arrives.
    let _ = from_client_principal(text);
    // Claims made from the input: they must come back unchanged.
    let parts: Vec<&str> = text.splitn(4, '\u{1f}').collect();
    let [tid, oid, name, roles] = parts[..] else { return };
    if tid.trim().is_empty() || oid.trim().is_empty() || tid.trim() != tid || oid.trim() != oid {
        return;
    }
    let roles: Vec<&str> = roles.split(',').filter(|r| !r.is_empty()).collect();
    let mut claims = vec![
        serde_json::json!({"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tid}),
        serde_json::json!({"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid}),
        serde_json::json!({"typ": "name", "val": name}),
    ];
    claims.extend(roles.iter().map(|r| serde_json::json!({"typ": "roles", "val": r})));
    let header = serde_json::json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"});
    let encoded = base64::engine::general_purpose::STANDARD.encode(header.to_string());
    // Claim values are kept without control characters, at most 128 characters each.
    let clean = |s: &str| s.chars().filter(|c| !c.is_control()).take(128).collect::<String>();
    if clean(tid).is_empty() || clean(oid).is_empty() {
        return;
    }
    let p = from_client_principal(&encoded).unwrap_or_else(|e| panic!("a well-formed principal was refused: {e}"));
    let key = p.key();
    assert_eq!(key, format!("entra:{}/{}", clean(tid), clean(oid)), "the key names tenant and object");
    // Roles are compared, never shown: kept as sent.
    for r in &roles {
        assert!(p.has_role(r), "role `{r}` lost");
    }
});
