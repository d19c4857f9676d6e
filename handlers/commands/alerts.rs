//! `flowgate alerts [--state DIR|azure] [--days N] [--json]` lists the alerts (firing first, then
//! those resolved in the window), the silences in force, the deliveries waiting for another
//! attempt, the receivers that answered 410, and every delivery attempt; `flowgate alerts silence
//! NAME [--job JOB] --for DURATION --reason TEXT` holds an alert's sends (never its state) for a
//! while, recorded with who set it and why.

use std::path::Path;

use chrono::{Duration, Utc};
use serde_json::json;

use super::exit;
use super::state::{open, State};
use crate::domain::alerting::Silence;
use crate::domain::ids::instant_key;
use crate::flows::monitor::{self, deliver};

/// The alert names flowgate's rules raise (a silence must name one of them).
const NAMES: [&str; 11] = [
    "SlaBreach",
    "SlaWarning",
    "BreakerOpen",
    "QuarantineGrowth",
    "StaleData",
    "DeadLetterNonEmpty",
    "NoActiveRelease",
    "EmergencyReviewOverdue",
    "CanaryAborted",
    "CanaryInconclusive",
    "SwitchFailed",
];

pub async fn list(state: &Path, days: u32, as_json: bool) -> u8 {
    let State { store, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let now = Utc::now();
    let since = now - Duration::days(i64::from(days));
    let read = async {
        Ok::<_, crate::ports::StoreError>((
            monitor::states(store.as_ref(), since).await?,
            monitor::silences(store.as_ref(), now).await?,
            deliver::outbox(store.as_ref()).await?,
            deliver::receivers_gone(store.as_ref(), now).await?,
            deliver::deliveries(store.as_ref(), since).await?,
        ))
    };
    let (alerts, silences, pending, gone, log) = match read.await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    if as_json {
        let v = json!({ "alerts": alerts, "silences": silences, "pending": pending, "receivers_gone": gone, "deliveries": log });
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
        return exit::OK;
    }
    let firing = alerts.iter().filter(|a| a.is_firing()).count();
    println!("alerts: {firing} firing, {} resolved in the last {days} day(s)", alerts.len() - firing);
    for a in &alerts {
        let labels: Vec<String> = a.alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let when = match a.resolved_at {
            Some(r) => format!("resolved {}", instant_key(r)),
            None => format!("firing since {}", instant_key(a.fired_at)),
        };
        println!(
            "  {:<8} {:<5} {:<22} {}  [{}]  sent {}×{}\n           {}",
            if a.is_firing() { "FIRING" } else { "resolved" },
            a.alert.severity.label(),
            a.alert.name,
            when,
            labels.join(" "),
            a.sends,
            if a.fired_count > 1 { format!(", fired {} times (flapping?)", a.fired_count) } else { String::new() },
            a.alert.summary
        );
    }
    if !silences.is_empty() {
        println!("silences:");
        for s in &silences {
            println!(
                "  {}{} until {} by {}: {}",
                s.name,
                s.job.as_ref().map(|j| format!(" (job {j})")).unwrap_or_default(),
                instant_key(s.until),
                s.by,
                s.reason
            );
        }
    }
    for (name, d) in &gone {
        println!("receiver {name} answered 410 Gone at {} ({}): skipped for a day, then tried again", instant_key(d.at), d.detail);
    }
    if !pending.is_empty() {
        println!("deliveries waiting:");
        for p in &pending {
            println!("  {} to {}: attempt {} at {}", p.notification.group.title(), p.receiver, p.attempts + 1, instant_key(p.next_at));
        }
    }
    println!("deliveries ({} in the last {days} day(s)):", log.len());
    for d in &log {
        let detail = if d.detail.is_empty() { String::new() } else { format!(" — {}", d.detail) };
        println!(
            "  {}  {:<8} #{} {:<10} {}{detail}",
            instant_key(d.at),
            d.receiver,
            d.attempt,
            format!("{:?}", d.outcome).to_lowercase(),
            d.title
        );
    }
    exit::OK
}

pub async fn silence(state: &Path, name: &str, job: Option<String>, for_: &str, reason: &str, by: &str) -> u8 {
    if !NAMES.contains(&name) {
        eprintln!("error: NAME: `{name}` is not an alert flowgate raises (one of: {})", NAMES.join(", "));
        return exit::BAD_INPUT;
    }
    if reason.trim().is_empty() {
        eprintln!("error: --reason: say why the alert is silenced (it is recorded)");
        return exit::BAD_INPUT;
    }
    let length = match crate::domain::duration::parse_duration(for_) {
        Ok(d) if !d.is_zero() && d <= std::time::Duration::from_secs(30 * 86_400) => d,
        Ok(_) => {
            eprintln!("error: --for: a silence lasts more than nothing and at most 30d");
            return exit::BAD_INPUT;
        }
        Err(e) => {
            eprintln!("error: --for: {e}");
            return exit::BAD_INPUT;
        }
    };
    let State { store, audit, .. } = match open(state) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let now = Utc::now();
    let until = now + Duration::from_std(length).unwrap_or_default();
    let s = Silence { name: name.to_string(), job, until, by: by.to_string(), reason: reason.trim().to_string() };
    match monitor::silence(store.as_ref(), audit.as_ref(), &s, now).await {
        Ok(()) => {
            println!("{} silenced until {} (sends held; the alert's state is still kept)", s.name, instant_key(until));
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
