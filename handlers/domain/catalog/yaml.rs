//! YAML text to a JSON value plus the line and column of every node, so that every problem found
//! later (by serde or by the catalog checks) can be reported as `path:line:col`.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// A 1-based line and column in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A problem located in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub pos: Pos,
    pub message: String,
}

/// A YAML document as JSON, with positions keyed by JSON pointer (`/jobs/classify/schedule`).
#[derive(Debug, Default)]
pub struct Document {
    pub value: Value,
    /// Where each node's value starts.
    pub values: HashMap<String, Pos>,
    /// Where each mapping key starts (for "unknown key" messages).
    pub keys: HashMap<String, Pos>,
}

impl Document {
    /// The best position for a pointer: the key if it has one, else the value, else the nearest
    /// ancestor that has either.
    pub fn pos_of(&self, pointer: &str) -> Pos {
        let mut p = pointer.to_string();
        loop {
            if let Some(pos) = self.keys.get(&p).or_else(|| self.values.get(&p)) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return Pos { line: 1, col: 1 },
            }
        }
    }
    /// The position of a node's value (falls back like [`Document::pos_of`]).
    pub fn value_pos(&self, pointer: &str) -> Pos {
        self.values.get(pointer).copied().unwrap_or_else(|| self.pos_of(pointer))
    }
}

/// Escapes one JSON pointer segment.
pub fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 1_000_000;

enum Frame {
    Seq { items: Vec<Value>, anchor: usize, path: String },
    Map { map: Map<String, Value>, key: Option<String>, anchor: usize, path: String },
}

fn pos(span: &Span) -> Pos {
    Pos { line: span.start.line(), col: span.start.col() + 1 }
}

/// Parses one YAML document. Returns every problem it can find (syntax errors stop the parse).
///
/// One leniency, as PyYAML (and so datacontract-cli) has it: a multi-line quoted string whose
/// continuation lines are not indented past its key (`key: "first\` then `\ second"` at the
/// key's column — what generated exports write; YAML 1.2 §6.3 wants one more space) is read as if
/// they were.
pub fn parse(text: &str) -> Result<Document, Vec<Located>> {
    let mut text = std::borrow::Cow::Borrowed(text);
    for _ in 0..256 {
        match parse_strict(&text) {
            Err(errs) if errs.len() == 1 && errs[0].message.ends_with("invalid indentation in quoted scalar") => {
                match reindent_quoted(&text, errs[0].pos) {
                    Some(fixed) => text = std::borrow::Cow::Owned(fixed),
                    None => return Err(errs),
                }
            }
            other => return other,
        }
    }
    parse_strict(&text)
}

/// Indents the continuation lines of the quoted scalar that starts at `at` one column past its
/// key; `None` if there is nothing to indent (the error has another cause).
fn reindent_quoted(text: &str, at: Pos) -> Option<String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let first = lines.get(at.line.checked_sub(1)?)?.clone();
    let start = first.char_indices().nth(at.col.checked_sub(1)?).map(|(i, _)| i)?;
    let quote = first[start..].chars().next().filter(|c| *c == '"' || *c == '\'')?;
    // The key's column: past the indentation and any `- ` of block sequences.
    let mut key_col = 0;
    let mut rest = first.as_str();
    loop {
        let trimmed = rest.trim_start_matches(' ');
        key_col += rest.len() - trimmed.len();
        match trimmed.strip_prefix("- ") {
            Some(after) => {
                key_col += 2;
                rest = after;
            }
            None => break,
        }
    }
    let needed = key_col + 1;
    // Find the closing quote, line by line.
    let mut changed = false;
    let mut escaped = false;
    let mut line = at.line - 1;
    let mut chars: Vec<char> = first[start + quote.len_utf8()..].chars().collect();
    loop {
        let mut i = 0;
        let mut closed = false;
        while i < chars.len() {
            let c = chars[i];
            if quote == '"' && escaped {
                escaped = false;
            } else if quote == '"' && c == '\\' {
                escaped = true;
            } else if c == quote {
                if quote == '\'' && chars.get(i + 1) == Some(&'\'') {
                    i += 1;
                } else {
                    closed = true;
                    break;
                }
            }
            i += 1;
        }
        if closed {
            break;
        }
        line += 1;
        let next = lines.get_mut(line)?;
        let indent = next.len() - next.trim_start_matches(' ').len();
        if indent < needed && !next.trim().is_empty() {
            next.insert_str(0, &" ".repeat(needed - indent));
            changed = true;
        }
        chars = next.chars().collect();
    }
    changed.then(|| lines.concat())
}

fn parse_strict(text: &str) -> Result<Document, Vec<Located>> {
    let mut doc = Document::default();
    let mut errors = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut nodes = 0usize;
    let mut documents = 0usize;

    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                errors.push(Located { pos: Pos { line: m.line(), col: m.col() + 1 }, message: format!("YAML syntax error: {}", e.info()) });
                return Err(errors);
            }
        };
        let here = pos(&span);
        // The path of the node this event starts, if it starts one.
        let child_path = |stack: &[Frame]| -> Option<String> {
            match stack.last() {
                None => Some(String::new()),
                Some(Frame::Seq { items, path, .. }) => Some(format!("{path}/{}", items.len())),
                Some(Frame::Map { key: Some(k), path, .. }) => Some(format!("{path}/{}", pointer_segment(k))),
                Some(Frame::Map { key: None, .. }) => None,
            }
        };
        let value = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    errors.push(Located { pos: here, message: "a catalog is one YAML document; remove the second `---`".into() });
                    return Err(errors);
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    errors.push(Located { pos: here, message: format!("nesting deeper than {MAX_DEPTH} levels") });
                    return Err(errors);
                }
                let Some(path) = child_path(&stack) else {
                    errors.push(Located { pos: here, message: "a mapping key must be a plain string, not a list or mapping".into() });
                    return Err(errors);
                };
                doc.values.insert(path.clone(), here);
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq { items: Vec::new(), anchor, path }
                } else {
                    Frame::Map { map: Map::new(), key: None, anchor, path }
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor, .. }) => remember(&mut anchors, anchor, Value::Array(items)),
                _ => continue,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map { map, anchor, .. }) => remember(&mut anchors, anchor, Value::Object(map)),
                _ => continue,
            },
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => {
                    nodes += count_nodes(v);
                    v.clone()
                }
                None => {
                    errors.push(Located { pos: here, message: "alias refers to an unknown anchor".into() });
                    return Err(errors);
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                let is_key = matches!(stack.last(), Some(Frame::Map { key: None, .. }));
                if is_key {
                    let Some(Frame::Map { map, key, path, .. }) = stack.last_mut() else { unreachable!() };
                    let k = text.to_string();
                    let kp = format!("{path}/{}", pointer_segment(&k));
                    if map.contains_key(&k) {
                        errors.push(Located {
                            pos: here,
                            message: format!("duplicate key `{k}` (first at line {})", doc.keys.get(&kp).map_or(0, |p| p.line)),
                        });
                    } else {
                        doc.keys.insert(kp, here);
                    }
                    *key = Some(k);
                    continue;
                }
                let Some(path) = child_path(&stack) else {
                    continue;
                };
                doc.values.insert(path, here);
                let tagged_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let v = if style == ScalarStyle::Plain && !tagged_str { resolve_plain(&text) } else { Value::String(text.to_string()) };
                remember(&mut anchors, anchor, v)
            }
        };
        nodes += 1;
        if nodes > MAX_NODES {
            errors.push(Located { pos: here, message: format!("the document expands to more than {MAX_NODES} nodes (alias bomb?)") });
            return Err(errors);
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => {
                if let Some(k) = key.take() {
                    map.entry(k).or_insert(value);
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    doc.value = root.unwrap_or(Value::Null);
    Ok(doc)
}

fn remember(anchors: &mut HashMap<usize, Value>, anchor: usize, v: Value) -> Value {
    if anchor != 0 {
        anchors.insert(anchor, v.clone());
    }
    v
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Value::Number(i.into());
        }
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Number(i.into());
        }
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Number(i.into());
        }
    }
    let looks_float = body.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_float {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_positions_of_keys_and_values() {
        let d = parse("a: 1\nb:\n  c: [x, y]\n  d: \"7\"\n").unwrap();
        assert_eq!(d.value, serde_json::json!({"a": 1, "b": {"c": ["x", "y"], "d": "7"}}));
        assert_eq!(d.keys["/b/c"], Pos { line: 3, col: 3 });
        assert_eq!(d.values["/b/c/1"], Pos { line: 3, col: 10 });
        assert_eq!(d.pos_of("/b/c/1/zz"), Pos { line: 3, col: 10 });
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let d = parse("[~, true, 'true', 12, -3, 1.5, 0x1F, 2h, 1e3, .5, 08]").unwrap();
        assert_eq!(d.value, serde_json::json!([null, true, "true", 12, -3, 1.5, 31, "2h", 1000.0, 0.5, 8]));
    }

    #[test]
    fn reports_duplicates_syntax_and_bombs() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e[0].pos, Pos { line: 2, col: 1 });
        assert!(e[0].message.contains("duplicate key `a`"));
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(e[0].message.starts_with("YAML syntax error"));
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        assert!(parse(bomb).unwrap_err()[0].message.contains("alias bomb"));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep).is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn quoted_continuations_at_the_keys_column_are_read_as_pyyaml_reads_them() {
        // As datacontract-cli's own fixtures have it (tests/fixtures/odcs_v3/adventureworks).
        let text = "schema:\n  - name: t\n    properties:\n      - name: n\n        description: \"Unique national identification number such as a social security\\\n        \\ number.\"\n        required: false\n";
        let doc = parse(text).unwrap();
        let d = &doc.value["schema"][0]["properties"][0];
        assert_eq!(d["description"], "Unique national identification number such as a social security number.");
        assert_eq!(d["required"], false);
        assert_eq!(doc.pos_of("/schema/0/properties/0/required").line, 7, "lines keep their numbers");
        // Single quotes with a doubled quote, a continuation at column 0, a PEM-like value.
        let text = "a:\n  b: 'it''s\nsplit'\n  c: \"-----BEGIN-----\nqwerty\n-----END-----\"\n";
        let doc = parse(text).unwrap();
        assert_eq!(doc.value["a"]["b"], "it's split");
        assert_eq!(doc.value["a"]["c"], "-----BEGIN----- qwerty -----END-----");
        // What is broken for another reason stays an error.
        assert!(parse("a: \"never closed\n").is_err());
    }

    #[test]
    fn empty_and_garbage_do_not_panic() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        let _ = parse("\u{0}\u{1}\u{2}: : : [");
        let _ = parse("? [a]\n: b\n");
        let _ = parse("*unknown");
    }
}
