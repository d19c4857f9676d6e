//! `flowgate schedule next --cron EXPR [--tz ZONE] --from T --count N [--json]`: the next N slots
//! of an expression after T, computed by the same code as ScheduleTick.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::exit;
use crate::domain::ids::instant_key;
use crate::domain::schedule::{parse_zone, LocalMapping, Ncrontab};

/// The largest `--count`.
pub const MAX_COUNT: usize = 10_000;

pub fn next(cron: &str, tz: &str, from: &str, count: usize, as_json: bool) -> u8 {
    let expr = match Ncrontab::parse(cron) {
        Ok(c) => c,
        Err(e) => return bad(&format!("--cron: {e}")),
    };
    let zone = match parse_zone(tz) {
        Ok(z) => z,
        Err(e) => return bad(&format!("--tz: {e}")),
    };
    let from: DateTime<Utc> = match DateTime::parse_from_rfc3339(from) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => return bad(&format!("--from `{from}` is not an RFC 3339 instant (e.g. 2026-11-02T00:00:00Z): {e}")),
    };
    if !(1..=MAX_COUNT).contains(&count) {
        return bad(&format!("--count must be between 1 and {MAX_COUNT}, not {count}"));
    }
    let mut out = Vec::with_capacity(count);
    let mut after = from;
    while out.len() < count {
        let Some(slot) = expr.next_slot(after, zone) else {
            break;
        };
        after = slot.at;
        out.push(slot);
    }
    if as_json {
        println!("{}", json!(out.iter().map(|s| rfc3339(s.at)).collect::<Vec<_>>()));
    } else {
        for s in &out {
            let note = match s.mapping {
                LocalMapping::Exact => String::new(),
                LocalMapping::FirstOfTwo => " (this local time happens twice; runs at the first)".into(),
                LocalMapping::ShiftedPastGap | LocalMapping::MergedIntoGapEnd => {
                    format!(" ({} does not exist; runs when the clocks have gone forward)", s.local.format("%H:%M:%S"))
                }
            };
            println!("{}  {} {}{note}", rfc3339(s.at), s.at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M:%S %Z"), zone.name());
        }
        if out.len() < count {
            eprintln!("`{cron}` has no more occurrences after {}", instant_key(after));
        }
    }
    exit::OK
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn bad(message: &str) -> u8 {
    eprintln!("error: {message}");
    exit::BAD_INPUT
}
