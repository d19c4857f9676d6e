//! `flowgate dataset suspect|clear|rerun DATASET (--arrival PATH | --from T --to T | --latest) --state DIR
//! [--reason TEXT] [--by NAME] [--catalog FILE] [--json]`: suspected data corruption — mark
//! arrivals so the runs that would read them are held, with the blast radius printed; lift the
//! mark; replay the affected runs once a corrected file has landed.

use std::path::Path;

use chrono::Utc;
use clap::{Args, Subcommand};
use serde_json::json;

use super::exit;
use crate::flows::suspect::{self, SuspectError, Which};

#[derive(Args, Debug)]
pub struct Target {
    /// The dataset (as the catalog names it).
    pub dataset: String,
    /// One arrival: its path as `flowgate trace` shows it (or its end, e.g. the file name).
    #[arg(long, conflicts_with_all = ["from", "to", "latest"])]
    pub arrival: Option<String>,
    /// The dataset's newest arrival.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub latest: bool,
    /// Every arrival at or after this RFC 3339 instant (with --to).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// … and before this one.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// The state folder, or `azure` for the deployed state.
    #[arg(long)]
    pub state: std::path::PathBuf,
    /// The catalog (default: the active release's, else FLOWGATE_CATALOG).
    #[arg(long)]
    pub catalog: Option<std::path::PathBuf>,
    /// Who is acting (recorded; default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Mark arrivals as suspect: runs that would read them are held at their gate; prints the
    /// blast radius (runs that read them, their outputs, runs downstream by dependency and lineage).
    Suspect {
        #[command(flatten)]
        target: Target,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Lift the suspect mark.
    Clear {
        #[command(flatten)]
        target: Target,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Replay the affected runs once a corrected file has landed: each once, upstream first,
    /// under its original run key, recorded as a replay.
    Rerun {
        #[command(flatten)]
        target: Target,
    },
}

pub async fn run(command: DatasetCommand) -> u8 {
    let (target, reason, action) = match &command {
        DatasetCommand::Suspect { target, reason } => (target, Some(reason.as_str()), "suspect"),
        DatasetCommand::Clear { target, reason } => (target, Some(reason.as_str()), "clear"),
        DatasetCommand::Rerun { target } => (target, None, "rerun"),
    };
    if reason.is_some_and(|r| r.trim().is_empty()) {
        eprintln!("error: --reason is empty: say why, it is recorded");
        return exit::BAD_INPUT;
    }
    let which = match (&target.arrival, &target.from, &target.to) {
        (None, None, None) if target.latest => Which::Latest,
        (Some(a), None, None) if !a.trim().is_empty() => Which::Arrival(a.clone()),
        (None, Some(f), Some(t)) => match super::window(Some(f), Some(t)) {
            Ok((Some(f), Some(t))) if f < t => Which::Window(f, t),
            Ok(_) => {
                eprintln!("error: --from must be before --to");
                return exit::BAD_INPUT;
            }
            Err(code) => return code,
        },
        _ => {
            eprintln!("error: name the arrivals: --arrival PATH, --from T --to T, or --latest");
            return exit::BAD_INPUT;
        }
    };
    let st = match super::state::open(&target.state) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let catalog = match catalog(&st, target.catalog.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let by = target.by.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
    let now = Utc::now();
    let store = st.store.as_ref();
    let result = async {
        let chosen = suspect::arrivals(store, &catalog, &target.dataset, &which).await?;
        let runs = crate::flows::runs::list(store, None, usize::MAX).await?;
        let suspects: Vec<(String, String)> = chosen.iter().map(|(_, p, _)| (target.dataset.clone(), p.clone())).collect();
        let radius = suspect::blast_radius(&runs, &catalog, &suspects);
        let outcome = match action {
            "suspect" => json!({ "marked": suspect::mark(store, st.audit.as_ref(), &target.dataset, &chosen, reason.unwrap_or(""), &by, now).await? }),
            "clear" => json!({ "cleared": suspect::clear(store, st.audit.as_ref(), &target.dataset, &chosen, reason.unwrap_or(""), &by, now).await? }),
            _ => {
                let since = chosen.iter().map(|(_, _, at)| *at).max().unwrap_or(now);
                let Some(corrected) = suspect::corrected_since(store, &target.dataset, since).await? else {
                    return Err(SuspectError::BadInput(format!(
                        "no corrected file has landed: no arrival of `{}` after {} passed its contract",
                        target.dataset,
                        since.to_rfc3339()
                    )));
                };
                let (done, left) =
                    suspect::rerun(store, st.queue.as_ref(), st.audit.as_ref(), &target.dataset, &chosen, &radius.all(), &by, now).await?;
                json!({ "corrected_by": corrected, "replayed": done, "not_replayed": left.iter().map(|(k, why)| json!({"run": k, "why": why})).collect::<Vec<_>>() })
            }
        };
        Ok::<_, SuspectError>(json!({ "dataset": target.dataset, "arrivals": chosen.iter().map(|(_, p, at)| json!({"path": p, "arrived_at": at})).collect::<Vec<_>>(),
            "outcome": outcome, "blast_radius": radius }))
    }
    .await;
    match result {
        Ok(v) => {
            if target.json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print(action, &v);
            }
            exit::OK
        }
        Err(SuspectError::BadInput(m)) => {
            eprintln!("error: {m}");
            if action == "rerun" && m.starts_with("no corrected file") {
                exit::FAILED
            } else {
                exit::BAD_INPUT
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

async fn catalog(st: &super::state::State, file: Option<&Path>) -> Result<crate::domain::catalog::Catalog, String> {
    if let Some(view) = super::release::active_view_of(st).await? {
        return Ok(view.catalog.as_ref().clone());
    }
    let path = file.map(Path::to_path_buf).or_else(|| std::env::var("FLOWGATE_CATALOG").ok().map(Into::into));
    let Some(path) = path else { return Err("no active release: give --catalog FILE (or FLOWGATE_CATALOG)".into()) };
    crate::domain::catalog::check::load_file(&path)
        .map(|l| l.catalog)
        .map_err(|p| format!("{}: {} problem(s); `flowgate validate` lists them", path.display(), p.len()))
}

fn print(action: &str, v: &serde_json::Value) {
    let n = v["arrivals"].as_array().map_or(0, Vec::len);
    match action {
        "suspect" => {
            println!("marked {} of {n} arrival(s) of `{}` as suspect", v["outcome"]["marked"], v["dataset"].as_str().unwrap_or(""))
        }
        "clear" => println!("lifted the mark on {} of {n} arrival(s)", v["outcome"]["cleared"]),
        _ => println!(
            "corrected by {}: replayed {} run(s)",
            v["outcome"]["corrected_by"].as_str().unwrap_or("?"),
            v["outcome"]["replayed"].as_array().map_or(0, Vec::len)
        ),
    }
    for a in v["arrivals"].as_array().into_iter().flatten() {
        println!("  arrival  {} at {}", a["path"].as_str().unwrap_or(""), a["arrived_at"].as_str().unwrap_or(""));
    }
    let b = &v["blast_radius"];
    for j in b["held_jobs"].as_array().into_iter().flatten() {
        println!("  held     the next runs of {} (their gate reads this dataset)", j.as_str().unwrap_or(""));
    }
    for r in b["runs"].as_array().into_iter().flatten() {
        println!("  read it  {}", r.as_str().unwrap_or(""));
    }
    for o in b["outputs"].as_array().into_iter().flatten() {
        println!("  output   {}", o.as_str().unwrap_or(""));
    }
    for (r, d) in b["downstream"].as_object().into_iter().flatten() {
        println!("  downstream (depth {d}) {r}");
    }
    for r in v["outcome"]["replayed"].as_array().into_iter().flatten() {
        println!("  replayed {}", r.as_str().unwrap_or(""));
    }
    for r in v["outcome"]["not_replayed"].as_array().into_iter().flatten() {
        println!("  left     {}: {}", r["run"].as_str().unwrap_or(""), r["why"].as_str().unwrap_or(""));
    }
}
