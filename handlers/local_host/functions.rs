//! Reading the app the way the Functions host does: `host.json` (the custom handler's command)
//! and `function-defs/<Name>/function.json` (each function's trigger).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::domain::schedule::Ncrontab;

/// A function's trigger, as far as the local host needs it.
#[derive(Debug, Clone)]
pub enum TriggerDef {
    Timer { binding: String, schedule: Ncrontab },
    ServiceBus { binding: String, queue: String },
    EventGrid { binding: String },
    Http { binding: String, route: String, methods: Vec<String> },
}

/// One function folder.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub name: String,
    pub trigger: TriggerDef,
}

/// The app: the handler's arguments and its functions.
#[derive(Debug, Clone)]
pub struct AppDef {
    pub root: PathBuf,
    pub arguments: Vec<String>,
    pub function_timeout: std::time::Duration,
    pub functions: Vec<FunctionDef>,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Reads `host.json` and `function-defs/` under `root`.
pub fn load(root: &Path) -> Result<AppDef, String> {
    let host_path = root.join("host.json");
    let host = read_json(&host_path)?;
    let desc = host
        .pointer("/customHandler/description")
        .ok_or_else(|| format!("{}: no `customHandler.description` section", host_path.display()))?;
    let arguments = desc
        .get("arguments")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let function_timeout = text(&host, "functionTimeout")
        .and_then(|t| {
            let parts: Vec<u64> = t.split(':').filter_map(|p| p.parse().ok()).collect();
            (parts.len() == 3).then(|| std::time::Duration::from_secs(parts[0] * 3600 + parts[1] * 60 + parts[2]))
        })
        .unwrap_or(std::time::Duration::from_secs(300));

    let defs = root.join("function-defs");
    let mut functions = Vec::new();
    let entries = std::fs::read_dir(&defs).map_err(|e| format!("{}: {e}", defs.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let path = defs.join(&name).join("function.json");
        let def = read_json(&path)?;
        let bindings = def.get("bindings").and_then(Value::as_array).ok_or_else(|| format!("{}: no `bindings` list", path.display()))?;
        let trigger = bindings
            .iter()
            .find(|b| text(b, "direction").as_deref() == Some("in") && text(b, "type").is_some_and(|t| t.ends_with("Trigger")))
            .ok_or_else(|| format!("{}: no trigger binding", path.display()))?;
        let binding = text(trigger, "name").ok_or_else(|| format!("{}: the trigger has no `name`", path.display()))?;
        let trigger = match text(trigger, "type").as_deref() {
            Some("timerTrigger") => {
                let expr = text(trigger, "schedule").ok_or_else(|| format!("{}: timer without `schedule`", path.display()))?;
                TriggerDef::Timer { binding, schedule: Ncrontab::parse(&expr).map_err(|e| format!("{}: {e}", path.display()))? }
            }
            Some("serviceBusTrigger") => TriggerDef::ServiceBus {
                binding,
                queue: text(trigger, "queueName").ok_or_else(|| format!("{}: no `queueName`", path.display()))?,
            },
            Some("eventGridTrigger") => TriggerDef::EventGrid { binding },
            Some("httpTrigger") => TriggerDef::Http {
                binding,
                route: text(trigger, "route").unwrap_or_else(|| name.clone()),
                methods: trigger
                    .get("methods")
                    .and_then(Value::as_array)
                    .map(|m| m.iter().filter_map(Value::as_str).map(|s| s.to_ascii_uppercase()).collect())
                    .unwrap_or_else(|| vec!["GET".into(), "POST".into()]),
            },
            other => return Err(format!("{}: trigger type {other:?} is not supported by flowgate local", path.display())),
        };
        functions.push(FunctionDef { name, trigger });
    }
    Ok(AppDef { root: root.to_path_buf(), arguments, function_timeout, functions })
}
