//! The catalog reader and validator: any text loads or is refused with problems that point inside
//! the text, the same way twice.
#![no_main]

use std::path::Path;

use flowgate::domain::catalog::check::{load, Environment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let exists = |_: &Path| true;
    let setting = |k: &str| (k == "SCORING_URL").then(|| "http://127.0.0.1:9/score".to_string());
    let env = Environment { base_dir: Path::new("."), file_exists: &exists, setting: &setting };
    let first = load(text, &env);
    let again = load(text, &env);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{:?}", a.catalog), format!("{:?}", b.catalog), "loading is deterministic"),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "the same problems each time");
            assert!(!a.is_empty(), "a refusal names at least one problem");
            // Lines as YAML counts them: a lone CR breaks a line too (as most editors show it).
            let lines = text.replace("\r\n", "\n").replace('\r', "\n").lines().count().max(1) + 1;
            for p in a {
                assert!(p.pos.line <= lines, "problem `{}` at line {} of a {}-line text", p.message, p.pos.line, lines - 1);
                assert!(!p.message.is_empty());
            }
        }
        _ => panic!("loading the same text twice gave different verdicts"),
    }
});
