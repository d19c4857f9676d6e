//! The evidence pack's `index.html`: one self-contained page (no scripts, no external assets)
//! that opens with the summary and the exceptions (every run that did not succeed, with its
//! reason, gate evidence and what followed), then each section as a table. Every row links to its
//! audit events (by seq) in the audit table at the end, which mirrors `audit.jsonl`. Every value
//! is escaped.

use std::fmt::Write;

use serde_json::Value;

use super::summary::{item_key, run_key, seqs_of, summarize, Summary};
use super::Pack;

/// Links to audit events by seq (anchors in the page's audit table).
fn links(seqs: &[u64]) -> String {
    seqs.iter().map(|s| format!("<a href=\"#seq-{s}\">#{s}</a>")).collect::<Vec<_>>().join(" ")
}

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

/// A cell's text, escaped, with a line-break opportunity after the separators of the long ids and
/// paths it holds (so a table fits the page without breaking ordinary words).
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in esc(s).chars() {
        out.push(c);
        if matches!(c, '/' | ':' | '@' | '_' | ',') {
            out.push_str("<wbr>");
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

/// A table of `rows` with one column per (heading, JSON pointer). A pointer may name
/// alternatives (`/error|/reason`: the first that is set); `@seqs` shows the row's `_seqs` as links
/// to its audit events; a row's `_anchor` becomes its `id`.
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
        match r["_anchor"].as_str() {
            Some(a) => {
                let _ = write!(out, "<tr id=\"{}\">", esc(a));
            }
            None => out.push_str("<tr>"),
        }
        for (_, ptr) in cols {
            if *ptr == "@seqs" {
                let seqs: Vec<u64> = r["_seqs"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
                let _ = write!(out, "<td>{}</td>", links(&seqs));
                continue;
            }
            let v = ptr.split('|').filter_map(|p| r.pointer(p)).find(|v| !v.is_null()).unwrap_or(&Value::Null);
            let _ = write!(out, "<td>{}</td>", cell(&text(v)));
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
         th,td{{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:12px;overflow-wrap:break-word}}th{{background:#f3f3f3}}\
         .ok{{color:#0a6b2d}}.bad{{color:#b00020;font-weight:bold}}.none{{color:#777}}small{{font-weight:normal;color:#555}}\
         tr.exc td{{background:#fbe3e6}}dl{{display:grid;grid-template-columns:max-content auto;gap:2px 12px}}dt{{font-weight:bold}}dd{{margin:0}}\
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
    let sum = summarize(p);
    summary_section(&mut o, p, &sum);
    exceptions_section(&mut o, &sum);
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
    let run_rows: Vec<Value> = p
        .runs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["_seqs"] = serde_json::json!(seqs_of(&p.audit, &run_key(&r)));
            r
        })
        .collect();
    table(
        &mut o,
        "Runs",
        "runs.json",
        &run_rows,
        &[
            ("job", "/job"),
            ("logical time", "/logical_time"),
            ("status", "/status"),
            ("attempts", "/attempts"),
            ("records in", "/records_in"),
            ("records out", "/records_out"),
            ("error / reason", "/error|/reason"),
            ("audit events", "@seqs"),
        ],
    );
    let gate_rows: Vec<Value> = p
        .gates
        .iter()
        .flat_map(|g| {
            g["decision"]["checks"].as_array().cloned().unwrap_or_default().into_iter().map(move |c| {
                let key = run_key(g);
                serde_json::json!({ "job": g["job"], "logical_time": g["logical_time"], "dataset": c["dataset"], "gate": c["gate"], "passed": c["passed"], "detail": c["detail"], "_seqs": seqs_of(&p.audit, &key) })
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
            ("audit events", "@seqs"),
        ],
    );
    // Rows about a release link to the audit events whose subject is its id.
    let with_seqs = |mut row: Value, key: &str| {
        row["_seqs"] = serde_json::json!(seqs_of(&p.audit, key));
        row
    };
    let release_rows: Vec<Value> = p.releases.iter().map(|r| with_seqs(release_row(r), r["id"].as_str().unwrap_or(""))).collect();
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
            ("audit events", "@seqs"),
        ],
    );
    table(
        &mut o,
        "Active release over the window",
        "releases.json",
        &p.active.iter().map(|a| with_seqs(a.clone(), a["release"].as_str().unwrap_or(""))).collect::<Vec<_>>(),
        &[("release", "/release"), ("from", "/from"), ("until", "/until"), ("how", "/how"), ("by", "/by"), ("audit events", "@seqs")],
    );
    table(
        &mut o,
        "Release decisions: proposals, approvals, refusals, checks, evaluations, canary decisions, switches, promotions and rollbacks",
        "approvals.json",
        &p.approvals
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e["_seqs"] = serde_json::json!([e["seq"]]);
                e
            })
            .collect::<Vec<_>>(),
        &[
            ("at", "/at"),
            ("kind", "/kind"),
            ("actor", "/actor"),
            ("subject", "/subject"),
            ("decision", "/decision"),
            ("audit event", "@seqs"),
        ],
    );
    table(
        &mut o,
        "Quarantine and replays",
        "quarantine.json",
        &p.quarantine
            .iter()
            .map(|q| {
                let mut q = q.clone();
                q["_seqs"] = serde_json::json!(seqs_of(&p.audit, &item_key(&q)));
                q
            })
            .collect::<Vec<_>>(),
        &[
            ("id", "/id"),
            ("kind", "/kind"),
            ("at", "/at"),
            ("status", "/status"),
            ("attempts", "/attempts"),
            ("reason", "/reason"),
            ("history", "/history"),
            ("audit events", "@seqs"),
        ],
    );
    table(
        &mut o,
        "SLA and freshness outcomes",
        "sla.json",
        &p.sla
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a["_seqs"] = serde_json::json!(seqs_of(&p.audit, a["key"].as_str().unwrap_or("")));
                a
            })
            .collect::<Vec<_>>(),
        &[
            ("kind", "/kind"),
            ("subject", "/key|/subject"),
            ("due", "/due_at"),
            ("raised", "/raised_at"),
            ("message", "/message"),
            ("audit events", "@seqs"),
        ],
    );
    // Datasets by name: their facets are in lineage.jsonl.
    let names = |v: &Value| v.as_array().into_iter().flatten().map(|d| text(&d["name"])).collect::<Vec<_>>().join(", ");
    let lineage_rows: Vec<Value> = p
        .lineage
        .iter()
        .map(|e| {
            let key = format!("{}@{}", text(&e["job"]["name"]), text(&e["run"]["facets"]["nominalTime"]["nominalStartTime"]));
            serde_json::json!({ "eventType": e["eventType"], "eventTime": e["eventTime"], "job": e["job"]["name"], "run": e["run"]["runId"],
                "inputs": names(&e["inputs"]), "outputs": names(&e["outputs"]), "_seqs": seqs_of(&p.audit, &key) })
        })
        .collect();
    table(
        &mut o,
        "Lineage",
        "lineage.jsonl",
        &lineage_rows,
        &[
            ("event", "/eventType"),
            ("time", "/eventTime"),
            ("job", "/job"),
            ("run id", "/run"),
            ("inputs", "/inputs"),
            ("outputs", "/outputs"),
            ("audit events", "@seqs"),
        ],
    );
    let audit_rows: Vec<Value> = p
        .audit
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e["_anchor"] = Value::String(format!("seq-{}", e["seq"]));
            e
        })
        .collect();
    table(
        &mut o,
        "Audit events",
        "audit.jsonl",
        &audit_rows,
        &[("seq", "/seq"), ("at", "/at"), ("kind", "/kind"), ("actor", "/actor"), ("subject", "/subject"), ("decision", "/decision")],
    );
    o.push_str("</body></html>\n");
    o
}

/// The summary: the figures an auditor samples from, each with where its detail is.
fn summary_section(o: &mut String, p: &Pack, s: &Summary) {
    let dd = |o: &mut String, term: &str, html: String| {
        let _ = write!(o, "<dt>{}</dt><dd>{html}</dd>", esc(term));
    };
    o.push_str("<h2 id=\"summary\">Summary</h2><dl>");
    let chain = if p.chain["intact"] == true {
        format!("<span class=\"ok\">intact</span>: {} event(s) verified from the first", p.chain["events"])
    } else {
        format!("<span class=\"bad\">BROKEN at event seq {}</span>: {}", esc(&text(&p.chain["first_bad_seq"])), esc(&text(&p.chain["why"])))
    };
    dd(o, "Audit chain", chain);
    let outcomes: Vec<String> = s.by_status.iter().map(|(k, n)| format!("{n} {}", esc(k))).collect();
    dd(o, "Runs", format!("{} in the window: {}", p.runs.len(), if outcomes.is_empty() { "none".into() } else { outcomes.join(", ") }));
    dd(o, "Exceptions", format!("<a href=\"#exceptions\">{} run(s) did not succeed</a>", s.exceptions.len()));
    let (met, late, missed) = s.sla;
    let due = met + late + missed;
    let adherence = if due == 0 {
        "no deadline fell in the window".to_string()
    } else {
        format!("{:.1} % met ({met} of {due} on time, {late} late, {missed} missed)", met as f64 * 100.0 / due as f64)
    };
    let breaches = if s.breaches.is_empty() { String::new() } else { format!("; breaches: {}", esc(&s.breaches.join("; "))) };
    dd(o, "SLA adherence", format!("{}{breaches}", esc(&adherence)));
    let alerts: Vec<String> = s.alerts.iter().map(|(k, n)| format!("{n} {}", esc(k))).collect();
    dd(o, "Alerts raised", if alerts.is_empty() { "none".into() } else { alerts.join(", ") });
    let (opened, replayed, discarded, open) = s.quarantine;
    dd(o, "Quarantine", format!("{opened} opened, {replayed} replayed, {discarded} discarded in the window; {open} still open"));
    dd(o, "Gates", format!("{} gate decision(s) held a run; {} run(s) ended with a gate that did not pass", s.gate_holds, s.held_runs));
    let config = match &s.config_at_start {
        Some(c) => format!(
            "in force at the start: digest <code>{}</code>, recorded {} from {} <a href=\"#seq-{}\">#{}</a> (<a href=\"configuration.json\">configuration.json</a>)",
            esc(&text(&c["evidence"]["digest"])),
            esc(&text(&c["at"])),
            esc(&text(&c["evidence"]["source"])),
            c["seq"],
            c["seq"]
        ),
        None => "none recorded before the window's start".into(),
    };
    let changes: Vec<String> = s
        .config_changes
        .iter()
        .map(|c| format!("{} ({}) <a href=\"#seq-{}\">#{}</a>", esc(&text(&c["at"])), esc(&text(&c["decision"])), c["seq"], c["seq"]))
        .collect();
    dd(
        o,
        "Configuration",
        format!(
            "{config}; {} change(s) in the window{}",
            changes.len(),
            if changes.is_empty() { String::new() } else { format!(": {}", changes.join(", ")) }
        ),
    );
    let (marked, cleared, replays) = s.suspect;
    dd(
        o,
        "Suspected data",
        format!("{marked} arrival(s) marked suspect, {cleared} mark(s) lifted, {replays} run(s) replayed because of them"),
    );
    dd(o, "Changes shipped", if s.shipped.is_empty() { "none".into() } else { esc(&s.shipped.join("; ")) });
    o.push_str("</dl>");
}

/// The exceptions: every run that did not succeed, first.
fn exceptions_section(o: &mut String, s: &Summary) {
    let _ = write!(o, "<h2 id=\"exceptions\">Exceptions <small>({} · every run that did not succeed)</small></h2>", s.exceptions.len());
    if s.exceptions.is_empty() {
        o.push_str("<p class=\"none\">Every run in the window succeeded.</p>");
        return;
    }
    o.push_str("<table><thead><tr><th>run</th><th>status</th><th>reason or error</th><th>gate evidence</th><th>what followed</th><th>audit events</th></tr></thead><tbody>");
    for e in &s.exceptions {
        let _ = write!(
            o,
            "<tr class=\"exc\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(&e.key),
            cell(&e.status),
            cell(&e.why),
            cell(&e.gate),
            cell(&e.followed.join("; ")),
            links(&e.seqs)
        );
    }
    o.push_str("</tbody></table>");
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
