//! Managed online endpoints through ARM: read an endpoint's traffic and deployments, and set its
//! traffic by GET, modify, PUT of the whole resource, following the long-running operation
//! (`Azure-AsyncOperation`, else `Location`, honouring `Retry-After`) to `Succeeded`, `Failed` or
//! `Canceled` (azure-rest.md, release-gates.md §4).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};

use super::runner::{parse_retry_after, Call, HttpRunner};
use crate::domain::rollout::TrafficPlan;
use crate::ports::{EndpointError, EndpointTraffic, OnlineEndpoints, RunnerError};

/// The ARM API version (azure-ai-ml 1.35's default).
const API_VERSION: &str = "2025-12-01";
/// One request's timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a traffic update may take before flowgate stops waiting (Azure ML usually takes
/// seconds to a few minutes).
const OPERATION_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// The wait between polls when the service does not say (`Retry-After`).
const DEFAULT_POLL: Duration = Duration::from_secs(5);

fn versioned(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{}{sep}api-version={API_VERSION}", url.trim_end_matches('/'))
}

fn error(what: &str, e: RunnerError) -> EndpointError {
    match e {
        RunnerError::Retryable { message, .. } => EndpointError::Retryable(format!("{what}: {message}")),
        RunnerError::Permanent { message, .. } => EndpointError::Failed(format!("{what}: {message}")),
    }
}

fn shares(v: &Value) -> BTreeMap<String, u32> {
    v.as_object().into_iter().flatten().filter_map(|(k, p)| p.as_u64().map(|p| (k.clone(), u32::try_from(p).unwrap_or(u32::MAX)))).collect()
}

impl HttpRunner {
    async fn arm(&self, method: Method, url: &str, body: Option<&Value>) -> Result<(Value, reqwest::header::HeaderMap), RunnerError> {
        let call = Call { method, url, body, timeout: REQUEST_TIMEOUT, correlation_id: "flowgate-rollout", deployment: None };
        self.exchange(&call).await
    }

    /// Follows a long-running operation to its end.
    async fn follow(&self, headers: &reqwest::header::HeaderMap, first_wait: Option<Duration>) -> Result<(), EndpointError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (url, async_operation) = match (header("azure-asyncoperation"), header("location")) {
            (Some(u), _) => (u, true),
            (None, Some(u)) => (u, false),
            (None, None) => return Ok(()), // completed synchronously
        };
        let started = Instant::now();
        let mut wait = first_wait.unwrap_or(DEFAULT_POLL);
        loop {
            tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
            if started.elapsed() > OPERATION_DEADLINE {
                return Err(EndpointError::Retryable(format!(
                    "the traffic update was still running after {} minutes",
                    OPERATION_DEADLINE.as_secs() / 60
                )));
            }
            let (body, h) = match self.arm(Method::GET, &url, None).await {
                Ok(x) => x,
                Err(RunnerError::Retryable { retry_after, .. }) => {
                    wait = retry_after.unwrap_or(DEFAULT_POLL);
                    continue;
                }
                Err(e) => return Err(error("following the traffic update", e)),
            };
            wait = parse_retry_after(&h, chrono::Utc::now()).unwrap_or(DEFAULT_POLL);
            if !async_operation {
                // `Location`: 202 (no body) while running, then the resource.
                if body.is_null() {
                    continue;
                }
                return Ok(());
            }
            match body["status"].as_str().unwrap_or("") {
                "Succeeded" => return Ok(()),
                "Failed" | "Canceled" | "Cancelled" => {
                    let why = body["error"]["message"].as_str().unwrap_or("no reason given");
                    return Err(EndpointError::Failed(format!(
                        "the traffic update ended {}: {why}",
                        body["status"].as_str().unwrap_or("")
                    )));
                }
                _ => {}
            }
        }
    }
}

#[async_trait]
impl OnlineEndpoints for HttpRunner {
    async fn read(&self, url: &str) -> Result<EndpointTraffic, EndpointError> {
        let (endpoint, _) = self.arm(Method::GET, &versioned(url), None).await.map_err(|e| error("reading the endpoint", e))?;
        let properties = &endpoint["properties"];
        let plan = TrafficPlan { traffic: shares(&properties["traffic"]), mirror: shares(&properties["mirrorTraffic"]) };
        let mut deployments = Vec::new();
        let mut next = Some(versioned(&format!("{}/deployments", url.trim_end_matches('/'))));
        while let Some(page) = next.take() {
            let (list, _) = self.arm(Method::GET, &page, None).await.map_err(|e| error("listing the endpoint's deployments", e))?;
            deployments.extend(list["value"].as_array().into_iter().flatten().filter_map(|d| d["name"].as_str().map(str::to_string)));
            next = list["nextLink"].as_str().map(str::to_string);
        }
        Ok(EndpointTraffic { plan, deployments })
    }

    async fn set_traffic(&self, url: &str, plan: &TrafficPlan) -> Result<(), EndpointError> {
        let versioned = versioned(url);
        let (mut endpoint, _) = self.arm(Method::GET, &versioned, None).await.map_err(|e| error("reading the endpoint", e))?;
        if !endpoint["properties"].is_object() {
            return Err(EndpointError::Failed("the endpoint's answer has no `properties`".into()));
        }
        endpoint["properties"]["traffic"] = json!(plan.traffic);
        endpoint["properties"]["mirrorTraffic"] = json!(plan.mirror);
        let (_, headers) =
            self.arm(Method::PUT, &versioned, Some(&endpoint)).await.map_err(|e| error("updating the endpoint's traffic", e))?;
        self.follow(&headers, parse_retry_after(&headers, chrono::Utc::now())).await
    }
}
