//! Durations: any text parses or is refused; a parsed duration, written back as flowgate writes
//! durations, parses to the same value.
#![no_main]

use flowgate::domain::duration::{format_duration, parse_duration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(d) = parse_duration(text) {
        let written = format_duration(d);
        assert_eq!(parse_duration(&written).ok(), Some(d), "`{text}` → {d:?} → `{written}` does not read back");
    }
});
