//! `flowgate evaluate compare --baseline FILE --candidate FILE [--id-column C] [--alpha A]
//! [--delta D] [--floor EVALUATOR=RATE]... [--min-items N] [--json]`: the offline evaluation gate
//! on its own, for a pipeline: exit 0 PASS, 1 FAIL or INSUFFICIENT, 2 unusable input.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::exit;
use crate::domain::evaluation::{compare, parse_results, GateOptions, Observation, Verdict};

#[derive(Subcommand)]
pub enum EvaluateCommand {
    /// Compare a candidate's evaluation with its baseline's on the same items (paired by id).
    ///
    /// Example: flowgate evaluate compare --baseline examples/claims/evaluation/baseline.jsonl --candidate examples/claims/evaluation/candidate.jsonl --floor exact_match=0.8
    Compare {
        /// The baseline's results: flowgate JSON Lines, an azure-ai-evaluation result file or a Foundry eval run's output items.
        #[arg(long)]
        baseline: PathBuf,
        /// The candidate's results, in either format.
        #[arg(long)]
        candidate: PathBuf,
        /// azure-ai-evaluation files: the input column that identifies an item (`inputs.<C>`).
        #[arg(long, default_value = "id")]
        id_column: String,
        /// Family-wise error rate across evaluators (Holm).
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// The largest acceptable drop of a pass rate, (b − c) / n.
        #[arg(long, default_value_t = 0.05)]
        delta: f64,
        /// EVALUATOR=RATE: the candidate's pass rate (Wilson 95 % lower bound) must reach RATE.
        #[arg(long = "floor", value_name = "EVALUATOR=RATE")]
        floors: Vec<String>,
        /// Fewer paired items than this is INSUFFICIENT (fails closed).
        #[arg(long, default_value_t = 30)]
        min_items: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read(path: &Path, id_column: &str) -> Result<Vec<Observation>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_results(&bytes, id_column).map_err(|e| format!("{}: {e}", path.display()))
}

fn options(alpha: f64, delta: f64, floors: &[String], min_items: u64) -> Result<GateOptions, String> {
    if !(alpha > 0.0 && alpha < 1.0 && (0.0..1.0).contains(&delta)) {
        return Err("--alpha must be in (0, 1) and --delta in [0, 1)".into());
    }
    let mut o = GateOptions { alpha, delta, min_items, ..GateOptions::default() };
    for f in floors {
        let (name, rate) = f.split_once('=').ok_or_else(|| format!("--floor `{f}`: write EVALUATOR=RATE, e.g. exact_match=0.8"))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| (0.0..=1.0).contains(r))
            .ok_or_else(|| format!("--floor `{f}`: RATE is a number from 0 to 1"))?;
        o.floors.insert(name.trim().to_string(), rate);
    }
    Ok(o)
}

pub fn run(command: EvaluateCommand) -> u8 {
    let EvaluateCommand::Compare { baseline, candidate, id_column, alpha, delta, floors, min_items, json } = command;
    let inputs =
        options(alpha, delta, &floors, min_items).and_then(|o| Ok((o, read(&baseline, &id_column)?, read(&candidate, &id_column)?)));
    let (o, base, cand) = match inputs {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let r = match compare(&base, &cand, &o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {} against {}: {e}", baseline.display(), candidate.display());
            return exit::BAD_INPUT;
        }
    };
    if json {
        println!("{}", json!(r));
    } else {
        for e in &r.evaluators {
            println!(
                "{:<12} {:<28} {:<7} n {:>4}  b {:>3}  c {:>3}  p {:.4} (Holm {:.4})  drop {:+.3}  wilson-lower {}",
                format!("{:?}", e.verdict).to_uppercase(),
                e.name,
                format!("{:?}", e.kind).to_lowercase(),
                e.n,
                e.b,
                e.c,
                e.p_value,
                e.alpha_holm,
                e.drop,
                e.wilson_lower.map_or("-".to_string(), |w| format!("{w:.3}"))
            );
            for reason in &e.reasons {
                println!("             - {reason}");
            }
        }
        println!("verdict: {}", format!("{:?}", r.verdict).to_uppercase());
    }
    match r.verdict {
        Verdict::Pass => exit::OK,
        _ => exit::FAILED,
    }
}
