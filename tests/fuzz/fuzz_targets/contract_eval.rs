//! The CSV and JSON Lines contract evaluator on fuzzed data against real contracts: one pass and
//! two threads (the file split in halves) give the same report, and so does the data gzipped.
#![no_main]

use std::io::Write;

use flowgate::domain::contract::eval::{evaluate, evaluate_file, EvalOptions, Format};
use flowgate::domain::contract::model::{parse, Contract};
use libfuzzer_sys::fuzz_target;

fn contracts() -> &'static [(Contract, Format)] {
    static C: std::sync::OnceLock<Vec<(Contract, Format)>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let read = |t: &str| parse(t).expect("a fixture contract parses").0;
        vec![
            (read(include_str!("../../fixtures/contracts/orders-csv.odcs.yaml")), Format::Csv),
            (read(include_str!("../../fixtures/contracts/payments-csv.odcs.yaml")), Format::Csv),
            (read(include_str!("../../fixtures/contracts/orders-jsonl.odcs.yaml")), Format::Jsonl),
            (read(include_str!("../../fixtures/contracts/payments-jsonl.odcs.yaml")), Format::Jsonl),
        ]
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&pick, data)) = input.split_first() else { return };
    let list = contracts();
    let (contract, format) = &list[usize::from(pick) % list.len()];
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
    let mut opts = EvalOptions::new(*format, now);
    opts.table = contract.tables.first().map(|t| t.name.clone());
    opts.max_line_bytes = 4096;
    let one = evaluate(contract, data, &opts);

    // Two threads: any file of at least one byte is split (the threshold is one byte).
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(data).unwrap();
    let mut split = opts.clone();
    split.parallel_from_bytes = 1;
    let two = evaluate_file(contract, file.path(), &split);
    assert_eq!(format!("{one:?}"), format!("{two:?}"), "one pass and two threads disagree");

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    let mut zipped = opts.clone();
    zipped.gzip = true;
    let unzipped = evaluate(contract, gz.finish().unwrap().as_slice(), &zipped);
    assert_eq!(format!("{one:?}"), format!("{unzipped:?}"), "the data gzipped gives another report");
});
