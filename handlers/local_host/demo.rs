//! `flowgate local --demo`: the bundled claims catalog on a simulated week. This module generates
//! the week's sample correspondence; `demo_endpoint` serves the **demo scorer**. Neither is used
//! outside the demo.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Datelike, Duration as ChronoDuration, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde_json::json;

pub use super::demo_endpoint::{classify, start_scorer, DemoEndpoint};

const SNIPPETS: [&str; 12] = [
    "I had an accident on the A40 and the car has damage to the rear bumper",
    "My van was stolen from the driveway overnight, this is my first notice",
    "Please explain the extra charge on my latest invoice",
    "I would like a refund of the premium I paid twice this month",
    "This is unacceptable, I have waited six weeks and I want to escalate",
    "I am disappointed with how my claim was handled and will contact the ombudsman",
    "Please update my correspondence address",
    "Can you confirm you received the photos I sent last week?",
    "Collision at a roundabout, the other driver admitted fault",
    "Water damage in the kitchen after a pipe burst",
    "Why has my payment been taken early?",
    "Thank you for the quick response",
];
const CHANNELS: [&str; 3] = ["email", "letter", "portal"];

/// Writes a week of hourly correspondence (weekdays 08:05–18:05 London time) as CSV under
/// `landing/claims/correspondence/`, plus an urgent JSON Lines drop half an hour after each, each file's modification
/// time set to its arrival time so that the virtual clock announces it then. On the window's first
/// Monday the 08:05 file comes from a misconfigured export (its `body` column is named `text`), so
/// the demo shows a run that retrying cannot fix being blocked. It lands before the release story's
/// canary starts (09:00), so every week tells the same story: a file on the canary's side would
/// count as a contract violation against the candidate and could stall its promotion depending on
/// which side the date's hash put it. Returns the number of files.
pub fn generate_week(data_dir: &Path, from: DateTime<Utc>, days: u32) -> Result<usize, String> {
    let london: Tz = "Europe/London".parse().map_err(|_| "no Europe/London zone".to_string())?;
    let inbox = data_dir.join("landing/claims/correspondence");
    let urgent = data_dir.join("landing/claims/urgent");
    for d in [&inbox, &urgent] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut files = 0;
    let mut seq = 0u64;
    let mut broken_done = false;
    let start_local = from.with_timezone(&london).date_naive();
    for day in 0..days {
        let date = start_local + ChronoDuration::days(i64::from(day));
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for hour in 8..=18u32 {
            let Some(local) = london.with_ymd_and_hms(date.year(), date.month(), date.day(), hour, 5, 0).single() else {
                continue;
            };
            let at = local.with_timezone(&Utc);
            if at <= from {
                continue;
            }
            let rows = 3 + (u64::from(day) * 7 + u64::from(hour)) % 8;
            let broken = !broken_done && date.weekday() == Weekday::Mon && hour == 8;
            broken_done |= broken;
            let header = if broken {
                "claim_id,received_at,channel,text,policyholder_email\n"
            } else {
                "claim_id,received_at,channel,body,policyholder_email\n"
            };
            let mut csv = String::from(header);
            for _ in 0..rows {
                seq += 1;
                let body = SNIPPETS[(seq * 5 % SNIPPETS.len() as u64) as usize];
                let received = at - ChronoDuration::minutes((seq % 50) as i64);
                csv.push_str(&format!(
                    "CLM-{seq:06},{},{},\"{body}\",policyholder{seq}@example.com\n",
                    received.format("%Y-%m-%dT%H:%M:%SZ"),
                    CHANNELS[(seq % 3) as usize]
                ));
            }
            let name = format!("{}.csv", at.format("%Y-%m-%dT%H%MZ"));
            write_at(&inbox.join(name), csv.as_bytes(), at)?;
            files += 1;
            {
                seq += 1;
                let urgent_at = at + ChronoDuration::minutes(30);
                let line = json!({
                    "claim_id": format!("CLM-{seq:06}"),
                    "received_at": urgent_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                    "channel": "portal",
                    "body": SNIPPETS[(seq % SNIPPETS.len() as u64) as usize],
                    "policyholder_email": format!("policyholder{seq}@example.com"),
                });
                let name = format!("{}.jsonl", urgent_at.format("%Y-%m-%dT%H%MZ"));
                write_at(&urgent.join(name), format!("{line}\n").as_bytes(), urgent_at)?;
                files += 1;
            }
        }
    }
    Ok(files)
}

/// Writes a file with its modification time set to `at`, and its metadata sidecar stamping the
/// contract's schema version (what a producer sets as blob metadata in Azure).
fn write_at(path: &Path, bytes: &[u8], at: DateTime<Utc>) -> Result<(), String> {
    let sidecar = format!("{}{}", path.display(), crate::ports::SIDECAR_SUFFIX);
    std::fs::write(&sidecar, "{\"schema_version\": \"1.0.0\", \"producer\": \"claims-intake\"}\n")
        .map_err(|e| format!("{sidecar}: {e}"))?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let f = std::fs::File::options().write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let when = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(at.timestamp_millis()).unwrap_or(0));
    f.set_modified(when).map_err(|e| format!("{}: {e}", path.display()))
}

/// The Monday 00:00 UTC on or before `t`: where the demo week starts.
pub fn week_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let d = t.date_naive() - ChronoDuration::days(i64::from(t.weekday().num_days_from_monday()));
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_of_files_with_arrival_times() {
        let dir = tempfile::tempdir().unwrap();
        let from = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        let n = generate_week(dir.path(), from, 7).unwrap();
        assert_eq!(n, 5 * 11 * 2);
        let first = dir.path().join("landing/claims/correspondence/2026-11-02T0805Z.csv");
        let m: DateTime<Utc> = std::fs::metadata(&first).unwrap().modified().unwrap().into();
        assert_eq!(m, Utc.with_ymd_and_hms(2026, 11, 2, 8, 5, 0).unwrap());
        assert_eq!(week_start(Utc.with_ymd_and_hms(2026, 11, 27, 13, 0, 0).unwrap()), Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
    }
}
