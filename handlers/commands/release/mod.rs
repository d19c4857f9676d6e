//! `flowgate release propose | list | status | approve | reject | gate-check | promote | rollback
//! | review`, on a state folder (acting as a development identity, `--as NAME`) or the deployed
//! state (`--state azure`).

mod bundle;
mod print;
mod remote;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use clap::Subcommand;
use serde_json::json;

use super::exit;
use super::state::{open, open_or_create, State};
use crate::domain::principal::Principal;
use crate::domain::release::ReleaseId;
use crate::flows::releases::{self as releases, records, Promotion, ReleaseDeps, ReleaseError};

pub use bundle::from_catalog;

/// The options every release command takes.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// The state folder, or `azure` for the deployed state.
    #[arg(long)]
    pub state: PathBuf,
    /// Act as this development identity (declared in <state>/identities.yaml as `NAME: [ROLE, ...]`).
    #[arg(long = "as", value_name = "NAME")]
    pub as_: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Store a catalog (with its contracts and sample files) as a release; prints its id.
    ///
    /// Example: flowgate release propose --catalog examples/claims/catalog.yaml --state .flowgate/demo --as alice
    Propose {
        /// The catalog file (YAML).
        #[arg(long)]
        catalog: PathBuf,
        /// The source commit (default: $GITHUB_SHA or $BUILD_SOURCEVERSION).
        #[arg(long)]
        commit: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Every release, newest first, and which is active.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// One release: approvals (and whether they count), checks, rejection, emergency review.
    Status {
        /// The release id (or a unique prefix of at least 8 digits).
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Approve a release (never its proposer's own, unless `releases.solo: true`).
    Approve {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Reject a release: it can no longer be approved or promoted.
    Reject {
        id: String,
        /// Why (required, recorded).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: Common,
    },
    /// Record the release's offline evaluation: the candidate's and the active release's results on
    /// the dataset the release pins (`releases.checks.evaluation`), compared pair by pair. The
    /// gate's `evaluation` check reads it. Exit 0 PASS, 1 FAIL or INSUFFICIENT, 2 unusable input.
    ///
    /// Usage, with the id `release propose` printed and both releases' result files:
    /// flowgate release evaluate ID --baseline FILE --candidate FILE --state DIR --as NAME
    Evaluate {
        id: String,
        /// The baseline's (the active release's) results: flowgate JSON Lines or an azure-ai-evaluation result file.
        #[arg(long)]
        baseline: PathBuf,
        /// The candidate's results on the same items, in either format.
        #[arg(long)]
        candidate: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Run the release's checks and say whether it may be promoted now: exit 0 pass, 1 fail (with
    /// every reason), 2 unusable input.
    GateCheck {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Make a release the active one (its gate must pass now).
    Promote {
        id: String,
        /// The emergency path (role Release.Emergency): outside windows, without approvals; checks
        /// still run and a second person must review it afterwards.
        #[arg(long, requires_all = ["reason", "incident"])]
        emergency: bool,
        /// Why (emergency path).
        #[arg(long)]
        reason: Option<String>,
        /// The incident id (emergency path).
        #[arg(long)]
        incident: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Move the active pointer back to a release that was active before, in one step.
    Rollback {
        /// The release to go back to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        common: Common,
    },
    /// Review an emergency change as a second person.
    Review {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

fn common(c: &ReleaseCommand) -> &Common {
    match c {
        ReleaseCommand::Propose { common, .. }
        | ReleaseCommand::List { common }
        | ReleaseCommand::Status { common, .. }
        | ReleaseCommand::Approve { common, .. }
        | ReleaseCommand::Reject { common, .. }
        | ReleaseCommand::GateCheck { common, .. }
        | ReleaseCommand::Evaluate { common, .. }
        | ReleaseCommand::Promote { common, .. }
        | ReleaseCommand::Rollback { common, .. }
        | ReleaseCommand::Review { common, .. } => common,
    }
}

/// The exit code of a failed operation (and its message on stderr).
fn failed(e: &ReleaseError) -> u8 {
    eprintln!("error: {e}");
    match e {
        ReleaseError::BadInput(_) | ReleaseError::NotFound(_) => exit::BAD_INPUT,
        _ => exit::FAILED,
    }
}

/// Release operations on an opened state (the smoke requests carry Entra tokens where needed).
pub(crate) fn deps(state: &State) -> Result<ReleaseDeps, u8> {
    let bearer = crate::adapters::http::EntraBearer { tokens: crate::app::tokens() };
    let runner = Arc::new(crate::adapters::http::HttpRunner::new(Some(Arc::new(bearer))).map_err(|e| {
        eprintln!("error: {e}");
        exit::FAILED
    })?);
    Ok(ReleaseDeps {
        store: state.store.clone(),
        audit: state.audit.clone(),
        content: state.content.clone(),
        runner: runner.clone(),
        endpoints: runner,
        settings: Arc::new(|k: &str| std::env::var(k).ok()),
        azure: state.azure,
    })
}

/// Who is acting: a development identity on a local state.
fn principal(c: &Common, state: &State) -> Result<Principal, u8> {
    if state.azure {
        eprintln!(
            "error: changes to the deployed state go through the Releases function with your Entra sign-in (docs/releases.md); --as is for local states"
        );
        return Err(exit::BAD_INPUT);
    }
    crate::adapters::local::identities::development(&c.state, c.as_.as_deref()).map_err(|e| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })
}

/// A file's bytes, or exit 2 naming it.
fn read_file(path: &Path) -> Result<Vec<u8>, u8> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        exit::BAD_INPUT
    })
}

async fn id(d: &ReleaseDeps, text: &str) -> Result<ReleaseId, u8> {
    records::resolve(d.store.as_ref(), text).await.map_err(|e| failed(&e))
}

pub async fn run(command: ReleaseCommand) -> u8 {
    let c = common(&command).clone();
    if c.state == Path::new(super::state::AZURE) {
        if let Some(body) = remote_body(&command) {
            return match body {
                Ok(body) => remote(&body, c.json).await,
                Err(code) => code,
            };
        }
    }
    if let ReleaseCommand::Propose { catalog, .. } = &command {
        // Check the catalog before touching any state: a bad one is exit 2 with every problem.
        if let Err(problems) = bundle::from_catalog(catalog) {
            eprintln!("{problems}");
            return exit::BAD_INPUT;
        }
    }
    let opened = if matches!(command, ReleaseCommand::Propose { .. }) { open_or_create(&c.state) } else { open(&c.state) };
    let state = match opened {
        Ok(s) => s,
        Err(code) => return code,
    };
    let d = match deps(&state) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let now = Utc::now();
    if let Err(e) = releases::converge(&d).await {
        return failed(&e);
    }
    let who = |s: &State| principal(&c, s);
    let result: Result<u8, u8> = async {
        Ok(match command {
            ReleaseCommand::Propose { catalog, commit, .. } => {
                let by = who(&state)?;
                let bundle = bundle::from_catalog(&catalog).map_err(|p| {
                    eprintln!("{p}");
                    exit::BAD_INPUT
                })?;
                let commit = commit.or_else(|| std::env::var("GITHUB_SHA").ok()).or_else(|| std::env::var("BUILD_SOURCEVERSION").ok());
                let p = releases::propose(&d, bundle, &by, commit, &catalog.display().to_string(), now).await.map_err(|e| failed(&e))?;
                print::proposed(&p, &c);
                exit::OK
            }
            ReleaseCommand::List { .. } => {
                let (list, pointer) = releases::list(&d).await.map_err(|e| failed(&e))?;
                print::list(&list, pointer.as_ref(), c.json);
                exit::OK
            }
            ReleaseCommand::Status { id: text, .. } => {
                let id = id(&d, &text).await?;
                let s = releases::status(&d, &id, now).await.map_err(|e| failed(&e))?;
                print::status(&s, c.json);
                exit::OK
            }
            ReleaseCommand::Approve { id: text, .. } => {
                let by = who(&state)?;
                let id = id(&d, &text).await?;
                let a = releases::approve(&d, &id, &by, now).await.map_err(|e| failed(&e))?;
                if c.json {
                    println!("{}", json!({ "approval": a.approval, "created": a.created }));
                } else if a.created {
                    let solo = if a.approval.self_approved { " (self-approved: solo mode)" } else { "" };
                    println!("release {} approved by {}{solo}", id.short(), by.key());
                } else {
                    println!("release {} was already approved by {}; nothing changed", id.short(), by.key());
                }
                exit::OK
            }
            ReleaseCommand::Reject { id: text, reason, .. } => {
                let by = who(&state)?;
                let id = id(&d, &text).await?;
                let r = releases::reject(&d, &id, &by, &reason, now).await.map_err(|e| failed(&e))?;
                if c.json {
                    println!("{}", json!(r));
                } else {
                    println!("release {} rejected by {}: {}", id.short(), r.by.key(), r.reason);
                }
                exit::OK
            }
            ReleaseCommand::Evaluate { id: text, baseline, candidate, .. } => {
                let by = who(&state)?;
                let id = id(&d, &text).await?;
                let (base, cand) = (read_file(&baseline)?, read_file(&candidate)?);
                let r = releases::evaluation::evaluate(&d, &id, &by, &base, &cand, now).await.map_err(|e| failed(&e))?;
                print::evaluated(&r, c.json);
                if r.verdict == crate::domain::evaluation::Verdict::Pass {
                    exit::OK
                } else {
                    exit::FAILED
                }
            }
            ReleaseCommand::GateCheck { id: text, .. } => {
                let requester = match c.as_ {
                    Some(_) => Some(who(&state)?),
                    None => None,
                };
                let id = id(&d, &text).await?;
                let checked = releases::gate_check(&d, &id, requester.as_ref(), false, now).await.map_err(|e| failed(&e))?;
                print::checked(&checked, c.json);
                if checked.verdict.passed {
                    exit::OK
                } else {
                    exit::FAILED
                }
            }
            ReleaseCommand::Promote { id: text, emergency, reason, incident, .. } => {
                let by = who(&state)?;
                let id = id(&d, &text).await?;
                let how = Promotion { emergency: emergency.then(|| (reason.unwrap_or_default(), incident.unwrap_or_default())) };
                let p = releases::promote(&d, &id, &by, &how, now).await.map_err(|e| failed(&e))?;
                print::switched(&p, c.json);
                exit::OK
            }
            ReleaseCommand::Rollback { to, .. } => {
                let by = who(&state)?;
                let id = id(&d, &to).await?;
                let p = releases::rollback(&d, &id, &by, now).await.map_err(|e| failed(&e))?;
                print::switched(&p, c.json);
                exit::OK
            }
            ReleaseCommand::Review { id: text, .. } => {
                let by = who(&state)?;
                let id = id(&d, &text).await?;
                let r = releases::review(&d, &id, &by, now).await.map_err(|e| failed(&e))?;
                if c.json {
                    println!("{}", json!(r));
                } else {
                    println!("emergency change {} reviewed by {}", id.short(), by.key());
                }
                exit::OK
            }
        })
    }
    .await;
    result.unwrap_or_else(|code| code)
}

/// The Releases function's request for a change to the deployed state (`None` for reads).
fn remote_body(command: &ReleaseCommand) -> Option<Result<serde_json::Value, u8>> {
    Some(Ok(match command {
        ReleaseCommand::List { .. } | ReleaseCommand::Status { .. } => return None,
        ReleaseCommand::Propose { catalog, commit, .. } => {
            let bundle = match bundle::from_catalog(catalog) {
                Ok(b) => b,
                Err(p) => {
                    eprintln!("{p}");
                    return Some(Err(exit::BAD_INPUT));
                }
            };
            let commit = commit.clone().or_else(|| std::env::var("GITHUB_SHA").ok()).or_else(|| std::env::var("BUILD_SOURCEVERSION").ok());
            json!({ "action": "propose", "bundle": bundle, "commit": commit, "source": catalog.display().to_string() })
        }
        ReleaseCommand::Approve { id, .. } => json!({ "action": "approve", "id": id }),
        ReleaseCommand::Reject { id, reason, .. } => json!({ "action": "reject", "id": id, "reason": reason }),
        ReleaseCommand::GateCheck { id, .. } => json!({ "action": "gate-check", "id": id }),
        ReleaseCommand::Evaluate { id, baseline, candidate, .. } => {
            let (Ok(base), Ok(cand)) = (read_file(baseline).map(String::from_utf8), read_file(candidate).map(String::from_utf8)) else {
                return Some(Err(exit::BAD_INPUT));
            };
            let (Ok(base), Ok(cand)) = (base, cand) else {
                eprintln!("error: evaluation results must be UTF-8 text");
                return Some(Err(exit::BAD_INPUT));
            };
            json!({ "action": "evaluate", "id": id, "baseline": base, "candidate": cand })
        }
        ReleaseCommand::Review { id, .. } => json!({ "action": "review", "id": id }),
        ReleaseCommand::Rollback { to, .. } => json!({ "action": "rollback", "to": to }),
        ReleaseCommand::Promote { id, emergency, reason, incident, .. } => {
            let e = emergency.then(|| json!({ "reason": reason, "incident": incident }));
            json!({ "action": "promote", "id": id, "emergency": e })
        }
    }))
}

async fn remote(body: &serde_json::Value, as_json: bool) -> u8 {
    let r = match remote::Remote::from_env() {
        Ok(r) => r,
        Err(code) => return code,
    };
    match r.post(body).await {
        Ok(answer) => {
            if as_json {
                println!("{answer}");
            } else if let Some(id) = answer.get("id").and_then(serde_json::Value::as_str) {
                println!("{id}");
            } else {
                println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
            }
            let failed_gate = (body["action"] == "gate-check"
                && answer.pointer("/result/verdict/passed") == Some(&serde_json::Value::Bool(false)))
                || (body["action"] == "evaluate" && answer.pointer("/result/verdict").is_some_and(|v| v != "PASS"));
            if failed_gate {
                exit::FAILED
            } else {
                exit::OK
            }
        }
        Err(code) => code,
    }
}

/// The active release of a state folder, ready to plan (`plan --state DIR` without `--catalog`).
pub async fn active_view(state: &Path) -> Result<Option<releases::ReleaseView>, String> {
    let s = open(state).map_err(|_| format!("--state {}: holds no flowgate state", state.display()))?;
    active_view_of(&s).await
}

/// The active release of an opened state, parsed.
pub(crate) async fn active_view_of(s: &State) -> Result<Option<releases::ReleaseView>, String> {
    let Some((pointer, _)) = records::pointer(s.store.as_ref()).await.map_err(|e| e.to_string())? else { return Ok(None) };
    let d = deps(s).map_err(|_| "cannot build the release dependencies".to_string())?;
    let (_, view) = releases::load(&d, &pointer.release).await.map_err(|e| e.to_string())?;
    Ok(Some(view))
}
