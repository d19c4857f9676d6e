//! The catalog file's shape (YAML, catalog format 1), from which `flowgate schema` generates the
//! committed JSON Schema. Values that need checking beyond their type (names, durations, cron
//! expressions, zones) stay text here; `check` turns a spec into the resolved `model`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A flowgate catalog: the datasets, the jobs that read and write them, and their policies.
///
/// `J` and `D` are the job and dataset shapes; the loader first reads them as raw JSON so that a
/// problem in one job does not hide the problems in the others.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flowgate catalog", bound = "J: JsonSchema, D: JsonSchema")]
pub struct CatalogSpec<J = JobSpec, D = DatasetSpec> {
    /// Catalog format version. This release reads `1`.
    pub version: u32,
    /// Default IANA time zone for schedules and SLA times of day (e.g. `Europe/London`). Default `UTC`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Policies every job inherits unless it sets its own.
    #[serde(default)]
    pub defaults: DefaultsSpec,
    /// Named datasets: where they land and the contract they must meet.
    #[serde(default)]
    pub datasets: BTreeMap<String, D>,
    /// Named jobs: the Foundry workloads flowgate runs.
    #[serde(default)]
    pub jobs: BTreeMap<String, J>,
    /// Release gates: who must approve a change of this catalog before it runs, what must pass,
    /// and when it may ship (docs/releases.md).
    #[serde(default)]
    pub releases: Option<ReleasesSpec>,
    /// How every dataset's contract is held (a dataset's own `contracts` overrides it).
    #[serde(default)]
    pub contracts: Option<ContractsSpec>,
}

/// How contracts are held.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractsSpec {
    /// Refuse a contract with any part flowgate does not enforce (each line `flowgate contract
    /// lint` lists as a warning), so what the contract says is what the gate checks. Default false.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// Release gates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasesSpec {
    /// Distinct approvals a release needs before it may be promoted. Default 1. Neither the
    /// proposer nor the person asking for promotion may approve (unless `solo`).
    #[serde(default)]
    pub approvals: Option<u32>,
    /// The app role an approver must hold. Default `Release.Approver`.
    #[serde(default)]
    pub approver_role: Option<String>,
    /// The app role that may ask for a release to be promoted. Default `Release.Approver`.
    #[serde(default)]
    pub promoter_role: Option<String>,
    /// The app role that may roll back to a release that was active before. Default `Release.Approver`.
    #[serde(default)]
    pub rollback_role: Option<String>,
    /// A one-person team: the proposer may approve their own release. Every status, report and
    /// evidence pack says so. Default false.
    #[serde(default)]
    pub solo: Option<bool>,
    /// Automated checks that must pass for the exact release before promotion.
    #[serde(default)]
    pub checks: Option<ReleaseChecksSpec>,
    /// When promotions may happen (change windows and freezes).
    #[serde(default)]
    pub windows: Option<WindowsSpec>,
    /// The emergency path: promotion outside windows and without approvals, checks still run, a
    /// review by a second person due afterwards.
    #[serde(default)]
    pub emergency: Option<EmergencySpec>,
    /// Canary rollouts: a promotion that changes an online endpoint job's `deployment` first runs
    /// a share of items on the candidate, analysed by CanaryWatch, and switches only on PROMOTE.
    #[serde(default)]
    pub rollout: Option<RolloutSpec>,
}

/// A canary rollout's share, limits and analysis (release-gates.md §3).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// The candidate's share of items, in percent (above 0, at most 100). Default 10.
    #[serde(default)]
    pub share: Option<f64>,
    /// Canary items needed before a promotion. Default 30.
    #[serde(default)]
    pub min_items: Option<u64>,
    /// Time needed before a promotion, e.g. `24h`. Default 24h.
    #[serde(default)]
    pub min_duration: Option<String>,
    /// Canary items after which an undecided rollout is INCONCLUSIVE. Default 400.
    #[serde(default)]
    pub max_items: Option<u64>,
    /// Time after which an undecided rollout is INCONCLUSIVE, e.g. `7d`. Default 7d.
    #[serde(default)]
    pub max_duration: Option<String>,
    /// Family-wise false-abort rate, split over the metrics. Default 0.05.
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Missed-regression rate. Default 0.2.
    #[serde(default)]
    pub beta: Option<f64>,
    /// A call slower than this counts against the latency metric, e.g. `5s`. Default: latency is not analysed.
    #[serde(default)]
    pub latency_slo: Option<String>,
    /// Failure rate assumed for the stable release until it has 300 items. Default 0.02.
    #[serde(default)]
    pub failure_rate: Option<f64>,
}

/// Automated release checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseChecksSpec {
    /// Lint every contract the catalog references. Default true.
    #[serde(default)]
    pub contract_lint: Option<bool>,
    /// A sample file per dataset (path relative to the catalog), checked against the dataset's
    /// contract; the files are part of the release.
    #[serde(default)]
    pub samples: BTreeMap<String, String>,
    /// A smoke request to each `online_endpoint` and `http` job, built with the job's request
    /// mapping (from the first row of its input's sample, when there is one); 2xx JSON passes.
    /// Default true.
    #[serde(default)]
    pub smoke: Option<bool>,
    /// The offline evaluation gate: the candidate and the active release scored on a pinned
    /// dataset (part of the release), compared pair by pair (`flowgate release evaluate`).
    #[serde(default)]
    pub evaluation: Option<EvaluationCheckSpec>,
}

/// The offline evaluation gate of a release (release-gates.md §3).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationCheckSpec {
    /// The labelled evaluation dataset, JSON Lines, relative to the catalog; its SHA-256 is part of
    /// the release id.
    pub dataset: String,
    /// The field of each dataset line (and `inputs.<field>` of an azure-ai-evaluation row) that
    /// identifies an item. Default `id`.
    #[serde(default)]
    pub id_column: Option<String>,
    /// Family-wise error rate across evaluators (Holm). Default 0.05.
    #[serde(default)]
    pub alpha: Option<f64>,
    /// The largest acceptable drop of a pass rate (or relative drop of a mean score). Default 0.05.
    #[serde(default)]
    pub delta: Option<f64>,
    /// Fewer paired items than this is INSUFFICIENT, which fails. Default 30.
    #[serde(default)]
    pub min_items: Option<u64>,
    /// Evaluator → the lowest acceptable Wilson 95 % lower bound of the candidate's pass rate.
    #[serde(default)]
    pub floors: BTreeMap<String, f64>,
}

/// Change windows and freezes, on a wall clock.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowsSpec {
    /// IANA time zone of `allow` and `freeze` times. Default: the catalog's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// When promotions are allowed; none listed: at any time outside freezes.
    #[serde(default)]
    pub allow: Vec<AllowSpec>,
    /// When promotions are refused (only the emergency path crosses a freeze).
    #[serde(default)]
    pub freeze: Vec<FreezeSpec>,
}

/// A weekly change window.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowSpec {
    /// Days of the week: `mon` … `sun` (or full names). Default: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Local start time, `HH:MM` (included).
    pub from: String,
    /// Local end time, `HH:MM` (excluded); earlier than `from` means the next day.
    pub to: String,
}

/// A freeze: no promotions from `from` to `to` (local date-times, `YYYY-MM-DDTHH:MM`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    pub from: String,
    pub to: String,
    /// Why (shown when a promotion is refused).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The emergency path.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencySpec {
    /// The app role that may take it. Default `Release.Emergency`.
    #[serde(default)]
    pub role: Option<String>,
    /// A second person must review the change within this long, e.g. `72h`. Default `72h`.
    #[serde(default)]
    pub review_within: Option<String>,
}

/// Policies inherited by every job.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// Default owner (a team or a person to contact).
    #[serde(default)]
    pub owner: Option<String>,
    /// Default retry policy.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Default per-attempt timeout, e.g. `60s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Default circuit breaker.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
    /// Default gates.
    #[serde(default)]
    pub gates: Option<GatesSpec>,
    /// Default catch-up policy after downtime.
    #[serde(default)]
    pub catch_up: Option<CatchUpSpec>,
    /// Default overlap policy.
    #[serde(default)]
    pub overlap: Option<OverlapPolicy>,
    /// Default waiting for dependencies.
    #[serde(default)]
    pub wait: Option<WaitSpec>,
}

/// The file format of a dataset's blobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
}

/// A dataset: a place where files (blobs) land, and the contract they must meet.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// What the data is.
    #[serde(default)]
    pub description: Option<String>,
    /// Where blobs land: `container/prefix/` (locally, a folder under the data directory).
    pub location: String,
    /// The file format.
    pub format: DataFormat,
    /// Path of the dataset's ODCS v3 data contract, relative to the catalog file.
    #[serde(default)]
    pub contract: Option<String>,
    /// How this dataset's contract is held (overrides the catalog's `contracts`).
    #[serde(default)]
    pub contracts: Option<ContractsSpec>,
    /// How often new data is expected, e.g. `1h` (freshness expectation).
    #[serde(default)]
    pub expected_every: Option<String>,
    /// Who owns the data.
    #[serde(default)]
    pub owner: Option<String>,
}

/// What kind of Foundry workload a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A Foundry / Azure ML online endpoint (prompt flow or model deployment): `POST` JSON to the
    /// scoring URI, optionally pinned to a deployment.
    OnlineEndpoint,
    /// Any HTTP endpoint with the same JSON-in, JSON-out contract (for example `pf flow serve`).
    Http,
    /// An Azure ML job (command or pipeline): `endpoint` is the workspace's ARM URL; the request
    /// body is the job's `properties`. Submitted with `PUT .../jobs/{name}` and followed by PollJob
    /// to Completed, Failed or Canceled.
    AzureMlJob,
    /// A Foundry evaluation run (the Evals API): `endpoint` is the project endpoint, `evaluation`
    /// the eval's id; the run's inputs are its items. Followed by PollJob; `result_counts` is the
    /// outcome.
    Evaluation,
}

impl JobKind {
    /// Kinds that run longer than one request and are followed by PollJob.
    pub fn is_long_running(self) -> bool {
        matches!(self, Self::AzureMlJob | Self::Evaluation)
    }
}

/// A job: one Foundry workload, what triggers it, what it reads and writes, and its policies.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// What the job does.
    #[serde(default)]
    pub description: Option<String>,
    /// The workload kind.
    pub kind: JobKind,
    /// The scoring URI. `${NAME}` and `${NAME:-default}` are replaced from app settings
    /// (environment variables) when the job runs.
    pub endpoint: String,
    /// Online endpoints only: the deployment to pin (`azureml-model-deployment` header).
    #[serde(default)]
    pub deployment: Option<String>,
    /// Online endpoints only: the endpoint's ARM URL
    /// (`https://management.azure.com/subscriptions/…/onlineEndpoints/NAME`), for the blue/green
    /// switch of its traffic when a release changes `deployment`. `${NAME}` is replaced from app settings.
    #[serde(default)]
    pub management: Option<String>,
    /// Evaluation jobs only: the eval's id (`eval_...`). `${NAME}` is replaced from app settings.
    #[serde(default)]
    pub evaluation: Option<String>,
    /// Long-running kinds only: how often PollJob asks for the job's status, e.g. `30s`. Default 30s.
    #[serde(default)]
    pub poll_every: Option<String>,
    /// Who to contact (a team or person). Falls back to `defaults.owner`.
    #[serde(default)]
    pub owner: Option<String>,
    /// NCRONTAB schedule, six fields: `{second} {minute} {hour} {day} {month} {day-of-week}`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Run each time a blob of this dataset arrives (instead of a schedule).
    #[serde(default)]
    pub on_arrival: Option<String>,
    /// IANA time zone for this job's schedule; defaults to the catalog's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Jobs that must finish first for the same logical time.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Datasets the job reads.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Datasets the job writes.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// How the request to the endpoint is built.
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// When the run must be complete.
    #[serde(default)]
    pub sla: Option<SlaSpec>,
    /// Retry policy (overrides `defaults.retry` field by field).
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Per-attempt timeout, e.g. `30s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Circuit breaker (overrides `defaults.breaker` field by field).
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
    /// Readiness gates checked before a run starts.
    #[serde(default)]
    pub gates: Option<GatesSpec>,
    /// `false` keeps the job in the catalog without running it.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Which missed slots still run after downtime. Default `latest`.
    #[serde(default)]
    pub catch_up: Option<CatchUpSpec>,
    /// What happens when a slot comes while this job's previous run is still going. Default `queue_one`.
    #[serde(default)]
    pub overlap: Option<OverlapPolicy>,
    /// How long and how far back to wait for `depends_on`.
    #[serde(default)]
    pub wait: Option<WaitSpec>,
}

/// Catch-up policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUpPolicy {
    /// Missed slots are skipped (recorded); only slots on time run.
    None,
    /// Only the most recent missed slot runs; earlier ones are skipped (recorded).
    Latest,
    /// Every missed slot within `window` runs, at most `max` of them (the newest); the rest are
    /// skipped (recorded).
    All,
}

/// Catch-up after downtime: a policy name, or `{policy: all, window: 6h, max: 24}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CatchUpSpec {
    Policy(CatchUpPolicy),
    Detailed(CatchUpDetail),
}

/// Catch-up with its window and cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatchUpDetail {
    pub policy: CatchUpPolicy,
    /// With `all`: how far back missed slots still run, e.g. `6h`. Default `24h`.
    #[serde(default)]
    pub window: Option<String>,
    /// With `all`: at most this many missed slots run. Default 24.
    #[serde(default)]
    pub max: Option<u32>,
}

/// What happens when a slot comes while the job's previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// The new slot is skipped (recorded).
    Skip,
    /// The new slot waits for the previous run; a newer slot replaces a waiting one (recorded).
    QueueOne,
    /// Runs overlap.
    Allow,
}

/// Waiting for dependencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitSpec {
    /// Give up (the run is recorded as blocked) after this long past the logical time. Default `6h`.
    #[serde(default)]
    pub limit: Option<String>,
    /// Accept the latest upstream run within this long before the logical time, instead of
    /// exactly the same slot. Default `0s` (same slot).
    #[serde(default)]
    pub window: Option<String>,
}

/// How a run's requests are built.
///
/// With `inputs`, one request is sent per input record: `fields` maps each endpoint input to a
/// record column. Without inputs, one request is sent with `body`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Endpoint input name → input record column.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The record column that identifies a record; copied into each output row.
    #[serde(default)]
    pub key: Option<String>,
    /// A JSON object sent as is (no inputs) or merged under the mapped fields (with inputs).
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub body: Option<Value>,
}

/// A run's deadline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaSpec {
    /// Complete within this long after the logical time (slot or arrival), e.g. `2h`.
    #[serde(default)]
    pub complete_within: Option<String>,
    /// Complete by this local time of day (`HH:MM`, job's time zone).
    #[serde(default)]
    pub by: Option<String>,
    /// Warn this long before the deadline, e.g. `30m`.
    #[serde(default)]
    pub warn_before: Option<String>,
}

/// Retry with exponential backoff and full jitter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (1 = no retry). Default 3.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Delay before the first retry, e.g. `30s`. Default `30s`.
    #[serde(default)]
    pub initial_delay: Option<String>,
    /// Growth factor per retry (at least 1.0). Default 2.0.
    #[serde(default)]
    pub multiplier: Option<f64>,
    /// Longest delay between attempts. Default `10m`.
    #[serde(default)]
    pub max_delay: Option<String>,
    /// Give up when the next attempt would start later than this after the first one, e.g.
    /// `2h`, whatever attempts are left. Default: no deadline.
    #[serde(default)]
    pub deadline: Option<String>,
}

/// Circuit breaker settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Open after this many consecutive failed runs. Default 5.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// Stay open this long before letting a probe through, e.g. `15m`. Default `15m`.
    #[serde(default)]
    pub cooldown: Option<String>,
    /// Also open when this share of the calls in `window` failed (0.0–1.0). Default 0.5.
    #[serde(default)]
    pub failure_ratio: Option<f64>,
    /// The window for `failure_ratio`, e.g. `24h` (low-volume jobs trip too). Default `24h`.
    #[serde(default)]
    pub window: Option<String>,
    /// `failure_ratio` needs at least this many calls in the window. Default 4.
    #[serde(default)]
    pub min_calls: Option<u32>,
    /// Calls let through at once while half open. Default 1.
    #[serde(default)]
    pub half_open_probes: Option<u32>,
}

/// Readiness gates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatesSpec {
    /// Hold the run unless each input's latest contract check passed. Default true.
    #[serde(default)]
    pub contracts: Option<bool>,
    /// Hold the run unless each input is fresh (within its `expected_every`). Default true.
    #[serde(default)]
    pub freshness: Option<bool>,
}

/// The JSON Schema of the catalog, as committed under `docs/catalog.schema.json`.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(CatalogSpec)).unwrap_or(Value::Null)
}
