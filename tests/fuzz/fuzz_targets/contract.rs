//! The ODCS contract reader: any text parses or is refused with findings inside the text; a
//! contract that parses can check an empty file of either format without panicking.
#![no_main]

use flowgate::domain::contract::eval::{evaluate, EvalOptions, Format};
use flowgate::domain::contract::model::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Lines as YAML counts them: a lone CR breaks a line too (as most editors show it).
    let lines = text.replace("\r\n", "\n").replace('\r', "\n").lines().count() + 2;
    match parse(text) {
        Ok((contract, findings)) => {
            for f in &findings {
                assert!(f.pos.line <= lines, "finding at line {} of a {}-line text", f.pos.line, lines - 2);
            }
            let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
            for format in [Format::Csv, Format::Jsonl] {
                let mut opts = EvalOptions::new(format, now);
                opts.table = contract.tables.first().map(|t| t.name.clone());
                let _ = evaluate(&contract, std::io::empty(), &opts);
            }
        }
        Err(findings) => {
            assert!(!findings.is_empty(), "a refusal names at least one finding");
            for f in &findings {
                assert!(f.pos.line <= lines, "finding at line {} of a {}-line text", f.pos.line, lines - 2);
            }
        }
    }
});
