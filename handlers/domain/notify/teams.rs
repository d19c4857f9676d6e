//! Teams through a Workflows webhook ("When a Teams webhook request is received"): a message
//! carrying one Adaptive Card 1.4. Kept under 20 KB (Teams fails larger posts inside the flow,
//! after answering 202): alerts past the limit are summed up in a last line with a link.

use serde_json::{json, Value};

use super::{Group, Status};

/// The largest card sent, in bytes of JSON.
pub const MAX_BYTES: usize = 20 * 1024;

fn alert_blocks(a: &super::Alert) -> Vec<Value> {
    let facts: Vec<Value> = a.facts.iter().map(|(t, v)| json!({ "title": t, "value": v })).collect();
    let mut out = vec![json!({ "type": "TextBlock", "text": a.summary, "wrap": true, "spacing": "Medium" })];
    if !facts.is_empty() {
        out.push(json!({ "type": "FactSet", "facts": facts }));
    }
    out
}

fn envelope(body: Vec<Value>, actions: &[Value]) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
                "actions": actions,
            }
        }]
    })
}

/// The message for a group.
pub fn message(g: &Group) -> Value {
    let color = if g.status() == Status::Firing { "Attention" } else { "Good" };
    let title = json!({ "type": "TextBlock", "text": g.title(), "weight": "Bolder", "size": "Medium", "color": color, "wrap": true });
    let first = g.alerts.first();
    let mut actions = Vec::new();
    if let Some(url) = first.and_then(|a| a.runbook.as_ref()) {
        actions.push(json!({ "type": "Action.OpenUrl", "title": "Runbook", "url": url }));
    }
    let link = first.and_then(|a| a.link.clone());
    if let Some(url) = &link {
        actions.push(json!({ "type": "Action.OpenUrl", "title": "Open", "url": url }));
    }
    let mut shown = g.alerts.len();
    loop {
        let mut body = vec![title.clone()];
        for a in &g.alerts[..shown] {
            body.extend(alert_blocks(a));
        }
        if shown < g.alerts.len() {
            let more =
                format!("…and {} more alert(s){}", g.alerts.len() - shown, link.as_ref().map(|l| format!(": {l}")).unwrap_or_default());
            body.push(json!({ "type": "TextBlock", "text": more, "wrap": true, "isSubtle": true }));
        }
        let m = envelope(body, &actions);
        if shown == 0 || m.to_string().len() <= MAX_BYTES {
            return m;
        }
        shown -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::group;
    use super::*;

    #[test]
    fn a_card_matches_its_golden_file_and_stays_under_20_kb() {
        let m = message(&group(2, Status::Firing));
        let golden: Value = serde_json::from_str(include_str!("../../../tests/fixtures/notify/teams.json")).unwrap();
        assert_eq!(m, golden, "{}", serde_json::to_string_pretty(&m).unwrap());
        let big = message(&group(400, Status::Firing));
        let text = big.to_string();
        assert!(text.len() <= MAX_BYTES, "{} bytes", text.len());
        assert!(text.contains("more alert(s): https://flowgate.example/api/status"));
        let resolved = message(&group(1, Status::Resolved));
        assert_eq!(resolved["attachments"][0]["content"]["body"][0]["color"], "Good");
    }
}
