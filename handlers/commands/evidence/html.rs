//! The evidence pack's `index.html`: one self-contained page (no scripts, no external assets)
//! with the verification result first, then each section as a table. Every value is escaped.

use std::fmt::Write;

use serde_json::Value;

use super::Pack;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A table of `rows` with one column per (heading, JSON pointer).
fn table(out: &mut String, title: &str, file: &str, rows: &[Value], cols: &[(&str, &str)]) {
    let _ = write!(out, "<h2>{} <small>({} · <a href=\"{file}\">{file}</a>)</small></h2>", esc(title), rows.len());
    if rows.is_empty() {
        out.push_str("<p class=\"none\">None in this window.</p>");
        return;
    }
    out.push_str("<table><thead><tr>");
    for (h, _) in cols {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (_, ptr) in cols {
            let _ = write!(out, "<td>{}</td>", esc(&text(r.pointer(ptr).unwrap_or(&Value::Null))));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

pub(super) fn render(p: &Pack) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>flowgate evidence {} – {}</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 2em;width:100%}}\
         th,td{{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:12px}}th{{background:#f3f3f3}}\
         .ok{{color:#0a6b2d}}.bad{{color:#b00020;font-weight:bold}}.none{{color:#777}}small{{font-weight:normal;color:#555}}\
         </style></head><body>",
        esc(&p.from.to_rfc3339()),
        esc(&p.to.to_rfc3339())
    );
    let _ = write!(
        o,
        "<h1>Evidence pack</h1><p>Window: <b>{}</b> to <b>{}</b> (UTC, end excluded). Generated {} by flowgate {}. \
         Each file's SHA-256 is in <a href=\"manifest.json\">manifest.json</a>.</p>",
        esc(&p.from.to_rfc3339()),
        esc(&p.to.to_rfc3339()),
        esc(&p.generated_at.to_rfc3339()),
        env!("CARGO_PKG_VERSION")
    );
    let c = &p.chain;
    if c["intact"].as_bool() == Some(true) {
        let _ = write!(
            o,
            "<h2>Audit chain</h2><p class=\"ok\">Intact: {} event(s) verified from the first; head hash <code>{}</code>. \
             This window holds {} of them (<a href=\"audit.jsonl\">audit.jsonl</a>, <a href=\"audit-verification.json\">verification</a>); \
             check it again with <code>flowgate audit verify --file audit.jsonl</code>.</p>",
            c["events"],
            esc(&text(&c["head_hash"])),
            p.audit.len()
        );
    } else {
        let _ = write!(
            o,
            "<h2>Audit chain</h2><p class=\"bad\">BROKEN at event seq {}: {}. Nothing after it can be relied on.</p>",
            esc(&text(&c["first_bad_seq"])),
            esc(&text(&c["why"]))
        );
    }
    table(
        &mut o,
        "Runs",
        "runs.json",
        &p.runs,
        &[
            ("job", "/job"),
            ("logical time", "/logical_time"),
            ("status", "/status"),
            ("attempts", "/attempts"),
            ("records in", "/records_in"),
            ("records out", "/records_out"),
            ("error / reason", "/error"),
        ],
    );
    let gate_rows: Vec<Value> = p
        .gates
        .iter()
        .flat_map(|g| {
            g["decision"]["checks"].as_array().cloned().unwrap_or_default().into_iter().map(move |c| {
                serde_json::json!({ "job": g["job"], "logical_time": g["logical_time"], "dataset": c["dataset"], "gate": c["gate"], "passed": c["passed"], "detail": c["detail"] })
            })
        })
        .collect();
    table(
        &mut o,
        "Gate decisions",
        "gate-decisions.json",
        &gate_rows,
        &[
            ("job", "/job"),
            ("logical time", "/logical_time"),
            ("dataset", "/dataset"),
            ("gate", "/gate"),
            ("passed", "/passed"),
            ("evidence", "/detail"),
        ],
    );
    let release_rows: Vec<Value> = p.releases.iter().map(release_row).collect();
    table(
        &mut o,
        "Releases",
        "releases.json",
        &release_rows,
        &[
            ("release", "/id"),
            ("state", "/state"),
            ("proposed", "/proposed"),
            ("commit", "/commit"),
            ("approvals (role; distinct from author)", "/approvals"),
            ("checks", "/checks"),
            ("offline evaluation", "/evaluation"),
            ("canary rollout", "/rollout"),
            ("emergency change", "/emergency"),
        ],
    );
    table(
        &mut o,
        "Active release over the window",
        "releases.json",
        &p.active,
        &[("release", "/release"), ("from", "/from"), ("until", "/until"), ("how", "/how"), ("by", "/by")],
    );
    table(
        &mut o,
        "Release decisions: proposals, approvals, refusals, checks, evaluations, canary decisions, switches, promotions and rollbacks",
        "approvals.json",
        &p.approvals,
        &[("at", "/at"), ("kind", "/kind"), ("actor", "/actor"), ("subject", "/subject"), ("decision", "/decision")],
    );
    table(
        &mut o,
        "Quarantine and replays",
        "quarantine.json",
        &p.quarantine,
        &[
            ("id", "/id"),
            ("kind", "/kind"),
            ("at", "/at"),
            ("status", "/status"),
            ("attempts", "/attempts"),
            ("reason", "/reason"),
            ("history", "/history"),
        ],
    );
    table(
        &mut o,
        "SLA and freshness outcomes",
        "sla.json",
        &p.sla,
        &[("kind", "/kind"), ("subject", "/subject"), ("due", "/due_at"), ("raised", "/raised_at"), ("message", "/message")],
    );
    table(
        &mut o,
        "Lineage",
        "lineage.jsonl",
        &p.lineage,
        &[
            ("event", "/eventType"),
            ("time", "/eventTime"),
            ("job", "/job/name"),
            ("run id", "/run/runId"),
            ("inputs", "/inputs"),
            ("outputs", "/outputs"),
        ],
    );
    table(
        &mut o,
        "Audit events",
        "audit.jsonl",
        &p.audit,
        &[("seq", "/seq"), ("at", "/at"), ("kind", "/kind"), ("actor", "/actor"), ("subject", "/subject"), ("decision", "/decision")],
    );
    o.push_str("</body></html>\n");
    o
}

/// One release as a row: approvals and checks spelled out, self-approval never hidden.
fn release_row(r: &Value) -> Value {
    let approvals: Vec<String> = r["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let roles: Vec<String> = a["roles"].as_array().into_iter().flatten().map(text).collect();
            let distinct = if a["distinct_from_author"] == Value::Bool(true) { "distinct" } else { "SELF-APPROVED (solo mode)" };
            let counted = match a["why_not"].as_str() {
                None => "counted".to_string(),
                Some(w) => format!("not counted: {w}"),
            };
            format!("{} ({}; {distinct}; {counted}) at {}", text(&a["by"]), roles.join(","), text(&a["at"]),)
        })
        .collect();
    let checks = match r["checks"].get("results").and_then(Value::as_array) {
        None => "not run".to_string(),
        Some(results) => {
            let failed: Vec<String> = results
                .iter()
                .filter(|c| c["passed"] == Value::Bool(false))
                .map(|c| format!("{} {}", text(&c["check"]), text(&c["subject"])))
                .collect();
            if failed.is_empty() {
                format!("{} passed at {}", results.len(), text(&r["checks"]["at"]))
            } else {
                format!("FAILED: {}", failed.join(", "))
            }
        }
    };
    let emergency = match r["emergency"].as_object() {
        None => String::new(),
        Some(e) => format!(
            "by {} (incident {}): {}; review {} (due {})",
            text(e.get("by").and_then(|b| b.get("id")).unwrap_or(&Value::Null)),
            text(e.get("incident").unwrap_or(&Value::Null)),
            text(e.get("reason").unwrap_or(&Value::Null)),
            text(&r["review_state"]),
            text(e.get("review_due").unwrap_or(&Value::Null))
        ),
    };
    let evaluation = match r["evaluation"].as_object() {
        None => String::new(),
        Some(e) => {
            let figures: Vec<String> = e
                .get("comparison")
                .and_then(|c| c["evaluators"].as_array())
                .into_iter()
                .flatten()
                .map(|x| {
                    format!(
                        "{} {} (n {}, b {}, c {}, p {:.4}, Holm {:.4}, drop {:+.3})",
                        text(&x["name"]),
                        text(&x["verdict"]),
                        x["n"],
                        x["b"],
                        x["c"],
                        x["p_value"].as_f64().unwrap_or(1.0),
                        x["alpha_holm"].as_f64().unwrap_or(0.0),
                        x["drop"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            format!(
                "{} on {} (sha256 {}) by {}: {}",
                text(e.get("verdict").unwrap_or(&Value::Null)),
                text(e.get("dataset").unwrap_or(&Value::Null)),
                text(e.get("dataset_sha256").unwrap_or(&Value::Null)),
                text(e.get("by").and_then(|b| b.get("id")).unwrap_or(&Value::Null)),
                figures.join("; ")
            )
        }
    };
    let rollout = match r["rollout"].as_object() {
        None => String::new(),
        Some(ro) => {
            let last = ro.get("last").cloned().unwrap_or(Value::Null);
            let metrics: Vec<String> = last["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    format!(
                        "{} {}/{} llr {:+.3} in [{:.3}, {:.3}] (p0 {:.3}, p1 {:.3})",
                        text(&m["metric"]),
                        m["events"],
                        m["items"],
                        m["llr"].as_f64().unwrap_or(0.0),
                        m["lower"].as_f64().unwrap_or(0.0),
                        m["upper"].as_f64().unwrap_or(0.0),
                        m["p0"].as_f64().unwrap_or(0.0),
                        m["p1"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            format!(
                "{} after {} pass(es), share {} bp: {}; {}",
                text(ro.get("outcome").unwrap_or(&Value::Null)),
                text(ro.get("passes").unwrap_or(&Value::Null)),
                text(&ro["canary"]["share_bp"]),
                metrics.join("; "),
                last["reasons"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join("; ")
            )
        }
    };
    serde_json::json!({
        "id": r["id"],
        "state": r["state"],
        "evaluation": evaluation,
        "rollout": rollout,
        "proposed": format!("{} at {}", text(&r["proposed_by"]), text(&r["proposed_at"])),
        "commit": r["commit"],
        "approvals": format!("{} of {} required{}: {}", r["approvals"].as_array().map_or(0, |a| a.iter().filter(|x| x["counted"] == Value::Bool(true)).count()), text(&r["required_approvals"]), if r["solo"] == Value::Bool(true) { " (solo mode)" } else { "" }, approvals.join("; ")),
        "checks": checks,
        "emergency": emergency,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
