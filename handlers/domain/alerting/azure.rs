//! Azure Monitor's common alert schema (what an action group posts to `AlertIngest`), mapped onto
//! flowgate's alerts so the backstops that run in Azure — heartbeat missing, dead letters — are
//! deduplicated, repeated and resolved like flowgate's own: `data.essentials.alertRule` names the
//! alert, `monitorCondition` says `Fired` or `Resolved`, `severity` is `Sev0`–`Sev4`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::notify::{Alert, Severity, Status};

/// Why a posted body is not a common-schema alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("`schemaId` is `{0}`, not `azureMonitorCommonAlertSchema` (turn on the common alert schema in the action group)")]
    Schema(String),
    #[error("`data.essentials.{0}` is missing or empty")]
    Missing(&'static str),
    #[error("`data.essentials.monitorCondition` is `{0}`, not `Fired` or `Resolved`")]
    Condition(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    schema_id: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    essentials: Option<Essentials>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Essentials {
    alert_rule: Option<String>,
    severity: Option<String>,
    monitor_condition: Option<String>,
    fired_date_time: Option<DateTime<Utc>>,
    resolved_date_time: Option<DateTime<Utc>>,
    description: Option<String>,
    #[serde(default, rename = "alertTargetIDs")]
    alert_targets: Vec<String>,
}

/// One posted alert: the alert as flowgate names it, whether it fired, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub alert: Alert,
    pub fired: bool,
    pub at: DateTime<Utc>,
}

/// The alert name of a rule flowgate's `infra/` deploys, else `AzureMonitorAlert`.
fn name_of(rule: &str) -> &'static str {
    if rule.ends_with("heartbeat-missing") {
        "HeartbeatMissing"
    } else if rule.ends_with("dead-letters") {
        "DeadLettersAzure"
    } else {
        "AzureMonitorAlert"
    }
}

pub fn parse(body: &[u8], now: DateTime<Utc>) -> Result<Ingested, SchemaError> {
    let b: Body = serde_json::from_slice(body).map_err(|e| SchemaError::Json(e.to_string()))?;
    let schema = b.schema_id.unwrap_or_default();
    if schema != "azureMonitorCommonAlertSchema" {
        return Err(SchemaError::Schema(schema));
    }
    let e = b.data.and_then(|d| d.essentials).ok_or(SchemaError::Missing("essentials"))?;
    let rule = e.alert_rule.filter(|r| !r.trim().is_empty()).ok_or(SchemaError::Missing("alertRule"))?;
    let fired = match e.monitor_condition.as_deref() {
        Some("Fired") => true,
        Some("Resolved") => false,
        Some(other) => return Err(SchemaError::Condition(other.to_string())),
        None => return Err(SchemaError::Missing("monitorCondition")),
    };
    let severity = match e.severity.as_deref() {
        Some("Sev0" | "Sev1") => Severity::Sev1,
        Some("Sev2") => Severity::Sev2,
        Some("Sev3") => Severity::Sev3,
        Some("Sev4") => Severity::Sev4,
        _ => Severity::Sev3,
    };
    let started = e.fired_date_time.unwrap_or(now);
    let at = if fired { started } else { e.resolved_date_time.unwrap_or(now) };
    let target = e.alert_targets.first().and_then(|t| t.rsplit('/').next()).unwrap_or("").to_string();
    let mut labels: std::collections::BTreeMap<String, String> = [("rule".to_string(), rule.clone())].into();
    if !target.is_empty() {
        labels.insert("target".into(), target);
    }
    let alert = Alert {
        name: name_of(&rule).to_string(),
        labels,
        severity,
        status: if fired { Status::Firing } else { Status::Resolved },
        starts_at: started,
        ends_at: (!fired).then_some(at),
        summary: e.description.filter(|d| !d.is_empty()).unwrap_or_else(|| format!("Azure Monitor alert {rule}")),
        facts: vec![("Rule".into(), rule)],
        runbook: Some(format!("{}/stuck-pipeline.md", super::rules::RUNBOOKS)),
        link: None,
    };
    Ok(Ingested { alert, fired, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alertingest").join(name)).unwrap()
    }

    #[test]
    fn fired_and_resolved_map_onto_one_fingerprint() {
        let now = Utc::now();
        let fired = parse(&fixture("heartbeat-fired.json"), now).unwrap();
        let resolved = parse(&fixture("heartbeat-resolved.json"), now).unwrap();
        assert!(fired.fired && !resolved.fired);
        assert_eq!(fired.alert.name, "HeartbeatMissing");
        assert_eq!(fired.alert.severity, Severity::Sev1);
        assert_eq!(fired.alert.fingerprint(), resolved.alert.fingerprint());
        assert_eq!(fired.at.to_rfc3339(), "2026-11-30T06:15:00+00:00");
        assert_eq!(resolved.at.to_rfc3339(), "2026-11-30T06:40:00+00:00");
        let dlq = parse(&fixture("deadletters-fired.json"), now).unwrap();
        assert_eq!((dlq.alert.name.as_str(), dlq.alert.severity), ("DeadLettersAzure", Severity::Sev2));
        assert_ne!(dlq.alert.fingerprint(), fired.alert.fingerprint());
    }

    #[test]
    fn bodies_that_are_not_common_schema_alerts_are_named() {
        let now = Utc::now();
        assert!(matches!(parse(b"", now), Err(SchemaError::Json(_))));
        assert!(matches!(parse(br#"{"schemaId":"Microsoft.Insights/activityLogs"}"#, now), Err(SchemaError::Schema(_))));
        assert_eq!(parse(br#"{"schemaId":"azureMonitorCommonAlertSchema","data":{}}"#, now), Err(SchemaError::Missing("essentials")));
        let odd = br#"{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertRule":"r","monitorCondition":"Maybe"}}}"#;
        assert_eq!(parse(odd, now), Err(SchemaError::Condition("Maybe".into())));
    }
}
