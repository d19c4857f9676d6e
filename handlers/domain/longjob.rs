//! Long-running Foundry work (Azure ML jobs, Foundry evaluation runs): the handle a submitted job
//! is followed by, and how each service's status reads as progress. Pure: the runner fetches,
//! this decides.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which service a handle belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongJobKind {
    AzureMlJob,
    Evaluation,
}

/// A submitted job, as kept on the run record and followed by PollJob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobHandle {
    pub kind: LongJobKind,
    /// The service's id for the job (the Azure ML job name, the eval run id).
    pub id: String,
    /// Where its status is read (`GET`).
    pub status_url: String,
    /// Where it is cancelled (`POST`), if it can be.
    #[serde(default)]
    pub cancel_url: Option<String>,
    /// A link for people (Azure ML studio, the evaluation report), when the service gives one.
    #[serde(default)]
    pub portal_url: Option<String>,
    /// When flowgate submitted it (set by the flow; the service's clock is not trusted).
    #[serde(default)]
    pub submitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where a followed job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Not finished; `status` is the service's word for it.
    Running { status: String },
    /// Not finished and not moving as it should (Azure ML NotResponding, Paused, Unknown): still
    /// followed, and said in the log and the run's reason.
    Stalled { status: String },
    /// Finished well. `records_in`/`records_out` are what the service counted (evaluation items
    /// in total and passed), `summary` what is kept as evidence.
    Succeeded { records_in: u64, records_out: u64, summary: Value },
    /// Finished badly: worth another attempt under the retry policy.
    Failed { status: String, message: String },
    /// Cancelled by someone else: a person should look.
    Canceled { message: String },
}

/// Reads an Azure ML job resource (`GET .../jobs/{name}`): `properties.status`.
pub fn azure_ml_progress(job: &Value) -> Result<Progress, String> {
    let props = job.get("properties").ok_or("the job resource has no `properties`")?;
    let status = props.get("status").and_then(Value::as_str).ok_or("the job resource has no `properties.status`")?;
    let message = || {
        props
            .pointer("/error/message")
            .or_else(|| job.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("the Azure ML job ended {status}"))
    };
    Ok(match status {
        "Completed" => Progress::Succeeded {
            records_in: 0,
            records_out: 0,
            summary: serde_json::json!({ "status": status, "services": props.get("services").and_then(|s| s.get("Studio")).cloned() }),
        },
        "Failed" => Progress::Failed { status: status.into(), message: message() },
        "Canceled" => Progress::Canceled { message: message() },
        "NotResponding" | "Paused" | "Unknown" => Progress::Stalled { status: status.into() },
        // NotStarted, Starting, Provisioning, Preparing, Queued, Running, Finalizing,
        // CancelRequested, and whatever a later API version adds.
        other => Progress::Running { status: other.into() },
    })
}

/// Reads an eval run (`GET .../evals/{id}/runs/{run}`): `status` and `result_counts`. A completed
/// run with errored items is a failure worth retrying (the evaluator could not judge them); failed
/// items are the evaluation's verdict, recorded, not retried.
pub fn evaluation_progress(run: &Value) -> Result<Progress, String> {
    let status = run.get("status").and_then(Value::as_str).ok_or("the eval run has no `status`")?;
    let count = |k: &str| run.pointer(&format!("/result_counts/{k}")).and_then(Value::as_u64).unwrap_or(0);
    let message = || {
        run.pointer("/error/message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("the eval run ended {status}"))
    };
    Ok(match status {
        "completed" if count("errored") > 0 => Progress::Failed {
            status: status.into(),
            message: format!("{} of {} item(s) errored in evaluation", count("errored"), count("total")),
        },
        "completed" => Progress::Succeeded {
            records_in: count("total"),
            records_out: count("passed"),
            summary: serde_json::json!({
                "result_counts": run.get("result_counts").cloned().unwrap_or(Value::Null),
                "report_url": run.get("report_url").cloned().unwrap_or(Value::Null),
            }),
        },
        "failed" => Progress::Failed { status: status.into(), message: message() },
        "canceled" | "cancelled" => Progress::Canceled { message: message() },
        other => Progress::Running { status: other.into() },
    })
}

/// The deterministic name of an attempt's job: the same run and attempt always submit the same
/// name, so a redelivered submission finds its job instead of starting a second one. Azure ML
/// names allow letters, digits, `-` and `_`.
pub fn job_name(job: &str, logical_time_key: &str, attempt: u32) -> String {
    let raw = format!("flowgate-{job}-{logical_time_key}-a{attempt}");
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn azure_ml_statuses() {
        let p = |s: &str| azure_ml_progress(&json!({ "properties": { "status": s } })).unwrap();
        assert!(matches!(p("Queued"), Progress::Running { .. }));
        assert!(matches!(p("Finalizing"), Progress::Running { .. }));
        assert!(matches!(p("NotResponding"), Progress::Stalled { .. }));
        assert!(matches!(p("Completed"), Progress::Succeeded { .. }));
        assert!(matches!(p("Canceled"), Progress::Canceled { .. }));
        let failed = azure_ml_progress(&json!({ "properties": { "status": "Failed", "error": { "message": "OOM" } } })).unwrap();
        assert_eq!(failed, Progress::Failed { status: "Failed".into(), message: "OOM".into() });
        assert!(azure_ml_progress(&json!({ "name": "x" })).unwrap_err().contains("properties"));
    }

    #[test]
    fn evaluation_result_counts_are_the_outcome() {
        let done = evaluation_progress(
            &json!({ "status": "completed", "result_counts": { "total": 10, "passed": 8, "failed": 2, "errored": 0 } }),
        )
        .unwrap();
        assert!(matches!(done, Progress::Succeeded { records_in: 10, records_out: 8, .. }));
        let errored = evaluation_progress(
            &json!({ "status": "completed", "result_counts": { "total": 10, "passed": 8, "failed": 0, "errored": 2 } }),
        )
        .unwrap();
        assert!(matches!(errored, Progress::Failed { ref message, .. } if message.contains("2 of 10")));
        assert!(matches!(evaluation_progress(&json!({ "status": "in_progress" })).unwrap(), Progress::Running { .. }));
        assert!(matches!(evaluation_progress(&json!({ "status": "canceled" })).unwrap(), Progress::Canceled { .. }));
        assert!(evaluation_progress(&json!({})).is_err());
    }

    #[test]
    fn job_names_are_deterministic_and_clean() {
        assert_eq!(job_name("score", "2026-11-27T09:15:00.000Z", 2), "flowgate-score-2026-11-27T09-15-00-000Z-a2");
    }
}
