//! The evaluator's unit tests.

use super::*;
use crate::domain::contract::model::parse;

const CONTRACT: &str = include_str!("../../../../examples/claims/contracts/claims_correspondence.odcs.yaml");

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T10:30:00Z").unwrap().with_timezone(&Utc)
}

fn check(data: &[u8]) -> Result<ContractReport, Unusable> {
    let (c, _) = parse(CONTRACT).unwrap();
    evaluate(&c, data, &EvalOptions::new(Format::Csv, now()))
}

fn rule<'a>(r: &'a ContractReport, target: &str, rule: &str) -> &'a RuleResult {
    r.rules.iter().find(|x| x.target.ends_with(target) && x.rule == rule).unwrap_or_else(|| panic!("no {rule} on {target}: {:#?}", r.rules))
}

const HEADER: &str = "claim_id,received_at,channel,body,policyholder_email\n";

#[test]
fn a_time_of_day_is_type_checked_in_csv_and_json() {
    let text = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nschema:\n  - name: shifts\n    properties:\n      - name: starts\n        logicalType: time\n";
    let (c, _) = parse(text).unwrap();
    let csv = b"starts\n08:30:00\n23:59:59.250\n24:00:00\n8:30\nnoon\n";
    let r = evaluate(&c, &csv[..], &EvalOptions::new(Format::Csv, now())).unwrap();
    let t = rule(&r, ".starts", "type");
    assert_eq!((t.observed, t.passed), (3.0, false), "{t:#?}");
    let jsonl = b"{\"starts\":\"08:30:00\"}\n{\"starts\":\"07:00:00.5\"}\n";
    assert!(evaluate(&c, &jsonl[..], &EvalOptions::new(Format::Jsonl, now())).unwrap().passed);
}

#[test]
fn good_data_passes_every_rule() {
    let data = format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\nC2,2026-11-27T09:59:00Z,portal,crash,c@d.example\n");
    let r = check(data.as_bytes()).unwrap();
    assert!(r.passed, "{:#?}", r.failed().collect::<Vec<_>>());
    assert_eq!(r.rows, 2);
    assert_eq!(rule(&r, "claims_correspondence", "rowCount").observed, 2.0);
    assert_eq!(rule(&r, ".received_at", "freshness").observed, 1800.0);
}

#[test]
fn bad_data_fails_the_right_rules_with_rows_and_no_values() {
    let data = format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\nC1,2026-11-27T10:00:00Z,fax,,\nC3,yesterday,email,x,\n");
    let r = check(data.as_bytes()).unwrap();
    assert!(!r.passed);
    let failed: Vec<String> = r.failed().map(|x| format!("{} {}", x.target, x.rule)).collect();
    assert_eq!(
        failed,
        vec![
            "claims_correspondence.claim_id unique",
            "claims_correspondence.received_at type",
            "claims_correspondence.channel invalidValues",
            "claims_correspondence.body nullValues",
            "claims_correspondence.policyholder_email nullValues",
        ]
    );
    assert_eq!(rule(&r, ".claim_id", "unique").failing_rows, vec![2]);
    assert_eq!(rule(&r, ".channel", "invalidValues").failing_rows, vec![2]);
    let pct = rule(&r, ".policyholder_email", "nullValues");
    assert!((pct.observed - 66.666).abs() < 0.01, "{pct:?}");
    assert_eq!(pct.threshold, "<= 5%");
    let text = serde_json::to_string(&r).unwrap();
    for value in ["a@b.example", "hello", "fax", "yesterday"] {
        assert!(!text.contains(value), "a cell value leaked into the evidence: {value}");
    }
}

#[test]
fn stale_data_fails_freshness() {
    let data = format!("{HEADER}C1,2026-11-26T10:00:00Z,email,hello,a@b.example\n");
    let r = check(data.as_bytes()).unwrap();
    let f = rule(&r, ".received_at", "freshness");
    assert!(!f.passed);
    assert_eq!(f.observed, 88_200.0);
}

#[test]
fn missing_columns_and_empty_files() {
    let r = check(b"claim_id,received_at\nC1,2026-11-27T10:00:00Z\n").unwrap();
    assert!(!rule(&r, ".channel", "present").passed);
    let r = check(HEADER.as_bytes()).unwrap();
    assert!(!rule(&r, "claims_correspondence", "rowCount").passed, "a header-only file has no rows");
    assert!(check(b"").unwrap_err().0.contains("empty"));
}

#[test]
fn unusable_inputs_are_named_not_panicked_on() {
    let ragged = format!("{HEADER}C1,2026-11-27T10:00:00Z,email\n");
    assert!(check(ragged.as_bytes()).unwrap_err().0.contains("row 1 has 3 field(s) but the header has 5"));
    let mut binary = HEADER.as_bytes().to_vec();
    binary.extend_from_slice(b"C1,\0\x01\x02,x,y,z\n");
    assert!(check(&binary).unwrap_err().0.contains("binary"));
    let bad_utf8 = [HEADER.as_bytes(), b"C1,2026-11-27T10:00:00Z,email,\xff\xfe,x\n"].concat();
    assert!(check(&bad_utf8).unwrap_err().0.contains("not valid UTF-8"));
    let (c, _) = parse(CONTRACT).unwrap();
    let mut opts = EvalOptions::new(Format::Csv, now());
    opts.max_line_bytes = 1024;
    let long = format!("{HEADER}{}\n", "x".repeat(5000));
    assert!(evaluate(&c, long.as_bytes(), &opts).unwrap_err().0.contains("longer than"));
    opts.gzip = true;
    assert!(evaluate(&c, &b"\x1f\x8b\x08\x00garbage"[..], &opts).is_err());
}

#[test]
fn two_halves_give_exactly_the_one_pass_result() {
    let (c, _) = parse(CONTRACT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.csv");
    let mut data = String::from(HEADER);
    for i in 0..2000 {
        // Duplicates across the halves, quoted fields with commas and line breaks, nulls.
        let id = if i % 397 == 0 { 7 } else { i };
        let body = if i % 5 == 0 {
            "\"a, \"\"quoted\"\"\nbody\"".to_string()
        } else if i % 11 == 0 {
            String::new()
        } else {
            "plain".into()
        };
        let channel = if i % 13 == 0 { "fax" } else { "email" };
        data.push_str(&format!("C{id},2026-11-27T10:{:02}:00Z,{channel},{body},{}\n", i % 60, if i % 3 == 0 { "" } else { "x@y" }));
    }
    std::fs::write(&path, &data).unwrap();
    let mut opts = EvalOptions::new(Format::Csv, now());
    let one = evaluate(&c, data.as_bytes(), &opts).unwrap();
    opts.parallel_from_bytes = 1024;
    let two = evaluate_file(&c, &path, &opts).unwrap();
    assert_eq!(one, two);
    assert!(!one.passed);
    assert_eq!(rule(&one, ".claim_id", "unique").failing_rows, vec![8, 398, 795, 1192, 1589, 1986]);
    // A ragged row in the second half is reported exactly as in one pass.
    std::fs::write(&path, format!("{data}C1,2026-11-27T10:00:00Z\n")).unwrap();
    let err = evaluate_file(&c, &path, &opts).unwrap_err();
    assert!(err.0.contains("row 2001 has 2 field(s)"), "{err}");
}

#[test]
fn a_middle_inside_a_quoted_field_falls_back_to_one_pass() {
    let (c, _) = parse(CONTRACT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.csv");
    // One record whose quoted body spans the middle of the file with many line breaks, so
    // the first line break past the middle is inside quotes.
    let body = format!("\"{}\"", "line, with comma\n".repeat(400));
    let data = format!(
        "{HEADER}C1,2026-11-27T10:00:00Z,email,plain,a@b\nC2,2026-11-27T10:00:00Z,email,{body},a@b\nC1,2026-11-27T10:00:00Z,fax,plain,\n"
    );
    std::fs::write(&path, &data).unwrap();
    let mut opts = EvalOptions::new(Format::Csv, now());
    let one = evaluate(&c, data.as_bytes(), &opts).unwrap();
    opts.parallel_from_bytes = 64;
    assert_eq!(evaluate_file(&c, &path, &opts).unwrap(), one);
    assert_eq!(one.rows, 3);
    assert_eq!(rule(&one, ".claim_id", "unique").failing_rows, vec![3]);
}

#[test]
fn gzip_and_json_lines() {
    use std::io::Write;
    let data = format!("{HEADER}C1,2026-11-27T10:00:00Z,email,hello,a@b.example\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let (c, _) = parse(CONTRACT).unwrap();
    let mut opts = EvalOptions::new(Format::Csv, now());
    opts.gzip = true;
    assert!(evaluate(&c, &bytes[..], &opts).unwrap().passed);
    let truncated = &bytes[..bytes.len() - 6];
    assert!(evaluate(&c, truncated, &opts).is_err());
    let jsonl = b"{\"claim_id\":\"C1\",\"received_at\":\"2026-11-27T10:00:00Z\",\"channel\":\"email\",\"body\":\"x\",\"policyholder_email\":null}\n{\"claim_id\":2,\"received_at\":\"2026-11-27T10:00:00Z\",\"channel\":\"email\",\"body\":\"y\",\"policyholder_email\":\"p@q.example\"}\n";
    let r = evaluate(&c, &jsonl[..], &EvalOptions::new(Format::Jsonl, now())).unwrap();
    assert_eq!(rule(&r, ".claim_id", "type").failing_rows, vec![2], "a number where a string is declared");
    assert!(evaluate(&c, &b"{\"claim_id\": \"C1\""[..], &EvalOptions::new(Format::Jsonl, now())).unwrap_err().0.contains("cut off"));
    assert!(evaluate(&c, &b"[1,2]\n"[..], &EvalOptions::new(Format::Jsonl, now())).unwrap_err().0.contains("not a JSON object"));
}

const EVERY_TYPE: &str = "apiVersion: v3.1.0\nkind: DataContract\nid: t\nversion: 1.0.0\nschema:\n  - name: events\n    properties:
      - name: region
        primaryKey: true
        primaryKeyPosition: 1
      - name: seq
        physicalName: SEQ_NO
        logicalType: integer
        primaryKey: true
        primaryKeyPosition: 2
        logicalTypeOptions: {format: u8}
      - name: day
        logicalType: date
        logicalTypeOptions: {format: dd.MM.yyyy, minimum: 01.01.2026, exclusiveMaximum: 01.01.2027}
      - name: at
        logicalType: timestamp
        logicalTypeOptions: {timezone: true, minimum: '2026-01-01T00:00:00Z'}
      - name: opens
        logicalType: time
        logicalTypeOptions: {maximum: '12:00:00'}
      - name: tags
        logicalType: array
        logicalTypeOptions: {minItems: 1, maxItems: 2, uniqueItems: true}
      - name: meta
        logicalType: object
        logicalTypeOptions: {required: [source], maxProperties: 2}
";

#[test]
fn options_on_every_type_and_a_composite_key_in_csv_and_json_lines() {
    let (c, findings) = parse(EVERY_TYPE).unwrap();
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(c.tables[0].composite_key, vec!["region".to_string(), "SEQ_NO".to_string()]);
    let csv = concat!(
        "region,SEQ_NO,day,at,opens,tags,meta\n",
        "eu,1,15.03.2026,2026-03-15T08:00:00Z,08:00:00,\"[\"\"a\"\"]\",\"{\"\"source\"\":\"\"x\"\"}\"\n",
        "us,1,15.03.2025,2026-03-15 08:00:00,13:00:00,\"[\"\"a\"\",\"\"a\"\"]\",\"{\"\"other\"\":1}\"\n",
        "eu,1,01.01.2027,2025-03-15T08:00:00Z,09:00:00,\"[]\",\"{\"\"source\"\":1,\"\"a\"\":2,\"\"b\"\":3}\"\n",
        "eu,300,2026-03-15,2026-03-15T08:00:00Z,09:00:00,not json,[1]\n",
    );
    let jsonl = concat!(
        "{\"region\":\"eu\",\"SEQ_NO\":1,\"day\":\"15.03.2026\",\"at\":\"2026-03-15T08:00:00Z\",\"opens\":\"08:00:00\",\"tags\":[\"a\"],\"meta\":{\"source\":\"x\"}}\n",
        "{\"region\":\"us\",\"SEQ_NO\":1,\"day\":\"15.03.2025\",\"at\":\"2026-03-15 08:00:00\",\"opens\":\"13:00:00\",\"tags\":[\"a\",\"a\"],\"meta\":{\"other\":1}}\n",
        "{\"region\":\"eu\",\"SEQ_NO\":1,\"day\":\"01.01.2027\",\"at\":\"2025-03-15T08:00:00Z\",\"opens\":\"09:00:00\",\"tags\":[],\"meta\":{\"source\":1,\"a\":2,\"b\":3}}\n",
        "{\"region\":\"eu\",\"SEQ_NO\":300,\"day\":\"2026-03-15\",\"at\":\"2026-03-15T08:00:00Z\",\"opens\":\"09:00:00\",\"tags\":\"not json\",\"meta\":[1]}\n",
    );
    for (format, data) in [(Format::Csv, csv), (Format::Jsonl, jsonl)] {
        let r = evaluate(&c, data.as_bytes(), &EvalOptions::new(format, now())).unwrap();
        let got = |target: &str, name: &str| {
            let x = rule(&r, target, name);
            (x.observed as u64, x.failing_rows.clone())
        };
        assert_eq!(got("events", "primaryKey"), (1, vec![3]), "{format:?}: (eu, 1) repeats in row 3");
        assert!(r.rules.iter().all(|x| !(x.target.ends_with(".region") && x.rule == "unique")), "members are not unique alone");
        assert_eq!(got(".seq", "format"), (1, vec![4]), "{format:?}: 300 does not fit u8");
        assert_eq!(got(".day", "type"), (1, vec![4]), "{format:?}: not dd.MM.yyyy");
        assert_eq!(got(".day", "minimum"), (1, vec![2]), "{format:?}");
        assert_eq!(got(".day", "notEqual"), (1, vec![3]), "{format:?}: the exclusive bound itself");
        assert_eq!(got(".at", "timezone"), (1, vec![2]), "{format:?}: no offset");
        assert_eq!(got(".at", "minimum"), (1, vec![3]), "{format:?}");
        assert_eq!(got(".opens", "maximum"), (1, vec![2]), "{format:?}");
        assert_eq!(got(".tags", "type"), (1, vec![4]), "{format:?}");
        assert_eq!(got(".tags", "uniqueItems"), (1, vec![2]), "{format:?}");
        assert_eq!(got(".tags", "maxItems"), (0, vec![]), "{format:?}");
        assert_eq!(got(".tags", "minItems"), (1, vec![3]), "{format:?}");
        assert_eq!(got(".meta", "type"), (1, vec![4]), "{format:?}");
        assert_eq!(got(".meta", "requiredKeys"), (1, vec![2]), "{format:?}");
        assert_eq!(got(".meta", "maxProperties"), (1, vec![3]), "{format:?}");
    }
}

#[test]
fn an_optional_key_absent_from_every_json_line_is_not_missing() {
    let (c, _) = parse(EVERY_TYPE).unwrap();
    let r = evaluate(&c, &b"{\"region\":\"eu\",\"SEQ_NO\":1}\n"[..], &EvalOptions::new(Format::Jsonl, now())).unwrap();
    assert!(rule(&r, ".tags", "present").passed, "optional: reads as null");
    let r = evaluate(&c, &b"{\"region\":\"eu\"}\n"[..], &EvalOptions::new(Format::Jsonl, now())).unwrap();
    assert!(!rule(&r, ".seq", "present").passed, "a primary key column must be there");
}
