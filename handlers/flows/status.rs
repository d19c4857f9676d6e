//! Gathers the status page's view from the Store: today's runs (in the catalog's time zone),
//! waiting runs, SLAs being watched past their warning, breakers not closed, open quarantine,
//! the alerts firing and the active release.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{alerts, quarantine, runs, Deps, FlowError};
use crate::domain::breaker::{Breaker, BreakerState};
use crate::domain::metrics::{run_figures, RunFacts};
use crate::domain::run::RunStatus;
use crate::domain::status::{AtRisk, OpenBreaker, RecentAlert, StatusView};
use crate::ports::{RowRange, Table};

pub async fn gather(deps: &Deps, now: DateTime<Utc>) -> Result<StatusView, FlowError> {
    let tz = deps.catalog.timezone;
    let local = now.with_timezone(&tz).date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
    let midnight = tz.from_local_datetime(&local).earliest().map_or(now - Duration::hours(24), |t| t.with_timezone(&Utc));
    let all = runs::list(deps.store.as_ref(), None, usize::MAX).await?;
    let mut view = StatusView { now, timezone: tz.name().to_string(), ..StatusView::default() };
    let mut by_job: std::collections::BTreeMap<String, Vec<RunFacts>> = Default::default();
    for r in &all {
        if r.status == RunStatus::Waiting {
            view.waiting.push((format!("{}@{}", r.job, r.logical_time.to_rfc3339()), r.reason.clone().unwrap_or_default()));
        }
        let f = RunFacts::of(r);
        if f.finished.is_some_and(|t| t >= midnight) || (f.finished.is_none() && r.status != RunStatus::Waiting && r.logical_time <= now) {
            by_job.entry(f.job.clone()).or_default().push(f);
        }
    }
    view.today = by_job.iter().map(|(j, rs)| (j.clone(), run_figures(rs, midnight, now + Duration::seconds(1)).outcomes)).collect();
    for e in deps.store.query(Table::SCHEDULES, Some(alerts::OPEN), RowRange::default(), usize::MAX).await? {
        if let Ok(o) = serde_json::from_value::<alerts::OpenRun>(e.body) {
            if o.warn_at.unwrap_or(o.breach_at) <= now {
                view.at_risk.push(AtRisk {
                    run: format!("{}@{}", o.job, o.logical_time.to_rfc3339()),
                    warn_at: o.warn_at,
                    breach_at: o.breach_at,
                });
            }
        }
    }
    for e in deps.store.query(Table::BREAKERS, None, RowRange::default(), usize::MAX).await? {
        if let Ok(b) = serde_json::from_value::<Breaker>(e.body) {
            if b.state != BreakerState::Closed {
                view.breakers.push(OpenBreaker {
                    name: format!("{}/{}", e.partition, e.row),
                    state: b.state.to_string(),
                    open_until: b.open_until,
                });
            }
        }
    }
    let open = quarantine::list(deps.store.as_ref(), false).await?;
    view.quarantine_open = open.len();
    view.quarantine_oldest = open.iter().map(|q| q.at).min();
    for a in super::monitor::states(deps.store.as_ref(), now).await?.into_iter().filter(|a| a.is_firing()) {
        let labels: Vec<String> = a.alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        view.alerts.push(RecentAlert {
            at: a.fired_at,
            kind: format!("{} {}", a.alert.severity.label(), a.alert.name),
            subject: labels.join(" "),
            message: a.alert.summary,
        });
    }
    view.alerts.sort_by_key(|a| std::cmp::Reverse(a.at));
    if let Some((p, _)) = super::releases::records::pointer(deps.store.as_ref()).await? {
        let mut line = format!("{} since {} ({} by {})", p.release.short(), p.since.to_rfc3339(), p.how, p.by);
        if let Some(c) = &p.canary {
            line.push_str(&format!(
                "; canary of {} on {:.1} % of new items since {}",
                c.candidate.short(),
                c.share_bp as f64 / 100.0,
                c.started.to_rfc3339()
            ));
        }
        view.release = Some(line);
    }
    Ok(view)
}
