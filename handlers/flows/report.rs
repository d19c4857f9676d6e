//! The weekly report of a Store: every run's facts and when each job was first alerted about,
//! read the same way from SQLite and from Table Storage, then `domain::report::build`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::alert::Alert;
use crate::domain::metrics::RunFacts;
use crate::domain::report::{build, IsoWeek, WeeklyReport};
use crate::ports::{RowRange, Store, StoreError, Table};

pub async fn weekly(store: &dyn Store, week: IsoWeek, tz: Tz) -> Result<WeeklyReport, StoreError> {
    let facts: Vec<RunFacts> = super::runs::list(store, None, usize::MAX).await?.iter().map(RunFacts::of).collect();
    let mut notices: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for a in store
        .query(Table::ALERTS, None, RowRange::default(), usize::MAX)
        .await?
        .into_iter()
        .filter_map(|e| serde_json::from_value::<Alert>(e.body).ok())
    {
        notices.entry(a.subject.clone()).or_default().push(a.raised_at);
    }
    for v in notices.values_mut() {
        v.sort();
    }
    let notified = |job: &str, at: DateTime<Utc>| notices.get(job).and_then(|v| v.iter().find(|t| **t >= at).copied());
    Ok(build(week, tz, &facts, &notified))
}
