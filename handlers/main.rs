//! The `flowgate` command line: `serve` (the custom handler), `local` (the Functions-host
//! stand-in and the demo), `validate`, `runs` and `schema`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use clap::{Parser, Subcommand};

use flowgate::commands::{self, exit};
use flowgate::local_host::{self, demo, Clock, LocalOptions};
use flowgate::telemetry::{self, LogFormat};

/// The top-level help: commands grouped the way a person uses them, an example each (a test
/// keeps every subcommand listed here exactly once).
const HELP: &str = "\
{about}

{usage-heading} {usage}

Run it:
  local       The functions under a stand-in for the Functions host    flowgate local --demo
  validate    Check a catalog, every problem with its line             flowgate validate examples/claims/catalog.yaml
  plan        What would run in a window, when and why                 flowgate plan --catalog examples/claims/catalog.yaml --from 2026-12-07T00:00:00Z --hours 24
  schedule    The next slots of an NCRONTAB expression in a zone       flowgate schedule next --cron \"0 30 1 * * *\" --tz Europe/London --from 2026-03-28T00:00:00Z

Look at what happened:
  runs        Recorded runs, newest first, with why they waited        flowgate runs --state .flowgate/demo
  trace       One run in full, back to its input files                 flowgate trace --state .flowgate/demo --job classify_correspondence
  doctor      What needs a person, worst first                         flowgate doctor --state .flowgate/demo
  alerts      What fires, what resolved, every delivery                flowgate alerts --state .flowgate/demo
  report      The weekly stability report                              flowgate report --week 2026-W48 --state .flowgate/demo --out .flowgate/report
  lineage     OpenLineage events of finished runs                      flowgate lineage export --state .flowgate/demo

Operate:
  quarantine  List, show, replay or discard what could not succeed     flowgate quarantine list --state .flowgate/demo
  dataset     Hold, clear and rerun what suspect data reached          flowgate dataset suspect claims_correspondence --latest --reason \"producer recall\" --state .flowgate/demo
  contract    Lint a data contract, or check a file against it         flowgate contract lint examples/claims/contracts/claims_correspondence.odcs.yaml
  retention   Remove old local records (the audit trail is kept)       flowgate retention --state .flowgate/demo --keep 400d --dry-run

Prove it (audit):
  audit       Export the hash-chained trail, or verify it              flowgate audit verify --state .flowgate/demo
  evidence    The evidence pack an auditor reads                       flowgate evidence --state .flowgate/demo --out .flowgate/evidence

Release a change:
  release     Propose, approve, check, promote, roll back              flowgate release list --state .flowgate/demo
  evaluate    The offline evaluation gate on two result files          flowgate evaluate compare --baseline examples/claims/evaluation/baseline.jsonl --candidate examples/claims/evaluation/candidate.jsonl
  canary      The canary's sequential test, from outside               flowgate canary decide --p0 0.02 --p1 0.06 --items 38 --failures 0

Deploy:
  package     The deployable layout and its zip                        flowgate package --help
  serve       The custom handler itself (what host.json runs)          flowgate serve --help
  schema      The catalog's JSON Schema                                flowgate schema

Run `flowgate <command> --help` for every option of a command; docs/cli.md has them all.

{options}
";

#[derive(Parser)]
#[command(
    name = "flowgate",
    version,
    about = "Runs Azure AI Foundry workloads like clockwork: schedules, retries and quarantine, as an Azure Functions custom handler.",
    help_template = HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the custom handler on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT (what host.json runs).
    ///
    /// Settings come from the environment: FLOWGATE_CATALOG (catalog file), FLOWGATE_STATE (state
    /// folder), FLOWGATE_DATA_DIR (local blob root, default <state>/data).
    Serve {
        /// Listen on this port instead of $FUNCTIONS_CUSTOMHANDLER_PORT.
        #[arg(long)]
        port: Option<u16>,
    },
    /// Run the functions locally under a stand-in for the Azure Functions host.
    Local(LocalArgs),
    /// Check a catalog: exit 0 with a summary, or exit 2 with every problem as path:line:col.
    Validate {
        /// The catalog file (YAML).
        catalog: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What needs a person, worst first, each with its evidence, the command that deals with it and
    /// its runbook: exit 0 when nothing does, 1 when something does, 2 when the state cannot be read.
    ///
    /// Example: flowgate doctor --state .flowgate/demo --catalog examples/claims/catalog.yaml
    Doctor {
        /// The state folder, or `azure` for the deployed state.
        #[arg(long)]
        state: PathBuf,
        /// The catalog file (default FLOWGATE_CATALOG; the active release's catalog wins for checks).
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// "Now" (RFC 3339), e.g. the end of a simulated week; default the clock.
        #[arg(long)]
        now: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Suspected data corruption: mark arrivals suspect (runs that would read them are held, the
    /// blast radius is printed), clear the mark, rerun the affected runs once corrected.
    ///
    /// Example: flowgate dataset suspect claims_correspondence --latest --reason "producer recall" --state .flowgate/demo
    #[command(subcommand)]
    Dataset(commands::dataset::DatasetCommand),
    /// Trace an output to its sources: the run and its attempts, the release, job and endpoint it
    /// ran with, its input arrivals with their contract verdicts, and upstream runs, recursively.
    ///
    /// Example: flowgate trace --state .flowgate/demo --job classify_correspondence
    Trace {
        /// The state folder, or `azure` for the deployed state.
        #[arg(long)]
        state: PathBuf,
        /// A run key, `JOB@RFC3339` as `flowgate runs` shows it.
        #[arg(long)]
        run: Option<String>,
        /// An output file the run wrote (`container/path`, or its end).
        #[arg(long)]
        output: Option<String>,
        /// A job: its newest run that succeeded (else its newest finished run).
        #[arg(long)]
        job: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recorded runs, newest first.
    Runs {
        /// The state folder (as given to `flowgate local --state`), or `azure` for the deployed state.
        #[arg(long)]
        state: PathBuf,
        /// Only this job's runs.
        #[arg(long)]
        job: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the catalog's JSON Schema (committed as docs/catalog.schema.json).
    Schema,
    /// What would run in a window: when (UTC and local), why, what could hold it, SLA deadlines.
    Plan {
        /// The catalog file (YAML); without it, the active release of --state.
        #[arg(long, required_unless_present = "state")]
        catalog: Option<PathBuf>,
        /// The window's start, an RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// The window's length in hours (1 to 8784).
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Fold in the current state (unfinished runs, last arrivals) from this state folder.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a schedule before shipping it.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Data contracts (ODCS v3): lint one, or check a data file against one.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// The hash-chained audit trail: export it, or verify that nothing was altered.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write the weekly stability report of an ISO week: report.json (every figure), report.md
    /// and report.html.
    ///
    /// Example: flowgate report --week 2026-W48 --tz Europe/London --state .flowgate/demo --out report-w48
    Report {
        /// The ISO week, e.g. 2026-W48.
        #[arg(long)]
        week: String,
        /// The IANA time zone the week runs in (Monday 00:00 to Monday 00:00 local). Default UTC.
        #[arg(long)]
        tz: Option<String>,
        /// The state folder.
        #[arg(long)]
        state: PathBuf,
        /// A new (or empty) folder to write the report into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write an evidence pack for a window: audit segment and its verification, runs, gate
    /// decisions, approvals, quarantine and replays, SLA outcomes, lineage, and an index.html.
    ///
    /// Example: flowgate evidence --state .flowgate/demo --out .flowgate/evidence
    Evidence {
        /// The state folder, or `azure` for the deployed state (FLOWGATE_TABLE_ENDPOINT, ...).
        #[arg(long)]
        state: PathBuf,
        /// The window's start, an RFC 3339 instant (default: the first audit event).
        #[arg(long)]
        from: Option<String>,
        /// The window's end (excluded), an RFC 3339 instant (default: just after the last audit event).
        #[arg(long)]
        to: Option<String>,
        /// A new (or empty) folder to write the pack into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Build the deployable layout (host.json, function folders, the static handler, the catalog)
    /// and its zip.
    Package {
        /// A new (or empty) folder to write the layout into; the zip is written next to it.
        #[arg(long)]
        out: PathBuf,
        /// The catalog to ship (with its contracts) as catalog/catalog.yaml.
        #[arg(long)]
        catalog: Option<PathBuf>,
        /// Use this already built handler instead of building one (it must be static x86-64).
        #[arg(long)]
        binary: Option<PathBuf>,
        /// The build target: x86_64-unknown-linux-gnu (linked with +crt-static) or a musl target.
        #[arg(long, default_value = "x86_64-unknown-linux-gnu")]
        target: String,
    },
    /// Remove local records finished longer ago than --keep (the audit trail is kept).
    Retention {
        /// The state folder, or `azure` for the deployed state (FLOWGATE_TABLE_ENDPOINT, ...).
        #[arg(long)]
        state: PathBuf,
        /// How long to keep finished records, e.g. `400d` (at least a day).
        #[arg(long)]
        keep: String,
        /// Only count what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Who is acting (recorded; default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// The offline evaluation gate: compare a candidate's evaluator results with its baseline's.
    #[command(subcommand)]
    Evaluate(commands::evaluate::EvaluateCommand),
    /// The canary's sequential test, to check from outside: decide, or simulate error rates.
    #[command(subcommand)]
    Canary(commands::canary::CanaryCommand),
    /// Releases: propose a catalog, approve, check, promote and roll back (docs/releases.md).
    #[command(subcommand)]
    Release(commands::release::ReleaseCommand),
    /// Lineage of finished runs as OpenLineage 2-0-2 events.
    #[command(subcommand)]
    Lineage(LineageCommand),
    /// Alerts: what fires, what was resolved, every delivery attempt; silence one with a reason.
    Alerts {
        /// The state folder, or `azure` for the deployed state.
        #[arg(long, global = true)]
        state: Option<PathBuf>,
        /// Alerts resolved and deliveries made in this many days (default 7).
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Who is acting (recorded with silences; default: $USER).
        #[arg(long, global = true)]
        by: Option<String>,
        #[command(subcommand)]
        action: Option<AlertsCommand>,
    },
    /// What could not succeed: list, show, replay or discard quarantined items.
    Quarantine {
        /// The state folder, or `azure` for the deployed state (FLOWGATE_TABLE_ENDPOINT, ...).
        #[arg(long, global = true)]
        state: Option<PathBuf>,
        /// Who is acting (recorded with replays and discards; default: $USER).
        #[arg(long, global = true)]
        by: Option<String>,
        #[command(subcommand)]
        action: QuarantineCommand,
    },
}

/// Which state, and which window of it, an export prints.
#[derive(clap::Args)]
struct ExportArgs {
    /// The state folder, or `azure` for the deployed state.
    #[arg(long)]
    state: PathBuf,
    /// Only events at or after this RFC 3339 instant.
    #[arg(long)]
    from: Option<String>,
    /// Only events before this RFC 3339 instant.
    #[arg(long)]
    to: Option<String>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Print the events as JSON Lines, oldest first.
    Export(ExportArgs),
    /// Exit 0 with the count and head hash if the chain is intact; 1 naming the first bad event.
    Verify {
        /// The state folder, or `azure` for the deployed state.
        #[arg(long, conflicts_with = "file")]
        state: Option<PathBuf>,
        /// An exported JSON Lines file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The head hash the chain must end at (detects events cut from the end).
        #[arg(long)]
        head: Option<String>,
    },
}

#[derive(Subcommand)]
enum LineageCommand {
    /// Print the events as JSON Lines, oldest first.
    Export(ExportArgs),
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Hold an alert's sends (not its state) for a while; the reason is required and recorded.
    Silence {
        /// The alert name (SlaBreach, BreakerOpen, StaleData, ...).
        name: String,
        /// Only this job's alerts.
        #[arg(long)]
        job: Option<String>,
        /// How long (e.g. `4h`, `2d`; at most 30d).
        #[arg(long = "for")]
        length: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Open items, newest first.
    List {
        /// Include replayed and discarded items.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One item, with its evidence and history.
    Show { id: String },
    /// Replay quarantined runs: a fresh attempt series under the same run key.
    Replay {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Close an item without replaying it; the reason is required and recorded.
    Discard {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum ContractCommand {
    /// Exit 0 if flowgate can enforce the contract (listing, with line and column, every part it
    /// does not), 2 with every error.
    Lint {
        /// The contract file (YAML).
        file: PathBuf,
        /// Also exit 2 when any part is not enforced (as a dataset with `contracts: {strict: true}` would).
        #[arg(long)]
        strict: bool,
    },
    /// Check a data file: exit 0 when every rule passes, 1 when any fails, 2 for unusable input.
    Check {
        /// The contract file (YAML).
        #[arg(long)]
        contract: PathBuf,
        /// The data: CSV with a header row, or JSON Lines; `.gz` is decompressed.
        #[arg(long)]
        data: PathBuf,
        /// "Now" for freshness, an RFC 3339 instant (default: the clock).
        #[arg(long)]
        now: Option<String>,
        /// The schema object the data is, when the contract has several.
        #[arg(long)]
        table: Option<String>,
        /// csv or jsonl (default: from the file name).
        #[arg(long)]
        format: Option<String>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// The next N slots of an NCRONTAB expression after an instant, as RFC 3339 UTC instants.
    Next {
        /// The expression: six fields `{second} {minute} {hour} {day} {month} {day-of-week}`.
        #[arg(long, allow_hyphen_values = true)]
        cron: String,
        /// The IANA time zone whose wall clock the expression follows.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Slots strictly after this RFC 3339 instant.
        #[arg(long)]
        from: String,
        /// How many slots (1 to 10000).
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Print a JSON array of strings.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct LocalArgs {
    /// Run the bundled claims demo: a simulated week with a demo scoring endpoint.
    #[arg(long)]
    demo: bool,
    /// The app folder holding host.json and function-defs/.
    #[arg(long, default_value = ".")]
    app_root: PathBuf,
    /// The catalog file (default for --demo: examples/claims/catalog.yaml).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The state folder (default for --demo: .flowgate/demo, emptied first).
    #[arg(long)]
    state: Option<PathBuf>,
    /// The local blob root, one sub-folder per container (default <state>/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run on a virtual clock from this RFC 3339 instant (default for --demo: this week's Monday 00:00 UTC).
    #[arg(long)]
    from: Option<String>,
    /// With --from: simulate this many days (default 7).
    #[arg(long)]
    days: Option<u32>,
    /// On the real clock: stop after this long (e.g. `30s`, `8h`); default: run until Ctrl-C.
    #[arg(long)]
    stop_after: Option<String>,
    /// Serve HTTP-triggered functions on this port (real clock only).
    #[arg(long, default_value_t = 7071)]
    http_port: u16,
    /// Chaos run: deliver this share of Service Bus messages twice (0.0–1.0).
    #[arg(long, hide = true)]
    chaos_duplicates: Option<f64>,
    /// Chaos run: SIGKILL the handler during every N-th DispatchRun invocation.
    #[arg(long, hide = true)]
    chaos_kill_every: Option<u64>,
    /// Chaos run: seed of the fault choices.
    #[arg(long, hide = true, default_value_t = 1)]
    chaos_seed: u64,
}

fn parse_instant(arg: &str, value: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{arg} `{value}` is not an RFC 3339 instant (e.g. 2026-11-02T00:00:00Z): {e}"))
}

async fn local(args: LocalArgs) -> u8 {
    let catalog = args.catalog.clone().unwrap_or_else(|| args.app_root.join("examples/claims/catalog.yaml"));
    if !args.demo && args.catalog.is_none() {
        eprintln!("error: --catalog is required (or use --demo)");
        return exit::BAD_INPUT;
    }
    if !catalog.is_file() {
        eprintln!("error: --catalog {}: no such file", catalog.display());
        return exit::BAD_INPUT;
    }
    if args.days == Some(0) || args.days.is_some_and(|d| d > 366) {
        eprintln!("error: --days must be between 1 and 366");
        return exit::BAD_INPUT;
    }
    let state = args.state.clone().unwrap_or_else(|| PathBuf::from(if args.demo { ".flowgate/demo" } else { ".flowgate/local" }));
    let from = match &args.from {
        Some(v) => match parse_instant("--from", v) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::BAD_INPUT;
            }
        },
        None if args.demo => Some(demo::week_start(Utc::now())),
        None => None,
    };
    if args.days.is_some() && from.is_none() {
        eprintln!("error: --days needs --from (a virtual clock)");
        return exit::BAD_INPUT;
    }
    let stop_after = match &args.stop_after {
        None => None,
        Some(_) if from.is_some() => {
            eprintln!("error: --stop-after is for the real clock; with --from use --days");
            return exit::BAD_INPUT;
        }
        Some(v) => match flowgate::domain::duration::parse_duration(v) {
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                eprintln!("error: --stop-after must be longer than zero");
                return exit::BAD_INPUT;
            }
            Err(e) => {
                eprintln!("error: --stop-after: {e}");
                return exit::BAD_INPUT;
            }
        },
    };
    if args.demo {
        if let Err(e) = reset_demo_state(&state) {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(|| state.join("data"));
    let clock = match from {
        Some(f) => Clock::Virtual { from: f, until: f + chrono::Duration::days(i64::from(args.days.unwrap_or(7))) },
        None => Clock::Real { until: stop_after.and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| Utc::now() + d) },
    };
    let mut settings = Vec::new();
    let mut scorer = None;
    if args.demo {
        if let Clock::Virtual { from, until } = clock {
            let days = u32::try_from((until - from).num_days()).unwrap_or(7);
            match demo::generate_week(&data_dir, from, days) {
                Ok(n) => eprintln!("demo: {n} correspondence file(s) will land in {}", data_dir.display()),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILED;
                }
            }
        }
        match demo::start_scorer().await {
            Ok(e) => {
                eprintln!(
                    "demo: scoring endpoint stand-in (keyword rules of examples/claims/flow, deployments blue, green, red) at {}",
                    e.score_url
                );
                settings.push(("CLAIMS_SCORING_URL".to_string(), e.score_url));
                settings.push(("CLAIMS_ENDPOINT_MANAGEMENT_URL".to_string(), e.management_url));
                scorer = Some(e.task);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
        }
    }
    let handler_exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the flowgate binary: {e}");
            return exit::FAILED;
        }
    };
    if args.chaos_duplicates.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
        eprintln!("error: --chaos-duplicates must be between 0 and 1");
        return exit::BAD_INPUT;
    }
    let chaos = (args.chaos_duplicates.is_some() || args.chaos_kill_every.is_some()).then_some(local_host::Chaos {
        duplicate_ratio: args.chaos_duplicates.unwrap_or(0.0),
        kill_every: args.chaos_kill_every.unwrap_or(0),
        seed: args.chaos_seed,
    });
    let story = match (args.demo, &clock) {
        (true, Clock::Virtual { .. }) => match local_host::release_story::prepare(&catalog, &state) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
        },
        _ => None,
    };
    // The demo ends with the report of its (first) week.
    let report_week = match (&clock, args.demo) {
        (Clock::Virtual { from, .. }, true) => {
            let w = from.iso_week();
            Some((format!("{}-W{:02}", w.year(), w.week()), state.clone()))
        }
        _ => None,
    };
    let opts = LocalOptions {
        app_root: args.app_root,
        catalog,
        state,
        data_dir,
        clock,
        http_port: Some(args.http_port),
        settings,
        handler_exe,
        chaos,
        story,
    };
    let result = local_host::run(opts).await;
    if let Some(t) = scorer {
        t.abort();
    }
    match result {
        Ok(summary) => {
            println!("{summary}");
            if let Some((week, state)) = report_week {
                let out = state.join(format!("report-{week}"));
                print!("  report      ");
                return commands::report::run(&week, Some("Europe/London"), &state, &out).await;
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// Empties the demo's state folder, refusing folders that do not look like flowgate state.
fn reset_demo_state(state: &std::path::Path) -> Result<(), String> {
    if state.exists() {
        let ours = state.join("state.db").exists() || std::fs::read_dir(state).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !ours {
            return Err(format!("{} exists and is not a flowgate state folder; choose another --state", state.display()));
        }
        std::fs::remove_dir_all(state).map_err(|e| format!("cannot empty {}: {e}", state.display()))?;
    }
    std::fs::create_dir_all(state).map_err(|e| format!("{}: {e}", state.display()))
}

async fn serve(port: Option<u16>) -> u8 {
    local_host::exit_with_host();
    let settings = match flowgate::config::Settings::from_lookup(&|k| std::env::var(k).ok(), port) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error.message = %e, "unusable settings");
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let (deps, loaded) = match flowgate::app::deps_for(&settings).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    for w in &loaded.warnings {
        tracing::warn!(line = w.pos.line, column = w.pos.col, "catalog: {}", w.message);
    }
    if let Err(e) = note_configuration(&deps, &settings.catalog).await {
        eprintln!("error: recording the configuration: {e}");
        return exit::FAILED;
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", settings.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {e}", settings.port);
            return exit::FAILED;
        }
    };
    tracing::info!(port = settings.port, catalog = %settings.catalog.display(), jobs = deps.catalog.jobs.len(), "flowgate handler ready");
    match flowgate::edge::serve(listener, Arc::new(deps)).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}

/// Records a changed catalog or contract as an audit event (once per change).
async fn note_configuration(deps: &flowgate::flows::Deps, catalog: &std::path::Path) -> Result<(), String> {
    let digest = flowgate::app::config_digest(catalog, &deps.catalog)?;
    let actor = std::env::var("AZURE_CLIENT_ID")
        .ok()
        .filter(|v| !v.is_empty())
        .map_or_else(|| "system".to_string(), |id| format!("managed-identity:{id}"));
    // `flowgate local` on its virtual clock sets the simulated start; anywhere else, now.
    let at = match std::env::var("FLOWGATE_CONFIG_RECORDED_AT") {
        Ok(t) => chrono::DateTime::parse_from_rfc3339(&t)
            .map_err(|e| format!("FLOWGATE_CONFIG_RECORDED_AT `{t}` is not an RFC 3339 time: {e}"))?
            .with_timezone(&chrono::Utc),
        Err(_) => chrono::Utc::now(),
    };
    let changed =
        flowgate::flows::config::note(deps, &digest, &catalog.display().to_string(), &actor, at).await.map_err(|e| e.to_string())?;
    if changed {
        tracing::info!(%digest, "configuration recorded");
    }
    Ok(())
}

/// A reader that goes away (`flowgate runs … | head`) ends the process quietly, as SIGPIPE ends
/// any Unix tool (exit 141), instead of the panic `println!` raises on a closed stdout.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let default_level = match &cli.command {
        Command::Serve { .. } => "info",
        Command::Local(_) => "warn",
        _ => "warn",
    };
    telemetry::init(LogFormat::from_env(), default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Serve { port } => serve(port).await,
            Command::Local(args) => local(args).await,
            Command::Validate { catalog, json } => commands::validate::run(&catalog, json),
            Command::Runs { state, job, limit, json } => commands::runs::run(&state, job.as_deref(), limit, json).await,
            Command::Schema => commands::schema(),
            Command::Audit(AuditCommand::Export(ExportArgs { state, from, to })) => {
                commands::audit::export(&state, from.as_deref(), to.as_deref()).await
            }
            Command::Audit(AuditCommand::Verify { state, file, head }) => {
                commands::audit::verify(state.as_deref(), file.as_deref(), head.as_deref()).await
            }
            Command::Package { out, catalog, binary, target } => {
                commands::package::run(&out, catalog.as_deref(), binary.as_deref(), &target)
            }
            Command::Retention { state, keep, dry_run, by } => {
                let by = by.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "cli".into());
                commands::retention::run(&state, &keep, dry_run, &by).await
            }
            Command::Evidence { state, from, to, out } => commands::evidence::run(&state, from.as_deref(), to.as_deref(), &out).await,
            Command::Dataset(c) => commands::dataset::run(c).await,
            Command::Trace { state, run, output, job, json } => {
                commands::trace::run(&state, run.as_deref(), output.as_deref(), job.as_deref(), json).await
            }
            Command::Doctor { state, catalog, now, json } => commands::doctor::run(&state, catalog.as_deref(), now.as_deref(), json).await,
            Command::Report { week, tz, state, out } => commands::report::run(&week, tz.as_deref(), &state, &out).await,
            Command::Release(c) => commands::release::run(c).await,
            Command::Canary(c) => commands::canary::run(c),
            Command::Evaluate(c) => commands::evaluate::run(c),
            Command::Lineage(LineageCommand::Export(ExportArgs { state, from, to })) => {
                commands::lineage::export(&state, from.as_deref(), to.as_deref()).await
            }
            Command::Alerts { state, days, json, by, action } => {
                let Some(state) = state else {
                    eprintln!("error: --state is required");
                    return exit::BAD_INPUT;
                };
                let by = by.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "cli".into());
                match action {
                    None => commands::alerts::list(&state, days, json).await,
                    Some(AlertsCommand::Silence { name, job, length, reason }) => {
                        commands::alerts::silence(&state, &name, job, &length, &reason, &by).await
                    }
                }
            }
            Command::Quarantine { state, by, action } => {
                let Some(state) = state else {
                    eprintln!("error: --state is required");
                    return exit::BAD_INPUT;
                };
                let by = by.or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "cli".into());
                match action {
                    QuarantineCommand::List { all, json } => commands::quarantine::list(&state, all, json).await,
                    QuarantineCommand::Show { id } => commands::quarantine::show(&state, &id).await,
                    QuarantineCommand::Replay { ids } => commands::quarantine::replay(&state, &ids, &by).await,
                    QuarantineCommand::Discard { id, reason } => commands::quarantine::discard(&state, &id, &reason, &by).await,
                }
            }
            Command::Contract(ContractCommand::Lint { file, strict }) => commands::contract::lint(&file, strict),
            Command::Contract(ContractCommand::Check { contract, data, now, table, format, json }) => {
                commands::contract::check(&contract, &data, now.as_deref(), table, format.as_deref(), json)
            }
            Command::Plan { catalog, from, hours, state, json } => {
                commands::plan::run(catalog.as_deref(), &from, hours, state.as_deref(), json).await
            }
            Command::Schedule(ScheduleCommand::Next { cron, tz, from, count, json }) => {
                commands::schedule::next(&cron, &tz, &from, count, json)
            }
        }
    });
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_grouped_help_lists_every_command_once() {
        let names: Vec<String> =
            super::Cli::command().get_subcommands().map(|c| c.get_name().to_string()).filter(|n| n != "help").collect();
        let listed: Vec<&str> = super::HELP
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut a = names.clone();
        a.sort();
        let mut b: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        b.sort();
        assert_eq!(a, b, "every command once in the grouped help, and nothing else");
        for l in super::HELP.lines().filter(|l| l.starts_with("  ") && !l.starts_with("   ")) {
            assert!(l.contains(" flowgate "), "an example on `{l}`");
        }
    }
}
