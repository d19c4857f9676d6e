//! Reading an ODCS v3 contract: the schema's properties with their implicit rules (type,
//! required, unique, primary key), the quality rules (`rowCount`, `nullValues`, `missingValues`,
//! `invalidValues`, `duplicateValues` with every operator and `unit: percent`), the `freshness`
//! SLA, the version producers must stamp, and which properties are personal data. Everything
//! else in the file is listed as a lint finding, never silently ignored.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::domain::catalog::yaml::{self, Document, Pos};
use crate::domain::duration::parse_duration;

/// A contract, as far as flowgate enforces it.
#[derive(Debug, Clone)]
pub struct Contract {
    pub id: String,
    pub name: String,
    /// The data schema version producers stamp on each blob (`schema_version`).
    pub version: String,
    pub tables: Vec<TableSpec>,
    pub freshness: Option<FreshnessSpec>,
}

/// One schema object (a table).
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub properties: Vec<Property>,
    pub quality: Vec<Rule>,
    /// A primary key of several properties (by `primaryKeyPosition`): unique as a tuple, not
    /// property by property. Its columns, in key order.
    pub composite_key: Vec<String>,
}

/// The logical types flowgate checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogicalType {
    String,
    Integer,
    Number,
    Boolean,
    Date,
    Timestamp,
    /// A time of day, `HH:MM:SS` with optional fractional seconds (ISO 8601 / SQL `TIME`).
    Time,
    /// A JSON object (in CSV, a cell holding one).
    Object,
    /// A JSON array (in CSV, a cell holding one).
    Array,
}

impl LogicalType {
    /// Its ODCS name.
    pub fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Timestamp => "timestamp",
            Self::Time => "time",
            Self::Object => "object",
            Self::Array => "array",
        }
    }
}

/// One property (column).
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    /// The column or key holding it in the data: `physicalName` when given, else `name` (as
    /// datacontract-cli reads files).
    pub column: String,
    pub logical_type: LogicalType,
    pub required: bool,
    pub unique: bool,
    pub primary_key: bool,
    /// Classified restricted or confidential, or tagged `pii`: its values never leave the evaluator.
    pub pii: bool,
    pub quality: Vec<Rule>,
    /// Its `logicalTypeOptions` that flowgate enforces.
    pub options: Vec<super::options::ValueOption>,
    /// How its dates, timestamps or times are read (`logicalTypeOptions` `format`, `defaultTimezone`).
    pub reading: super::temporal::Reading,
}

/// A quality metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    RowCount,
    NullValues,
    /// Null, or one of these values (default: null and the empty string).
    MissingValues(Vec<Value>),
    /// Not null and not one of `valid_values` / not matching `pattern`.
    InvalidValues {
        valid_values: Option<Vec<Value>>,
        pattern: Option<String>,
    },
    DuplicateValues,
    /// On a schema object: rows repeating the tuple of these columns (all columns when the rule
    /// names none, `arguments.properties`).
    DuplicateRows(Vec<String>),
}

/// A threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operator {
    MustBe(f64),
    MustNotBe(f64),
    MustBeGreaterThan(f64),
    MustBeGreaterOrEqualTo(f64),
    MustBeLessThan(f64),
    MustBeLessOrEqualTo(f64),
    MustBeBetween(f64, f64),
    MustNotBeBetween(f64, f64),
}

impl Operator {
    pub fn holds(self, v: f64) -> bool {
        match self {
            Self::MustBe(x) => v == x,
            Self::MustNotBe(x) => v != x,
            Self::MustBeGreaterThan(x) => v > x,
            Self::MustBeGreaterOrEqualTo(x) => v >= x,
            Self::MustBeLessThan(x) => v < x,
            Self::MustBeLessOrEqualTo(x) => v <= x,
            Self::MustBeBetween(a, b) => v >= a && v <= b,
            Self::MustNotBeBetween(a, b) => v < a || v > b,
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::MustBe(x) => format!("= {x}"),
            Self::MustNotBe(x) => format!("!= {x}"),
            Self::MustBeGreaterThan(x) => format!("> {x}"),
            Self::MustBeGreaterOrEqualTo(x) => format!(">= {x}"),
            Self::MustBeLessThan(x) => format!("< {x}"),
            Self::MustBeLessOrEqualTo(x) => format!("<= {x}"),
            Self::MustBeBetween(a, b) => format!("between {a} and {b}"),
            Self::MustNotBeBetween(a, b) => format!("not between {a} and {b}"),
        }
    }
}

/// A quality rule: a metric, a threshold, counted or in percent of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub metric: Metric,
    pub operator: Operator,
    pub percent: bool,
}

/// `slaProperties` freshness: the newest value of `table.column` must be at most `max_age` old.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshnessSpec {
    pub max_age: Duration,
    pub table: String,
    pub column: String,
}

/// Something in the contract flowgate does not enforce, or cannot read.
#[derive(Debug, Clone, PartialEq)]
pub struct LintFinding {
    pub pos: Pos,
    pub pointer: String,
    pub message: String,
    /// An error makes the contract unusable; a warning names a part that is not enforced.
    pub error: bool,
}

/// Parses a contract. `Err` holds the errors (and any warnings found before them).
pub fn parse(text: &str) -> Result<(Contract, Vec<LintFinding>), Vec<LintFinding>> {
    let doc = yaml::parse(text).map_err(|errs| {
        errs.into_iter().map(|l| LintFinding { pos: l.pos, pointer: String::new(), message: l.message, error: true }).collect::<Vec<_>>()
    })?;
    let mut p = Parser { doc: &doc, findings: Vec::new() };
    let contract = p.contract();
    p.findings.sort_by_key(|f| (f.pos.line, f.pos.col));
    if p.findings.iter().any(|f| f.error) {
        return Err(p.findings);
    }
    match contract {
        Some(c) => Ok((c, p.findings)),
        None => Err(p.findings),
    }
}

struct Parser<'a> {
    doc: &'a Document,
    findings: Vec<LintFinding>,
}

const CONTRACT_KEYS_INFO: &[&str] = &[
    "apiVersion",
    "kind",
    "id",
    "name",
    "version",
    "status",
    "domain",
    "dataProduct",
    "tenant",
    "description",
    "servers",
    "schema",
    "slaProperties",
    "team",
    "roles",
    "support",
    "price",
    "tags",
    "customProperties",
    "contractCreatedTs",
    "authoritativeDefinitions",
    "slaDefaultElement",
];
const TABLE_KEYS: &[&str] = &[
    "name",
    "physicalName",
    "physicalType",
    "logicalType",
    "description",
    "businessName",
    "dataGranularityDescription",
    "tags",
    "customProperties",
    "authoritativeDefinitions",
    "properties",
    "quality",
    "id",
    "relationships",
];
const PROPERTY_KEYS: &[&str] = &[
    "name",
    "physicalName",
    "physicalType",
    "logicalType",
    "description",
    "businessName",
    "required",
    "unique",
    "primaryKey",
    "primaryKeyPosition",
    "classification",
    "tags",
    "customProperties",
    "quality",
    "examples",
    "authoritativeDefinitions",
    "criticalDataElement",
    "encryptedName",
    "transformSourceObjects",
    "transformLogic",
    "transformDescription",
    "partitioned",
    "partitionKeyPosition",
    "logicalTypeOptions",
    "id",
    "relationships",
    "properties",
    "items",
];

impl Parser<'_> {
    fn error(&mut self, pointer: &str, message: impl Into<String>) {
        self.findings.push(LintFinding { pos: self.doc.pos_of(pointer), pointer: pointer.into(), message: message.into(), error: true });
    }
    fn warn(&mut self, pointer: &str, message: impl Into<String>) {
        self.findings.push(LintFinding { pos: self.doc.pos_of(pointer), pointer: pointer.into(), message: message.into(), error: false });
    }
    fn text(&mut self, v: &Map<String, Value>, key: &str, pointer: &str, required: bool) -> Option<String> {
        match v.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                self.error(&format!("{pointer}/{key}"), format!("`{key}` must be text"));
                None
            }
            None => {
                if required {
                    self.error(pointer, format!("`{key}` is missing"));
                }
                None
            }
        }
    }
    fn flag(&mut self, v: &Map<String, Value>, key: &str, pointer: &str) -> bool {
        match v.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.error(&format!("{pointer}/{key}"), format!("`{key}` must be true or false"));
                false
            }
        }
    }
    fn unknown_keys(&mut self, v: &Map<String, Value>, known: &[&str], pointer: &str) {
        for k in v.keys() {
            if !known.contains(&k.as_str()) {
                self.warn(&format!("{pointer}/{k}"), format!("`{k}` is not part of ODCS v3 as flowgate reads it; it is ignored"));
            }
        }
    }

    /// A property's keys the standard defines that describe structure flowgate does not check: said, each.
    fn unenforced_structure(&mut self, m: &Map<String, Value>, p: &str) {
        if m.contains_key("relationships") {
            self.warn(&format!("{p}/relationships"), "`relationships` (foreign keys) are not checked");
        }
        if m.get("logicalType").and_then(Value::as_str) == Some("object") && m.contains_key("properties") {
            self.warn(
                &format!("{p}/properties"),
                "the properties nested in an object are not checked (the object's own type and options are)",
            );
        }
        if m.contains_key("items") {
            self.warn(&format!("{p}/items"), "the items of an array are not checked (the array's own type and options are)");
        }
    }

    fn contract(&mut self) -> Option<Contract> {
        let Some(root) = self.doc.value.as_object() else {
            self.error("", "a contract is a YAML mapping (ODCS v3)");
            return None;
        };
        // Missing `apiVersion` and `kind` read as an ODCS v3 data contract, as datacontract-cli
        // reads them; present, they must say so.
        let api = self.text(root, "apiVersion", "", false);
        if let Some(a) = &api {
            if !a.starts_with("v3.") {
                self.error("/apiVersion", format!("apiVersion `{a}` is not ODCS v3 (v3.0.x, v3.1.x or v3.2.x)"));
            }
        }
        if let Some(k) = self.text(root, "kind", "", false) {
            if k != "DataContract" {
                self.error("/kind", format!("kind must be `DataContract`, not `{k}`"));
            }
        }
        let id = self.text(root, "id", "", true).unwrap_or_default();
        let name = self.text(root, "name", "", false).unwrap_or_else(|| id.clone());
        let version = self.text(root, "version", "", true).unwrap_or_default();
        self.unknown_keys(root, CONTRACT_KEYS_INFO, "");
        let mut tables = Vec::new();
        match root.get("schema") {
            Some(Value::Array(items)) => {
                for (i, t) in items.iter().enumerate() {
                    if let Some(t) = self.table(t, &format!("/schema/{i}")) {
                        tables.push(t);
                    }
                }
            }
            Some(_) => self.error("/schema", "`schema` must be a list of objects"),
            None => self.warn("", "the contract has no `schema`: only freshness can be checked"),
        }
        let default_element = self.text(root, "slaDefaultElement", "", false);
        let freshness = self.sla(root.get("slaProperties"), default_element.as_deref(), &tables);
        Some(Contract { id, name, version, tables, freshness })
    }

    fn table(&mut self, v: &Value, p: &str) -> Option<TableSpec> {
        let Some(m) = v.as_object() else {
            self.error(p, "a schema entry must be a mapping");
            return None;
        };
        let name = self.text(m, "name", p, true)?;
        self.unknown_keys(m, TABLE_KEYS, p);
        if m.contains_key("relationships") {
            self.warn(&format!("{p}/relationships"), "`relationships` (foreign keys) are not checked");
        }
        let mut properties = Vec::new();
        let mut key: Vec<(i64, String)> = Vec::new();
        if let Some(list) = m.get("properties") {
            match list.as_array() {
                Some(items) => {
                    for (i, prop) in items.iter().enumerate() {
                        if let Some(pr) = self.property(prop, &format!("{p}/properties/{i}")) {
                            if properties.iter().any(|x: &Property| x.name == pr.name) {
                                self.error(&format!("{p}/properties/{i}/name"), format!("property `{}` is listed twice", pr.name));
                            }
                            if pr.primary_key {
                                let position = prop.get("primaryKeyPosition").and_then(Value::as_i64).unwrap_or(0);
                                key.push((position, pr.column.clone()));
                            }
                            properties.push(pr);
                        }
                    }
                }
                None => self.error(&format!("{p}/properties"), "`properties` must be a list"),
            }
        }
        let mut quality = self.rules(m.get("quality"), &format!("{p}/quality"), true);
        // A schema-level duplicateValues names properties; the data has their columns.
        for r in quality.iter_mut() {
            if let Metric::DuplicateRows(names) = &mut r.metric {
                if names.is_empty() {
                    *names = properties.iter().map(|x| x.column.clone()).collect();
                    continue;
                }
                for n in names.iter_mut() {
                    match properties.iter().find(|x| x.name == *n) {
                        Some(x) => *n = x.column.clone(),
                        None => {
                            self.error(&format!("{p}/quality"), format!("duplicateValues names `{n}`, which is not a property of `{name}`"))
                        }
                    }
                }
            }
        }
        key.sort_by_key(|(position, _)| *position);
        let composite_key = if key.len() > 1 { key.into_iter().map(|(_, c)| c).collect() } else { Vec::new() };
        Some(TableSpec { name, properties, quality, composite_key })
    }

    fn property(&mut self, v: &Value, p: &str) -> Option<Property> {
        let Some(m) = v.as_object() else {
            self.error(p, "a property must be a mapping");
            return None;
        };
        let name = self.text(m, "name", p, true)?;
        let column = self.text(m, "physicalName", p, false).unwrap_or_else(|| name.clone());
        self.unknown_keys(m, PROPERTY_KEYS, p);
        self.unenforced_structure(m, p);

        let logical_type = match m.get("logicalType").and_then(Value::as_str) {
            None => LogicalType::String,
            Some("string") => LogicalType::String,
            Some("integer") => LogicalType::Integer,
            Some("number") => LogicalType::Number,
            Some("boolean") => LogicalType::Boolean,
            Some("date") => LogicalType::Date,
            Some("timestamp") => LogicalType::Timestamp,
            Some("time") => LogicalType::Time,
            Some("object") => LogicalType::Object,
            Some("array") => LogicalType::Array,
            Some(other) => {
                self.error(
                    &format!("{p}/logicalType"),
                    format!("unknown logicalType `{other}` (string, integer, number, boolean, date, timestamp, time, object, array)"),
                );
                LogicalType::String
            }
        };
        let classification = m.get("classification").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
        let tagged = m
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case("pii"))));
        let custom = m.get("customProperties").and_then(Value::as_array).is_some_and(|cp| {
            cp.iter().any(|x| {
                x.get("property").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("pii"))
                    && x.get("value") == Some(&Value::Bool(true))
            })
        });
        let pii = matches!(classification.as_str(), "restricted" | "confidential" | "secret" | "pii") || tagged || custom;
        let required = self.flag(m, "required", p);
        let unique = self.flag(m, "unique", p);
        let primary_key = self.flag(m, "primaryKey", p);
        let quality = self.rules(m.get("quality"), &format!("{p}/quality"), false);
        let parsed = match m.get("logicalTypeOptions") {
            None | Some(Value::Null) => super::options::Parsed::default(),
            Some(Value::Object(o)) => {
                let mut parsed = super::options::parse(logical_type, o, &format!("{p}/logicalTypeOptions"));
                for n in std::mem::take(&mut parsed.notes) {
                    if n.error {
                        self.error(&n.pointer, n.message);
                    } else {
                        self.warn(&n.pointer, n.message);
                    }
                }
                parsed
            }
            Some(_) => {
                self.error(&format!("{p}/logicalTypeOptions"), "`logicalTypeOptions` must be a mapping");
                super::options::Parsed::default()
            }
        };
        Some(Property {
            name,
            column,
            logical_type,
            required,
            unique,
            primary_key,
            pii,
            quality,
            options: parsed.options,
            reading: parsed.reading,
        })
    }

    fn rules(&mut self, v: Option<&Value>, p: &str, table_level: bool) -> Vec<Rule> {
        let Some(v) = v else { return Vec::new() };
        let Some(items) = v.as_array() else {
            self.error(p, "`quality` must be a list");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let rp = format!("{p}/{i}");
            let Some(m) = item.as_object() else {
                self.error(&rp, "a quality rule must be a mapping");
                continue;
            };
            if let Some(t) = m.get("type").and_then(Value::as_str) {
                if t != "library" {
                    self.warn(&rp, format!("quality rules of type `{t}` are not enforced by flowgate"));
                    continue;
                }
            }
            if m.contains_key("rule") && !m.contains_key("metric") {
                self.warn(&rp, "the deprecated `rule` key is not enforced; use `metric`");
                continue;
            }
            let Some(metric_name) = m.get("metric").and_then(Value::as_str) else {
                self.error(&rp, "a quality rule needs `metric` (rowCount, nullValues, missingValues, invalidValues, duplicateValues)");
                continue;
            };
            let args = m.get("arguments").and_then(Value::as_object);
            let metric = match metric_name {
                "rowCount" if table_level => Metric::RowCount,
                "rowCount" => {
                    self.error(&format!("{rp}/metric"), "`rowCount` belongs on the schema object, not on a property");
                    continue;
                }
                "duplicateValues" if table_level => {
                    let named = args.and_then(|a| a.get("properties"));
                    match named
                        .map(|v| v.as_array().and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect::<Option<Vec<_>>>()))
                    {
                        None => Metric::DuplicateRows(Vec::new()),
                        Some(Some(names)) if !names.is_empty() => Metric::DuplicateRows(names),
                        Some(_) => {
                            self.error(&format!("{rp}/arguments/properties"), "`arguments.properties` must be a list of property names");
                            continue;
                        }
                    }
                }
                "nullValues" | "missingValues" | "invalidValues" if table_level => {
                    self.error(&format!("{rp}/metric"), format!("`{metric_name}` belongs on a property"));
                    continue;
                }
                "nullValues" => Metric::NullValues,
                "duplicateValues" => Metric::DuplicateValues,
                "missingValues" => Metric::MissingValues(
                    args.and_then(|a| a.get("missingValues"))
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_else(|| vec![Value::Null, Value::String(String::new())]),
                ),
                "invalidValues" => {
                    let valid_values = args.and_then(|a| a.get("validValues")).and_then(Value::as_array).cloned();
                    let pattern = args.and_then(|a| a.get("pattern")).and_then(Value::as_str).map(str::to_string);
                    if let Some(pat) = &pattern {
                        if let Err(e) = regex::Regex::new(pat) {
                            self.error(&format!("{rp}/arguments/pattern"), format!("pattern is not a valid regular expression: {e}"));
                            continue;
                        }
                    }
                    if valid_values.is_none() && pattern.is_none() {
                        self.error(&rp, "`invalidValues` needs arguments.validValues or arguments.pattern");
                        continue;
                    }
                    Metric::InvalidValues { valid_values, pattern }
                }
                other => {
                    self.error(
                        &format!("{rp}/metric"),
                        format!("unknown metric `{other}` (rowCount, nullValues, missingValues, invalidValues, duplicateValues)"),
                    );
                    continue;
                }
            };
            let mut ops = Vec::new();
            for (key, make) in [
                ("mustBe", Operator::MustBe as fn(f64) -> Operator),
                ("mustNotBe", Operator::MustNotBe),
                ("mustBeGreaterThan", Operator::MustBeGreaterThan),
                ("mustBeGreaterOrEqualTo", Operator::MustBeGreaterOrEqualTo),
                ("mustBeLessThan", Operator::MustBeLessThan),
                ("mustBeLessOrEqualTo", Operator::MustBeLessOrEqualTo),
            ] {
                if let Some(v) = m.get(key) {
                    match v.as_f64() {
                        Some(x) => ops.push(make(x)),
                        None => self.error(&format!("{rp}/{key}"), format!("`{key}` must be a number")),
                    }
                }
            }
            for (key, between) in [("mustBeBetween", true), ("mustNotBeBetween", false)] {
                if let Some(v) = m.get(key) {
                    match v.as_array().map(|a| a.iter().map(Value::as_f64).collect::<Vec<_>>()).as_deref() {
                        Some([Some(a), Some(b)]) if a <= b => {
                            ops.push(if between { Operator::MustBeBetween(*a, *b) } else { Operator::MustNotBeBetween(*a, *b) })
                        }
                        _ => self.error(&format!("{rp}/{key}"), format!("`{key}` must be two numbers, the smaller first")),
                    }
                }
            }
            if ops.len() != 1 {
                self.error(
                    &rp,
                    format!(
                        "a quality rule needs exactly one operator (mustBe, mustNotBe, mustBeGreaterThan, …); this one has {}",
                        ops.len()
                    ),
                );
                continue;
            }
            let percent = match m.get("unit").and_then(Value::as_str) {
                None | Some("rows") => false,
                Some("percent") => true,
                Some(other) => {
                    self.error(&format!("{rp}/unit"), format!("unit `{other}` is not supported (rows or percent)"));
                    continue;
                }
            };
            for k in m.keys() {
                if !matches!(
                    k.as_str(),
                    "metric"
                        | "arguments"
                        | "unit"
                        | "type"
                        | "description"
                        | "name"
                        | "dimension"
                        | "severity"
                        | "businessImpact"
                        | "id"
                        | "tags"
                        | "customProperties"
                        | "authoritativeDefinitions"
                        | "method"
                        | "mustBe"
                        | "mustNotBe"
                        | "mustBeGreaterThan"
                        | "mustBeGreaterOrEqualTo"
                        | "mustBeLessThan"
                        | "mustBeLessOrEqualTo"
                        | "mustBeBetween"
                        | "mustNotBeBetween"
                ) {
                    let why =
                        if matches!(k.as_str(), "schedule" | "scheduler") { ": flowgate checks every arrival at its gate" } else { "" };
                    self.warn(&format!("{rp}/{k}"), format!("`{k}` in a quality rule is not enforced{why}"));
                }
            }
            out.push(Rule { metric, operator: ops[0], percent });
        }
        out
    }

    fn sla(&mut self, v: Option<&Value>, default_element: Option<&str>, tables: &[TableSpec]) -> Option<FreshnessSpec> {
        let items = match v {
            None => return None,
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error("/slaProperties", "`slaProperties` must be a list");
                return None;
            }
        };
        let mut out = None;
        for (i, item) in items.iter().enumerate() {
            let p = format!("/slaProperties/{i}");
            let property = item.get("property").and_then(Value::as_str).unwrap_or("");
            if property != "freshness" {
                self.warn(&p, format!("SLA property `{property}` is not enforced (flowgate enforces `freshness`)"));
                continue;
            }
            let value = match item.get("value") {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            };
            let unit = item.get("unit").and_then(Value::as_str).unwrap_or("d");
            let max_age = match (value, unit) {
                (Some(v), u) if v > 0.0 => match u {
                    "d" | "day" | "days" => Some(Duration::from_secs_f64(v * 86_400.0)),
                    "h" | "hr" | "hour" | "hours" => Some(Duration::from_secs_f64(v * 3_600.0)),
                    "m" | "min" | "minute" | "minutes" => Some(Duration::from_secs_f64(v * 60.0)),
                    "s" | "sec" | "second" | "seconds" => Some(Duration::from_secs_f64(v)),
                    iso if iso.starts_with('P') => parse_duration(iso).ok(),
                    _ => None,
                },
                (None, iso) if iso.starts_with('P') => parse_duration(iso).ok(),
                _ => None,
            };
            let Some(max_age) = max_age else {
                self.error(&p, "freshness needs a positive `value` and a `unit` (d, h, m, s or ISO 8601 like PT1H)");
                continue;
            };
            for k in ["schedule", "scheduler", "valueExt"] {
                if item.get(k).is_some() {
                    self.warn(
                        &format!("{p}/{k}"),
                        format!("`{k}` of the freshness SLA is not enforced: flowgate checks freshness at every arrival"),
                    );
                }
            }
            let element = item.get("element").and_then(Value::as_str).or(default_element).unwrap_or("");
            let Some((table, column)) = element.split_once('.') else {
                self.error(
                    &format!("{p}/element"),
                    "freshness needs `element: <schema>.<property>` (or `slaDefaultElement`) naming a timestamp property",
                );
                continue;
            };
            let known = tables.iter().find(|t| t.name == table).and_then(|t| t.properties.iter().find(|c| c.name == column));
            match known {
                Some(c) if matches!(c.logical_type, LogicalType::Timestamp | LogicalType::Date) => {}
                Some(_) => self.error(&format!("{p}/element"), format!("`{element}` must be a timestamp or date property")),
                None => self.error(&format!("{p}/element"), format!("`{element}` is not a property of the schema")),
            }
            out = Some(FreshnessSpec { max_age, table: table.to_string(), column: column.to_string() });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/claims/contracts/claims_correspondence.odcs.yaml");

    #[test]
    fn reads_the_example_contract() {
        let (c, findings) = parse(EXAMPLE).unwrap();
        assert_eq!(c.version, "1.0.0");
        assert_eq!(c.tables.len(), 1);
        let t = &c.tables[0];
        assert_eq!(t.quality, vec![Rule { metric: Metric::RowCount, operator: Operator::MustBeGreaterThan(0.0), percent: false }]);
        let id = &t.properties[0];
        assert!(id.required && id.unique && id.primary_key && !id.pii);
        let email = t.properties.iter().find(|p| p.name == "policyholder_email").unwrap();
        assert!(email.pii);
        assert!(email.quality[0].percent);
        assert_eq!(c.freshness.as_ref().unwrap().max_age, Duration::from_secs(3600));
        assert!(findings.iter().all(|f| !f.error), "{findings:?}");
    }

    #[test]
    fn reports_what_it_does_not_enforce_and_what_it_cannot_read() {
        let text = "apiVersion: v3.1.0\nkind: DataContract\nid: x\nversion: 1.0.0\nschema:\n  - name: t\n    properties:\n      - name: a\n        logicalType: wat\n        quality:\n          - metric: nullValues\n          - metric: nullCount\n            mustBe: 0\n          - type: sql\n            query: select 1\n    quality:\n      - metric: rowCount\n        mustBe: 1\n        mustNotBe: 2\nslaProperties:\n  - property: latency\n    value: 1\n";
        let findings = parse(text).unwrap_err();
        let msgs: Vec<String> = findings.iter().map(|f| format!("{}:{} {}", f.pos.line, f.pos.col, f.message)).collect();
        assert!(msgs.iter().any(|m| m.contains("unknown logicalType `wat`")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("exactly one operator") && m.contains("has 0")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("unknown metric `nullCount`")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("type `sql` are not enforced")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("this one has 2")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("`latency` is not enforced")), "{msgs:?}");
    }

    #[test]
    fn operators() {
        assert!(Operator::MustBeBetween(1.0, 3.0).holds(3.0));
        assert!(!Operator::MustNotBeBetween(1.0, 3.0).holds(2.0));
        assert!(Operator::MustBeLessOrEqualTo(5.0).holds(5.0));
        assert!(!Operator::MustBeGreaterThan(0.0).holds(0.0));
    }
}
