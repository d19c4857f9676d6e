//! NCRONTAB parsing and next-slot computation in any zone: an expression that parses has, from
//! any start, a next slot later than the start; nothing lies between (asking again just before it
//! finds it again); and the slot after it is later still.
#![no_main]

use chrono::{DateTime, Duration, Utc};
use flowgate::domain::schedule::Ncrontab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let (head, expr) = data.split_at(6);
    let Ok(expr) = std::str::from_utf8(expr) else { return };
    let Ok(cron) = Ncrontab::parse(expr) else { return };
    let zone = chrono_tz::TZ_VARIANTS[usize::from(u16::from_le_bytes([head[0], head[1]])) % chrono_tz::TZ_VARIANTS.len()];
    // A start between 1990 and 2100, to the second.
    let secs = 631_152_000 + i64::from(u32::from_le_bytes([head[2], head[3], head[4], head[5]])) % 3_471_292_800;
    let start: DateTime<Utc> = DateTime::from_timestamp(secs, 0).unwrap();
    if let Some(next) = cron.next_after(start, zone) {
        assert!(next > start, "`{expr}` in {zone}: next {next} is not after {start}");
        let before = next - Duration::milliseconds(1);
        if before > start {
            assert_eq!(cron.next_after(before, zone), Some(next), "`{expr}` in {zone}: a slot between {before} and {next}");
        }
        if let Some(after) = cron.next_after(next, zone) {
            assert!(after > next, "`{expr}` in {zone}: the slot after {next} is {after}");
        }
    }
});
