//! Queue depth (monitoring.md §1.2): active, scheduled (retries waiting) and dead-lettered
//! messages per queue, sampled on every tick and kept per hour (the largest and the last sample);
//! a week's figures are the maximum, the p95 of the hourly maxima and the depth at the week's end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::percentile::nearest_rank;
use crate::ports::QueueCounts;

/// One queue's depth over one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourlyDepth {
    pub queue: String,
    pub hour: DateTime<Utc>,
    /// Samples that changed a figure (an hour with none was not sampled at all).
    pub samples: u32,
    pub max_active: u64,
    pub max_scheduled: u64,
    pub max_dead_letter: u64,
    pub last_at: Option<DateTime<Utc>>,
    pub last_active: u64,
    pub last_scheduled: u64,
    pub last_dead_letter: u64,
}

impl HourlyDepth {
    pub fn new(queue: &str, hour: DateTime<Utc>) -> Self {
        Self {
            queue: queue.to_string(),
            hour,
            samples: 0,
            max_active: 0,
            max_scheduled: 0,
            max_dead_letter: 0,
            last_at: None,
            last_active: 0,
            last_scheduled: 0,
            last_dead_letter: 0,
        }
    }
    /// Adds a sample; whether the figures kept changed (an unchanged hour is not written again).
    pub fn add(&mut self, c: &QueueCounts, at: DateTime<Utc>) -> bool {
        let before = self.clone();
        self.samples = self.samples.max(1);
        self.max_active = self.max_active.max(c.active);
        self.max_scheduled = self.max_scheduled.max(c.scheduled);
        self.max_dead_letter = self.max_dead_letter.max(c.dead_letter);
        if self.last_at.is_none_or(|l| at >= l) {
            self.last_at = Some(at);
            self.last_active = c.active;
            self.last_scheduled = c.scheduled;
            self.last_dead_letter = c.dead_letter;
        }
        let changed =
            (self.max_active, self.max_scheduled, self.max_dead_letter, self.last_active, self.last_scheduled, self.last_dead_letter)
                != (
                    before.max_active,
                    before.max_scheduled,
                    before.max_dead_letter,
                    before.last_active,
                    before.last_scheduled,
                    before.last_dead_letter,
                )
                || before.samples == 0;
        if changed {
            self.samples = before.samples + 1;
        }
        changed
    }
}

/// One queue's week.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct QueueFigures {
    /// Hours with at least one sample (of the window's hours: data completeness).
    pub hours_sampled: u64,
    pub max_active: u64,
    pub p95_active: u64,
    pub max_scheduled: u64,
    pub max_dead_letter: u64,
    /// The last sample of the window.
    pub end_active: u64,
    pub end_scheduled: u64,
    pub end_dead_letter: u64,
}

/// Figures per queue from the hourly rows inside `[from, to)`.
pub fn queue_figures(rows: &[HourlyDepth], from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<String, QueueFigures> {
    let mut by_queue: BTreeMap<String, Vec<&HourlyDepth>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.hour >= from && r.hour < to && r.samples > 0) {
        by_queue.entry(r.queue.clone()).or_default().push(r);
    }
    by_queue
        .into_iter()
        .map(|(q, mut hours)| {
            hours.sort_by_key(|h| h.hour);
            let mut actives: Vec<u64> = hours.iter().map(|h| h.max_active).collect();
            actives.sort_unstable();
            let last = hours.last().copied();
            let f = QueueFigures {
                hours_sampled: hours.len() as u64,
                max_active: actives.last().copied().unwrap_or(0),
                p95_active: nearest_rank(&actives, 0.95).map_or(0, |p| p.value),
                max_scheduled: hours.iter().map(|h| h.max_scheduled).max().unwrap_or(0),
                max_dead_letter: hours.iter().map(|h| h.max_dead_letter).max().unwrap_or(0),
                end_active: last.map_or(0, |h| h.last_active),
                end_scheduled: last.map_or(0, |h| h.last_scheduled),
                end_dead_letter: last.map_or(0, |h| h.last_dead_letter),
            };
            (q, f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn hours_keep_their_maximum_and_last_and_the_week_sums_them_up() {
        let h0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let mut a = HourlyDepth::new("dispatch", h0);
        a.add(&QueueCounts { active: 7, scheduled: 2, dead_letter: 0 }, h0 + Duration::minutes(1));
        a.add(&QueueCounts { active: 1, scheduled: 0, dead_letter: 0 }, h0 + Duration::minutes(59));
        a.add(&QueueCounts { active: 3, scheduled: 9, dead_letter: 0 }, h0 + Duration::minutes(30)); // late, out of order
        assert_eq!((a.max_active, a.max_scheduled, a.last_active, a.samples), (7, 9, 1, 3));
        assert!(!a.add(&QueueCounts { active: 1, scheduled: 0, dead_letter: 0 }, h0 + Duration::minutes(59)), "nothing changed");
        let mut b = HourlyDepth::new("dispatch", h0 + Duration::hours(5));
        b.add(&QueueCounts { active: 2, scheduled: 0, dead_letter: 1 }, h0 + Duration::hours(5));
        let outside = HourlyDepth { hour: h0 - Duration::hours(1), max_active: 99, samples: 1, ..HourlyDepth::new("dispatch", h0) };
        let f = queue_figures(&[a, b, outside], h0, h0 + Duration::days(7));
        let d = &f["dispatch"];
        assert_eq!((d.hours_sampled, d.max_active, d.p95_active, d.max_dead_letter, d.end_active, d.end_dead_letter), (2, 7, 7, 1, 2, 1));
        assert!(queue_figures(&[], h0, h0).is_empty());
    }
}
