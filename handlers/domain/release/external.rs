//! Acting as another system's gate, pure: an Azure Pipelines check (callback mode: the task's
//! ids from the request headers, `PlanUrl` allow-listed, the events URL and `TaskCompleted` body)
//! and a GitHub deployment protection rule (the `X-Hub-Signature-256` HMAC, the payload, the
//! review body). Shapes from release-gates.md §2.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

/// An Azure Pipelines check's task: where and for which task to post the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineTask {
    pub plan_url: String,
    pub project_id: String,
    pub hub_name: String,
    pub plan_id: String,
    pub job_id: String,
    pub timeline_id: Option<String>,
    pub task_instance_id: String,
}

/// Why a check request cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckRequestError {
    #[error("the check request has no `{0}` header (configure the check's headers as documented in docs/releases.md)")]
    MissingHeader(&'static str),
    #[error(
        "`{0}` is not an allowed PlanUrl (https://dev.azure.com/ORG/ or https://ORG.visualstudio.com/, or FLOWGATE_PIPELINES_ALLOWED_URLS)"
    )]
    PlanUrlNotAllowed(String),
    #[error("the `{0}` header is not an id")]
    BadId(&'static str),
}

fn id_like(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Whether Azure DevOps (or an extra allowed prefix) hosts `url`.
pub fn plan_url_allowed(url: &str, extra: &[String]) -> bool {
    if extra.iter().any(|p| !p.is_empty() && url.starts_with(p.as_str())) {
        return true;
    }
    let Some(rest) = url.strip_prefix("https://") else { return false };
    let host = rest.split('/').next().unwrap_or("");
    let org_ok = |o: &str| !o.is_empty() && o.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if host == "dev.azure.com" {
        return rest.split('/').nth(1).is_some_and(org_ok);
    }
    host.strip_suffix(".visualstudio.com").is_some_and(org_ok)
}

impl PipelineTask {
    /// Reads the task from the check's headers (`PlanUrl`, `ProjectId`, `HubName`, `PlanId`,
    /// `JobId`, `TimelineId`, `TaskInstanceId`), names matched in any case.
    pub fn from_headers(header: &dyn Fn(&str) -> Option<String>, extra_allowed: &[String]) -> Result<Self, CheckRequestError> {
        let need = |name: &'static str| header(name).filter(|v| !v.trim().is_empty()).ok_or(CheckRequestError::MissingHeader(name));
        let id = |name: &'static str| {
            need(name).and_then(|v| if id_like(v.trim()) { Ok(v.trim().to_string()) } else { Err(CheckRequestError::BadId(name)) })
        };
        let mut plan_url = need("PlanUrl")?.trim().to_string();
        if !plan_url_allowed(&plan_url, extra_allowed) {
            return Err(CheckRequestError::PlanUrlNotAllowed(plan_url.chars().take(200).collect()));
        }
        if !plan_url.ends_with('/') {
            plan_url.push('/');
        }
        Ok(Self {
            plan_url,
            project_id: id("ProjectId")?,
            hub_name: id("HubName")?,
            plan_id: id("PlanId")?,
            job_id: id("JobId")?,
            timeline_id: header("TimelineId").filter(|v| id_like(v.trim())),
            task_instance_id: id("TaskInstanceId")?,
        })
    }

    /// Where `TaskCompleted` is posted.
    pub fn events_url(&self) -> String {
        format!(
            "{}{}/_apis/distributedtask/hubs/{}/plans/{}/events?api-version=2.0-preview.1",
            self.plan_url, self.project_id, self.hub_name, self.plan_id
        )
    }

    /// The `TaskCompleted` event.
    pub fn completed(&self, succeeded: bool) -> Value {
        json!({
            "name": "TaskCompleted",
            "taskId": self.task_instance_id,
            "jobId": self.job_id,
            "result": if succeeded { "succeeded" } else { "failed" },
        })
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` over the raw body, in constant time.
pub fn github_signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The `X-Hub-Signature-256` value of a body (for fakes and tests).
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `deployment_protection_rule` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubRequest {
    pub environment: String,
    pub sha: String,
    pub callback_url: String,
    pub installation: u64,
    pub repository: Option<String>,
}

impl GitHubRequest {
    /// Reads the payload; `None` for any other action or a payload without what a decision needs.
    pub fn parse(v: &Value) -> Result<Option<Self>, String> {
        if v.get("action").and_then(Value::as_str) != Some("requested") {
            return Ok(None);
        }
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let sha = text("/deployment/sha").or_else(|| text("/sha")).ok_or("no deployment.sha")?;
        if !(sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(format!("deployment.sha `{}` is not a commit id", sha.chars().take(64).collect::<String>()));
        }
        let callback_url = text("/deployment_callback_url").ok_or("no deployment_callback_url")?;
        if !callback_url.starts_with("https://") && !callback_url.starts_with("http://127.0.0.1") {
            return Err("deployment_callback_url is not https".into());
        }
        Ok(Some(Self {
            environment: text("/environment").ok_or("no environment")?,
            sha: sha.to_ascii_lowercase(),
            callback_url,
            installation: v.pointer("/installation/id").and_then(Value::as_u64).ok_or("no installation.id")?,
            repository: text("/repository/full_name"),
        }))
    }

    /// The review GitHub expects: `approved` or `rejected` with a short comment (≤ 1,024 chars).
    pub fn review(&self, approved: bool, comment: &str) -> Value {
        json!({
            "environment_name": self.environment,
            "state": if approved { "approved" } else { "rejected" },
            "comment": comment.chars().take(1024).collect::<String>(),
        })
    }
}

/// What the `checks` queue carries: one decision to make and post for another system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum CheckMessage {
    /// An Azure Pipelines check: the job's token lives only here (the message expires with it).
    AzurePipelines {
        task: PipelineTask,
        auth_token: String,
        /// The release (id or prefix) or source commit the stage deploys.
        release: Option<String>,
        commit: Option<String>,
    },
    GitHub {
        request: GitHubRequest,
    },
}

impl CheckMessage {
    /// The key that makes the decision happen once: the task instance, or the callback.
    pub fn key(&self) -> String {
        match self {
            Self::AzurePipelines { task, .. } => format!("pipelines|{}", task.task_instance_id),
            Self::GitHub { request } => format!("github|{}", request.callback_url),
        }
    }
}

impl std::fmt::Display for CheckMessage {
    /// Never shows the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_urls_are_allow_listed() {
        assert!(plan_url_allowed("https://dev.azure.com/contoso/", &[]));
        assert!(plan_url_allowed("https://contoso.visualstudio.com/", &[]));
        for bad in [
            "http://dev.azure.com/contoso/",
            "https://dev.azure.com.evil.example/x/",
            "https://169.254.169.254/",
            "https://evil.example/dev.azure.com/",
            "https://dev.azure.com//",
        ] {
            assert!(!plan_url_allowed(bad, &[]), "{bad}");
        }
        assert!(plan_url_allowed("http://127.0.0.1:8080/", &["http://127.0.0.1:8080/".into()]));
    }

    #[test]
    fn a_task_is_read_from_headers_and_posts_to_the_events_api() {
        let h = |k: &str| {
            let v = match k {
                "PlanUrl" => "https://dev.azure.com/contoso",
                "ProjectId" => "p-1",
                "HubName" => "checks",
                "PlanId" => "plan-1",
                "JobId" => "job-1",
                "TaskInstanceId" => "task-1",
                _ => return None,
            };
            Some(v.to_string())
        };
        let t = PipelineTask::from_headers(&h, &[]).unwrap();
        assert_eq!(
            t.events_url(),
            "https://dev.azure.com/contoso/p-1/_apis/distributedtask/hubs/checks/plans/plan-1/events?api-version=2.0-preview.1"
        );
        assert_eq!(t.completed(false), json!({"name": "TaskCompleted", "taskId": "task-1", "jobId": "job-1", "result": "failed"}));
        let none = |_: &str| None;
        assert_eq!(PipelineTask::from_headers(&none, &[]), Err(CheckRequestError::MissingHeader("PlanUrl")));
    }

    #[test]
    fn github_signatures_are_checked() {
        let sig = github_signature(b"s3cret", b"{\"a\":1}");
        assert!(github_signature_ok(b"s3cret", b"{\"a\":1}", Some(&sig)));
        assert!(!github_signature_ok(b"s3cret", b"{\"a\":2}", Some(&sig)));
        assert!(!github_signature_ok(b"other", b"{\"a\":1}", Some(&sig)));
        assert!(!github_signature_ok(b"s3cret", b"{\"a\":1}", None));
        assert!(!github_signature_ok(b"s3cret", b"{\"a\":1}", Some("sha256=zz")));
    }
}
