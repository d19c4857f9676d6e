//! Slack through an incoming webhook: `text` (the notification's fallback) and blocks — a header,
//! one section per alert (at most 20; the rest summed up) and the links.

use serde_json::{json, Value};

use super::Group;

/// Alerts shown one by one; Slack allows 50 blocks.
pub const MAX_ALERTS: usize = 20;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// The message for a group.
pub fn message(g: &Group) -> Value {
    let title = g.title();
    let mut blocks = vec![json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&title, 150) } })];
    for a in g.alerts.iter().take(MAX_ALERTS) {
        let mut fields = vec![json!({ "type": "mrkdwn", "text": format!("*Severity*\n{}", a.severity.label()) })];
        fields.extend(a.facts.iter().take(9).map(|(t, v)| json!({ "type": "mrkdwn", "text": clip(&format!("*{t}*\n{v}"), 2000) })));
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&a.summary, 3000) }, "fields": fields }));
    }
    if g.alerts.len() > MAX_ALERTS {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("…and {} more alert(s)", g.alerts.len() - MAX_ALERTS) }] }));
    }
    let links: Vec<String> = g
        .alerts
        .first()
        .into_iter()
        .flat_map(|a| [a.runbook.as_ref().map(|u| format!("<{u}|Runbook>")), a.link.as_ref().map(|u| format!("<{u}|Open>"))])
        .flatten()
        .collect();
    if !links.is_empty() {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": links.join(" · ") }] }));
    }
    json!({ "text": clip(&title, 3000), "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::group;
    use super::super::Status;
    use super::*;

    #[test]
    fn a_message_matches_its_golden_file_with_a_text_fallback() {
        let m = message(&group(2, Status::Firing));
        let golden: Value = serde_json::from_str(include_str!("../../../tests/fixtures/notify/slack.json")).unwrap();
        assert_eq!(m, golden, "{}", serde_json::to_string_pretty(&m).unwrap());
        let many = message(&group(60, Status::Firing));
        assert!(many["blocks"].as_array().unwrap().len() <= 50);
        assert!(many.to_string().contains("and 40 more alert(s)"));
    }
}
