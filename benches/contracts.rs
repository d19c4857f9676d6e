//! Contract check benchmark (run: `cargo bench --bench contracts`): on a generated 200 MB CSV
//! (about 1.1 million rows) and the example contract, the whole-process wall time and peak memory
//! of `flowgate contract check` and, side by side in the same run, of `datacontract test`
//! (datacontract-cli, from FLOWGATE_DATACONTRACT; `scripts/test` installs it). Prints the ratios.
//! Targets: at least 20 times faster and at most a tenth of datacontract-cli's memory.

use std::io::Write;
use std::path::Path;
use std::process::Command;
#[path = "common/process.rs"]
mod process;
use process::measure;

const TARGET_BYTES: u64 = 200 * 1024 * 1024;

fn generate(path: &Path) -> u64 {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let now = chrono::Utc::now();
    let bodies = [
        "I had an accident on the A40 and the car has damage to the rear bumper, photos attached for the assessor",
        "Please explain the extra charge on my latest invoice, I was told the premium would not change this year",
        "This is unacceptable, I have waited six weeks for a decision and I want to escalate to the ombudsman",
        "Please update my correspondence address to the new flat, the old one is no longer in use from next month",
    ];
    let channels = ["email", "letter", "portal"];
    writeln!(f, "claim_id,received_at,channel,body,policyholder_email").unwrap();
    let (mut written, mut rows) = (0u64, 0u64);
    while written < TARGET_BYTES {
        let t = (now - chrono::Duration::seconds((rows % 3000) as i64)).format("%Y-%m-%dT%H:%M:%SZ");
        let line = format!(
            "CLM-{rows:09},{t},{},\"{}\",policyholder{rows}@example.com\n",
            channels[(rows % 3) as usize],
            bodies[(rows % 4) as usize]
        );
        f.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        rows += 1;
    }
    f.flush().unwrap();
    rows
}

/// The median of three runs (by wall time), so one noisy run does not decide the ratio.
fn median_of_3(make: impl Fn() -> Command) -> (f64, f64, i32) {
    let mut runs: Vec<_> = (0..3).map(|_| measure(make())).collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs[1]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("examples/claims/contracts/claims_correspondence.odcs.yaml"), dir.path().join("contract.yaml")).unwrap();
    let data = dir.path().join("claims_correspondence.csv");
    let rows = generate(&data);
    let size_mb = std::fs::metadata(&data).unwrap().len() as f64 / (1024.0 * 1024.0);

    let (ours_s, ours_mb, ours_code) = median_of_3(|| {
        let mut ours = Command::new(env!("CARGO_BIN_EXE_flowgate"));
        ours.args(["contract", "check", "--contract", "contract.yaml", "--data", "claims_correspondence.csv"]).current_dir(dir.path());
        ours
    });
    println!("contract benchmark: {size_mb:.0} MB CSV, {rows} rows, the example contract (13 rules); median of 3 runs each");
    println!("  flowgate contract check: {ours_s:.2} s, peak {ours_mb:.0} MB (exit {ours_code})");
    assert_eq!(ours_code, 0, "the generated data meets the contract");

    match std::env::var("FLOWGATE_DATACONTRACT") {
        Err(_) => println!("  datacontract test: not measured (set FLOWGATE_DATACONTRACT to datacontract-cli)"),
        Ok(tool) => {
            let (s, mb, code) = median_of_3(|| {
                let mut theirs = Command::new(&tool);
                theirs.args(["test", "contract.yaml"]).current_dir(dir.path());
                theirs
            });
            println!("  datacontract test:       {s:.2} s, peak {mb:.0} MB (exit {code})");
            println!("  ratios: {:.1}x faster (target >= 20x), {:.1}% of the memory (target <= 10%)", s / ours_s, ours_mb * 100.0 / mb);
        }
    }
}
