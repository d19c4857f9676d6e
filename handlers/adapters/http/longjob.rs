//! Long-running Foundry work over REST: Azure ML jobs through ARM (`PUT .../jobs/{name}`, read,
//! `POST .../cancel`) and Foundry evaluation runs through the Evals API (`POST .../evals/{id}/runs`,
//! read, cancel). Both are submitted under the attempt's deterministic name, so a redelivered
//! submission finds the job it already started.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::runner::{Call, HttpRunner};
use crate::domain::longjob::{JobHandle, LongJobKind};
use crate::ports::{JobSubmission, RunnerError};

/// The ARM API version for Azure ML jobs (azure-ai-ml 1.35's default).
const AZURE_ML_API_VERSION: &str = "2025-12-01";

pub(super) async fn submit(runner: &HttpRunner, job: &JobSubmission) -> Result<JobHandle, RunnerError> {
    match job.kind {
        LongJobKind::AzureMlJob => submit_azure_ml(runner, job).await,
        LongJobKind::Evaluation => submit_evaluation(runner, job).await,
    }
}

pub(super) async fn status(runner: &HttpRunner, handle: &JobHandle, timeout: Duration) -> Result<Value, RunnerError> {
    runner.call(&get(&handle.status_url, timeout, &handle.id)).await
}

pub(super) async fn cancel(runner: &HttpRunner, handle: &JobHandle, timeout: Duration) -> Result<(), RunnerError> {
    let Some(url) = &handle.cancel_url else { return Ok(()) };
    let empty = json!({});
    let call = Call { method: Method::POST, url, body: Some(&empty), timeout, correlation_id: &handle.id, deployment: None };
    runner.call(&call).await.map(|_| ())
}

fn get<'a>(url: &'a str, timeout: Duration, correlation_id: &'a str) -> Call<'a> {
    Call { method: Method::GET, url, body: None, timeout, correlation_id, deployment: None }
}

fn base(endpoint: &str) -> &str {
    endpoint.trim_end_matches('/')
}

fn bad_answer(what: &str, answer: &Value) -> RunnerError {
    RunnerError::Permanent {
        message: format!("{what}: the answer has no usable id"),
        status: None,
        body: Some(crate::domain::text::excerpt(&answer.to_string(), 2048)),
    }
}

async fn submit_azure_ml(runner: &HttpRunner, job: &JobSubmission) -> Result<JobHandle, RunnerError> {
    let Value::Object(mut properties) = job.body.clone() else {
        return Err(RunnerError::Permanent {
            message: "an Azure ML job's request body must be the job's `properties` object".into(),
            status: None,
            body: None,
        });
    };
    // The run the job belongs to, visible in Azure ML studio.
    let tags = properties.entry("tags").or_insert_with(|| json!({}));
    if let Value::Object(t) = tags {
        t.insert("flowgate_run".into(), Value::String(job.correlation_id.clone()));
    }
    let url = format!("{}/jobs/{}?api-version={AZURE_ML_API_VERSION}", base(&job.endpoint), job.name);
    let body = json!({ "properties": properties });
    let call = Call {
        method: Method::PUT,
        url: &url,
        body: Some(&body),
        timeout: job.timeout,
        correlation_id: &job.correlation_id,
        deployment: None,
    };
    let answer = match runner.call(&call).await {
        Ok(a) => a,
        // The job exists: an earlier delivery of this attempt submitted it.
        Err(RunnerError::Permanent { status: Some(409), .. }) => runner.call(&get(&url, job.timeout, &job.correlation_id)).await?,
        Err(e) => return Err(e),
    };
    let portal_url = answer.pointer("/properties/services/Studio/endpoint").and_then(Value::as_str).map(str::to_string);
    Ok(JobHandle {
        kind: LongJobKind::AzureMlJob,
        id: job.name.clone(),
        cancel_url: Some(format!("{}/jobs/{}/cancel?api-version={AZURE_ML_API_VERSION}", base(&job.endpoint), job.name)),
        status_url: url,
        portal_url,
        submitted_at: None,
    })
}

async fn submit_evaluation(runner: &HttpRunner, job: &JobSubmission) -> Result<JobHandle, RunnerError> {
    let eval = job.evaluation.as_deref().ok_or_else(|| RunnerError::Permanent {
        message: "an evaluation job needs `evaluation: <eval id>`".into(),
        status: None,
        body: None,
    })?;
    let runs = format!("{}/openai/v1/evals/{eval}/runs", base(&job.endpoint));
    // A run of this attempt may exist already (its submission was delivered before).
    let listed = runner.call(&get(&format!("{runs}?limit=100&order=desc"), job.timeout, &job.correlation_id)).await?;
    let existing = listed
        .get("data")
        .and_then(Value::as_array)
        .and_then(|runs| runs.iter().find(|r| r.get("name").and_then(Value::as_str) == Some(job.name.as_str())).cloned());
    let answer = match existing {
        Some(run) => run,
        None => {
            let items: Vec<Value> =
                job.body.get("items").and_then(Value::as_array).into_iter().flatten().map(|i| json!({ "item": i })).collect();
            let body = json!({
                "name": job.name,
                "metadata": { "flowgate_run": job.correlation_id },
                "data_source": { "type": "jsonl", "source": { "type": "file_content", "content": items } },
            });
            let call = Call {
                method: Method::POST,
                url: &runs,
                body: Some(&body),
                timeout: job.timeout,
                correlation_id: &job.correlation_id,
                deployment: None,
            };
            runner.call(&call).await?
        }
    };
    let id =
        answer.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| bad_answer("creating the eval run", &answer))?;
    let url = format!("{runs}/{id}");
    Ok(JobHandle {
        kind: LongJobKind::Evaluation,
        id: id.to_string(),
        // The Evals API cancels a run with a POST to the run itself.
        cancel_url: Some(url.clone()),
        status_url: url,
        portal_url: answer.get("report_url").and_then(Value::as_str).map(str::to_string),
        submitted_at: None,
    })
}
