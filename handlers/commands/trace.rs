//! `flowgate trace (--run RUN_KEY | --output PATH | --job JOB) --state DIR|azure [--json]`: an output traced
//! back to its sources (the run, its release, job and endpoint, its input arrivals with their
//! contract verdicts, upstream runs). Exit 0 traced, 2 when no kept record names the run or file.

use std::path::Path;

use serde_json::Value;

use super::exit;
use crate::flows::trace::{trace, Start};

pub async fn run(state: &Path, run_key: Option<&str>, output: Option<&str>, job: Option<&str>, json_out: bool) -> u8 {
    let start = match (run_key, output, job) {
        (Some(k), None, None) => match crate::domain::ids::RunKey::parse(k) {
            Some(key) => Start::Run(key),
            None => {
                eprintln!("error: --run `{k}` is not a run key (JOB@RFC3339, as `flowgate runs` shows it)");
                return exit::BAD_INPUT;
            }
        },
        (None, Some(o), None) if !o.trim().is_empty() => Start::Output(o.to_string()),
        (None, None, Some(j)) if !j.trim().is_empty() => Start::Job(j.trim().to_string()),
        _ => {
            eprintln!("error: give exactly one of --run RUN_KEY, --output PATH and --job JOB");
            return exit::BAD_INPUT;
        }
    };
    let st = match super::state::open(state) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let deps = match super::release::deps(&st) {
        Ok(d) => d,
        Err(c) => return c,
    };
    match trace(st.store.as_ref(), &deps, start).await {
        Ok(Some(v)) => {
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print_node(&v, 0);
            }
            exit::OK
        }
        Ok(None) => {
            eprintln!(
                "error: no run record names {} (a typo, or removed by retention: `flowgate audit export` still has its events)",
                run_key.or(output).map_or_else(|| format!("a finished run of job `{}`", job.unwrap_or_default()), str::to_string)
            );
            exit::BAD_INPUT
        }
        Err(e) => {
            eprintln!("error: reading the state: {e}");
            exit::FAILED
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_node(v: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    println!(
        "{pad}run {}: {} after {} attempt(s), {} → {}",
        s(&v["run"]),
        s(&v["status"]),
        s(&v["attempts"]),
        s(&v["started_at"]),
        s(&v["finished_at"])
    );
    if !v["output"].is_null() {
        println!("{pad}  wrote   {} ({} record(s) in, {} out)", s(&v["output"]), s(&v["records"]["in"]), s(&v["records"]["out"]));
    }
    if !v["reason"].is_null() {
        println!("{pad}  reason  {}", s(&v["reason"]));
    }
    match v["release"]["missing"].as_str() {
        Some(m) => println!("{pad}  release {} ({m})", s(&v["release"]["id"])),
        None => println!("{pad}  release {}", s(&v["release"]["id"])),
    }
    match v["job"]["missing"].as_str() {
        Some(m) => println!("{pad}  job     ({m})"),
        None if !v["job"].is_null() => {
            println!("{pad}  job     {} at {} deployment {}", s(&v["job"]["kind"]), s(&v["job"]["endpoint"]), s(&v["job"]["deployment"]))
        }
        None => {}
    }
    for i in v["inputs"].as_array().into_iter().flatten() {
        let c = &i["contract"];
        let verdict = match c["missing"].as_str() {
            Some(m) => format!("contract: {m}"),
            None => format!(
                "contract {} {} ({} row(s), {} rule(s) failed)",
                s(&c["contract"]),
                if c["passed"] == true { "passed" } else { "FAILED" },
                s(&c["rows"]),
                c["failed_rules"].as_array().map_or(0, Vec::len)
            ),
        };
        println!(
            "{pad}  input   {} {} arrived {} schema {}; {verdict}",
            s(&i["dataset"]),
            s(&i["path"]),
            s(&i["arrived_at"]),
            s(&i["schema_version"])
        );
        if let Some(f) = i["freshness_at_gate"].as_object() {
            println!("{pad}          freshness at the gate: {}", s(f.get("detail").unwrap_or(&Value::Null)));
        }
    }
    for u in v["upstream"].as_array().into_iter().flatten() {
        match u["missing"].as_str() {
            Some(m) => println!("{pad}  upstream {}: {m}", s(&u["job"])),
            None => {
                println!("{pad}  upstream:");
                print_node(u, depth + 2);
            }
        }
    }
}
