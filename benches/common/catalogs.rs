//! The benchmark catalogs, shared by the benchmarks that use them.

/// How many jobs the large catalog has.
pub(crate) const JOBS: usize = 10_000;
pub(crate) const ZONES: [&str; 4] = ["UTC", "Europe/London", "America/New_York", "Australia/Sydney"];

/// 10,000 jobs: hourly, half-hourly and daily schedules in four time zones; one in five waits for
/// another.
pub(crate) fn catalog_text() -> String {
    let mut s = String::from("version: 1\njobs:\n");
    for i in 0..JOBS {
        // Blocks of five jobs share a schedule and a zone; the fifth waits for the first.
        let block = i / 5;
        let zone = ZONES[block % ZONES.len()];
        let schedule = match block % 10 {
            0..=5 => format!("0 {} * * * *", block % 58 + 1),
            6 | 7 => "0 5,35 * * * *".to_string(),
            _ => format!("0 {} 6 * * *", block % 58 + 1),
        };
        s.push_str(&format!(
            "  j{i}:\n    kind: http\n    endpoint: http://127.0.0.1:9/score\n    schedule: \"{schedule}\"\n    timezone: {zone}\n    overlap: allow\n"
        ));
        if i % 5 == 4 {
            // Same schedule and zone as j{i-4}: wait for its run of the same slot.
            s.push_str(&format!("    depends_on: [j{}]\n", i - 4));
            s.push_str("    wait: { limit: 1h }\n");
        }
    }
    s
}
