//! Who is calling an HTTP function. The Easy Auth principal (`X-MS-CLIENT-PRINCIPAL`, or the
//! host's `Identities`) is trusted only when `WEBSITE_AUTH_ENABLED` is true; on a laptop,
//! `flowgate local` sets `FLOWGATE_DEV_IDENTITIES` and a development identity may be named in
//! `X-Flowgate-Dev-Identity` (never on App Service). Anything else is refused with 401, audited.

use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::reply;
use crate::domain::audit::AuditKind;
use crate::domain::principal::{from_client_principal, from_identities, setting_is_true, AuthError, Principal};
use crate::flows::Deps;

const CLIENT_PRINCIPAL: &str = "x-ms-client-principal";
const DEV_IDENTITY: &str = "x-flowgate-dev-identity";

/// A header of a wrapped request (`Headers: {name: [values]}`, names in any case).
pub(crate) fn header(req: &Value, name: &str) -> Option<String> {
    let headers = req.get("Headers").and_then(Value::as_object)?;
    let v = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)?;
    match v {
        Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The caller, or why none can be established.
pub(crate) fn caller(deps: &Deps, req: &Value) -> Result<Principal, AuthError> {
    let setting = |k: &str| (deps.settings)(k).filter(|v| !v.is_empty());
    if setting_is_true(setting("WEBSITE_AUTH_ENABLED").as_deref()) {
        return match header(req, CLIENT_PRINCIPAL) {
            Some(h) => from_client_principal(&h),
            None => from_identities(req.get("Identities").unwrap_or(&Value::Null)),
        };
    }
    if let (Some(file), None) = (setting("FLOWGATE_DEV_IDENTITIES"), setting("WEBSITE_SITE_NAME")) {
        if let Some(name) = header(req, DEV_IDENTITY) {
            return crate::adapters::local::identities::lookup(std::path::Path::new(&file), Some(&name)).map_err(AuthError::Malformed);
        }
    }
    Err(AuthError::AuthDisabled)
}

/// Answers 401 and records the refusal (what was presented, never its content).
pub(crate) async fn deny(deps: &Deps, function: &str, req: &Value, why: &AuthError, now: DateTime<Utc>) -> Response {
    let evidence = json!({
        "function": function,
        "why": why.to_string(),
        "principal_header_presented": header(req, CLIENT_PRINCIPAL).is_some(),
        "dev_identity_presented": header(req, DEV_IDENTITY).is_some(),
        "auth_enabled": setting_is_true((deps.settings)("WEBSITE_AUTH_ENABLED").as_deref()),
    });
    tracing::warn!(function, why = %why, "request refused: no trusted caller");
    let recorded =
        crate::flows::audit::record_by(deps.audit.as_ref(), now, AuditKind::AccessDenied, "anonymous", function, "401", evidence, None)
            .await;
    if let Err(e) = recorded {
        return reply::flow_error(&e);
    }
    reply::http_output(401, &json!({ "error": why.to_string() }))
}
