//! `flowgate canary decide` and `flowgate canary simulate`: the sequential test the canary
//! analysis uses, to check from outside (release-gates.md §3).

use clap::Subcommand;
use serde_json::json;

use super::exit;
use crate::domain::stats::{Sprt, SprtDecision};

/// The test's hypotheses and error rates.
#[derive(clap::Args, Clone, Copy)]
pub struct SprtArgs {
    /// The acceptable failure rate (H0).
    #[arg(long)]
    p0: f64,
    /// The failure rate to detect (H1), above p0.
    #[arg(long)]
    p1: f64,
    /// The chance of aborting a candidate as good as p0.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// The chance of promoting a candidate as bad as p1.
    #[arg(long, default_value_t = 0.2)]
    beta: f64,
}

#[derive(Subcommand)]
pub enum CanaryCommand {
    /// The Wald SPRT's decision after N items with F failures: PROMOTE, ABORT or KEEP.
    ///
    /// Example: flowgate canary decide --p0 0.02 --p1 0.06 --items 38 --failures 0 --json
    Decide {
        #[command(flatten)]
        test: SprtArgs,
        /// Items seen.
        #[arg(long)]
        items: u64,
        /// Of them, failed.
        #[arg(long)]
        failures: u64,
        /// Never promote before this many items.
        #[arg(long, default_value_t = 30)]
        min_items: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Simulate the test on items failing at a true rate: the shares that promote, abort and end
    /// inconclusive, and the mean items used.
    ///
    /// Example: flowgate canary simulate --p0 0.02 --p1 0.06 --true-rate 0.06 --json
    Simulate {
        #[command(flatten)]
        test: SprtArgs,
        /// The items' real failure rate.
        #[arg(long)]
        true_rate: f64,
        /// Simulated canaries.
        #[arg(long, default_value_t = 5000)]
        trials: u64,
        /// Items after which a canary is inconclusive.
        #[arg(long, default_value_t = 400)]
        max_items: u64,
        #[arg(long, default_value_t = 30)]
        min_items: u64,
        /// The random seed (the same seed gives the same figures).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
}

fn sprt(a: &SprtArgs) -> Result<Sprt, u8> {
    let SprtArgs { p0, p1, alpha, beta } = *a;
    Sprt::new(p0, p1, alpha, beta).ok_or_else(|| {
        eprintln!("error: need 0 < --p0 < --p1 < 1 and --alpha, --beta between 0 and 1 (got p0 {p0}, p1 {p1}, alpha {alpha}, beta {beta})");
        exit::BAD_INPUT
    })
}

fn word(d: SprtDecision) -> &'static str {
    match d {
        SprtDecision::Promote => "PROMOTE",
        SprtDecision::Abort => "ABORT",
        SprtDecision::Keep => "KEEP",
    }
}

pub fn run(command: CanaryCommand) -> u8 {
    match command {
        CanaryCommand::Decide { test, items, failures, min_items, json } => {
            let s = match sprt(&test) {
                Ok(s) => s,
                Err(c) => return c,
            };
            if failures > items {
                eprintln!("error: --failures {failures} is more than --items {items}");
                return exit::BAD_INPUT;
            }
            let decision = word(s.decide_after(items, failures, min_items));
            let llr = s.llr(items, failures);
            if json {
                println!(
                    "{}",
                    json!({ "llr": llr, "upper": s.upper, "lower": s.lower, "items": items, "failures": failures, "decision": decision })
                );
            } else {
                println!(
                    "{decision}: log-likelihood ratio {llr:.4} (abort at >= {:.4}, promote at <= {:.4} after {min_items} items)",
                    s.upper, s.lower
                );
            }
            exit::OK
        }
        CanaryCommand::Simulate { test, true_rate, trials, max_items, min_items, seed, json } => {
            let s = match sprt(&test) {
                Ok(s) => s,
                Err(c) => return c,
            };
            if !(0.0..=1.0).contains(&true_rate) || trials == 0 || trials > 1_000_000 || max_items == 0 {
                eprintln!("error: need --true-rate in [0, 1], --trials from 1 to 1000000 and --max-items above 0");
                return exit::BAD_INPUT;
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            let sim = s.simulate(true_rate, trials, max_items, min_items, &mut || rng.f64());
            let (promote, abort, inconclusive) = (sim.share(sim.promoted), sim.share(sim.aborted), sim.share(sim.inconclusive));
            if json {
                println!(
                    "{}",
                    json!({ "trials": trials, "promote": promote, "abort": abort, "inconclusive": inconclusive, "mean_items": sim.mean_items })
                );
            } else {
                println!(
                    "{trials} canaries at a true failure rate of {true_rate}: promote {:.1} %, abort {:.1} %, inconclusive {:.1} %; {:.1} items on average",
                    promote * 100.0,
                    abort * 100.0,
                    inconclusive * 100.0,
                    sim.mean_items
                );
            }
            exit::OK
        }
    }
}
