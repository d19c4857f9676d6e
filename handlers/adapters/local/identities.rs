//! Development identities on a laptop: `<state>/identities.yaml` declares `NAME: [ROLE, ...]`;
//! the CLI acts as one with `--as NAME`, and `flowgate local`'s HTTP functions accept one in the
//! `X-Flowgate-Dev-Identity` header. Recorded as `dev:NAME`; never counted as approvals in Azure.

use std::path::Path;

use serde_json::Value;

use crate::domain::principal::Principal;

/// The file's name under the state folder.
pub const FILE: &str = "identities.yaml";

/// The development identity `name` of a state folder, or why it cannot act.
pub fn development(state: &Path, name: Option<&str>) -> Result<Principal, String> {
    lookup(&state.join(FILE), name)
}

/// The development identity `name` declared in `file`, or why it cannot act.
pub fn lookup(file: &Path, name: Option<&str>) -> Result<Principal, String> {
    let file = file.to_path_buf();
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Err(format!("name who is acting: --as NAME (a development identity declared in {})", file.display()));
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} does not exist: declare development identities as `NAME: [ROLE, ...]`, e.g. `alice: [Release.Approver]`",
                file.display()
            ))
        }
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let roles = parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    match roles.into_iter().find(|(n, _)| n == name) {
        Some((n, r)) => Ok(Principal::development(&n, r)),
        None => Err(format!("`{name}` is not declared in {}", file.display())),
    }
}

/// `NAME: [ROLE, ...]` entries.
pub fn parse(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let doc = crate::domain::catalog::yaml::parse(text)
        .map_err(|e| e.iter().map(|l| format!("{}:{}: {}", l.pos.line, l.pos.col, l.message)).collect::<Vec<_>>().join("; "))?;
    let map = match &doc.value {
        Value::Object(m) => m,
        Value::Null => return Ok(Vec::new()),
        _ => return Err("expected a mapping of `NAME: [ROLE, ...]`".into()),
    };
    let mut out = Vec::new();
    for (name, roles) in map {
        let pos = doc.pos_of(&format!("/{}", crate::domain::catalog::yaml::pointer_segment(name)));
        let list = match roles {
            Value::Array(a) => a,
            Value::Null => {
                out.push((name.clone(), Vec::new()));
                continue;
            }
            _ => return Err(format!("line {}: `{name}` must list its roles, e.g. `{name}: [Release.Approver]`", pos.line)),
        };
        let mut r = Vec::new();
        for v in list {
            match v.as_str() {
                Some(s) if !s.trim().is_empty() => r.push(s.trim().to_string()),
                _ => return Err(format!("line {}: the roles of `{name}` must be names", pos.line)),
            }
        }
        out.push((name.clone(), r));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_declare_roles() {
        let p = parse("alice: [Release.Approver]\nbob: [Release.Approver, Release.Emergency]\nops:\n").unwrap();
        assert_eq!(p[1], ("bob".into(), vec!["Release.Approver".into(), "Release.Emergency".into()]));
        assert_eq!(p[2].1, Vec::<String>::new());
        assert!(parse("alice: Release.Approver").unwrap_err().contains("must list its roles"));
        assert!(parse("- a").is_err());
    }
}
