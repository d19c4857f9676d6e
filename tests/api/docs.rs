//! The documentation cannot rot: every command in a `sh` block of the README and of `docs/`
//! (the runbooks included), every example of `flowgate --help`, and the commands the demo's
//! summary prints run as a newcomer would run them — `flowgate` on the PATH (as `cargo install`
//! puts it), in a folder holding the repository's `examples/`, `host.json` and `function-defs/`.
//! The README's commands run first and in order: its `flowgate local --demo` makes the demo state
//! every other page's commands then run against (each page on its own copy, a word in angle
//! brackets filled from the state). A command that exits 2 (unusable input), is not found or
//! panics fails the test. Blocks marked `sh azure` (need a subscription), `sh network` (download
//! something) or `sh long` (run for an hour) are not run; the README must have no placeholder.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shell commands of a Markdown page's runnable `sh` blocks (comment lines skipped; a line
/// ending in `\` continues on the next).
pub fn sh_commands(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut inside = false;
    let mut continued = false;
    for line in text.lines() {
        let fence = line.trim_start();
        if let Some(rest) = fence.strip_prefix("```") {
            inside = !inside && rest.trim() == "sh";
            continue;
        }
        let l = line.trim();
        if !inside || l.is_empty() || l.starts_with('#') {
            continue;
        }
        let part = l.trim_end_matches('\\').trim_end();
        match (continued, out.last_mut()) {
            (true, Some(last)) => {
                last.push(' ');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
        continued = l.ends_with('\\');
    }
    out
}

/// What the placeholders stand for in this state.
fn placeholders(state: &Path) -> Vec<(&'static str, String)> {
    // The demo's week: this week, as `flowgate local --demo` chose it.
    let week = flowgate::local_host::demo::week_start(chrono::Utc::now());
    let db = rusqlite::Connection::open(state.join("state.db")).unwrap();
    let items: Vec<String> = db
        .prepare("SELECT body FROM entities WHERE tbl = 'quarantine'")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let item: Value =
        items.iter().map(|b| serde_json::from_str::<Value>(b).unwrap()).find(|v| v["status"] == "open").expect("an open item");
    let blob = item["evidence"]["blob"].as_str().unwrap_or_default();
    let list = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["release", "list", "--json", "--state"]).arg(state).output().unwrap();
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    let active = list["active"]["release"].as_str().unwrap().to_string();
    let earlier = list["active"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["release"].as_str())
        .find(|r| *r != active)
        .expect("a release that was active before")
        .to_string();
    let runs = Command::new(env!("CARGO_BIN_EXE_flowgate")).args(["runs", "--json", "--state"]).arg(state).output().unwrap();
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    let output = runs.iter().find_map(|r| r["output"].as_str()).expect("a run that wrote an output").to_string();
    // A file a succeeded run read (its gate names it), before the week's last arrival.
    let read = runs
        .iter()
        .rev()
        .filter(|r| r["status"] == "succeeded")
        .find_map(|r| r["gate"]["checks"][0]["detail"].as_str().and_then(|d| d.split("(arrival ").nth(1)).and_then(|d| d.split(' ').next()))
        .expect("a run that read an arrival")
        .to_string();
    vec![
        ("<output>", output),
        ("<suspect-file>", read.rsplit('/').next().unwrap().to_string()),
        ("<job>", "classify_correspondence".into()),
        ("<catalog>", "examples/claims/catalog.yaml".into()),
        ("<quarantine-id>", item["id"].as_str().unwrap().to_string()),
        ("<bad-file>", blob.rsplit('/').next().unwrap().to_string()),
        ("<release>", earlier[..12].to_string()),
        ("<from>", week.to_rfc3339()),
        ("<to>", (week + chrono::Duration::days(7)).to_rfc3339()),
    ]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A folder that looks like a fresh clone to the commands: the repository's `examples/`,
/// `host.json` and `function-defs/` (linked), and the given demo state as `.flowgate/demo`.
fn workspace(at: &Path, demo: Option<&Path>) -> PathBuf {
    std::fs::create_dir_all(at).unwrap();
    for name in ["examples", "host.json", "function-defs"] {
        std::os::unix::fs::symlink(root().join(name), at.join(name)).unwrap();
    }
    if let Some(d) = demo {
        copy_dir(d, &at.join(".flowgate/demo"));
    }
    at.to_path_buf()
}

struct Runner {
    path: String,
    values: Vec<(&'static str, String)>,
    ran: usize,
    failures: Vec<String>,
}

impl Runner {
    /// Runs one command as a shell would in `cwd`; notes a failure. Returns its stdout.
    fn run(&mut self, page: &str, cwd: &Path, cmd: &str) -> String {
        let mut line = cmd.to_string();
        for (k, v) in &self.values {
            line = line.replace(k, v);
        }
        if line.contains('<') && !line.contains("<<") {
            self.failures.push(format!("{page}: an unknown placeholder in `{cmd}`"));
            return String::new();
        }
        let o = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .env("PATH", &self.path)
            .env("USER", "docs-test")
            .env("RUST_LOG", "error")
            .current_dir(cwd)
            .output()
            .unwrap();
        let code = o.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&o.stderr);
        if !matches!(code, 0 | 1) || stderr.contains("panicked") {
            self.failures.push(format!("{page}: `{cmd}` exited {code}: {}", stderr.chars().take(600).collect::<String>()));
        }
        self.ran += 1;
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

/// The examples of the grouped `flowgate --help`: the `flowgate …` at the end of each command line.
fn help_examples(help: &str) -> Vec<String> {
    help.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.find(" flowgate ").map(|i| l[i + 1..].trim().to_string()))
        .collect()
}

#[test]
fn every_documented_command_runs_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_flowgate")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut r = Runner { path, values: Vec::new(), ran: 0, failures: Vec::new() };

    // The README first, in order, as a newcomer follows it: its demo makes the state.
    let readme_text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let readme = sh_commands(&readme_text);
    assert!(readme.first().is_some_and(|c| c == "flowgate local --demo"), "the README's first runnable command is the demo: {readme:?}");
    assert!(readme.iter().all(|c| !c.contains('<')), "the README's commands work as printed, without placeholders: {readme:?}");
    for want in ["flowgate runs ", "flowgate trace ", "flowgate quarantine list ", "flowgate audit verify ", "flowgate evidence "] {
        assert!(readme.iter().any(|c| c.starts_with(want)), "the README shows `{want}…`");
    }
    let home = workspace(&dir.path().join("readme"), None);
    let summary = r.run("README.md", &home, &readme[0]);
    let demo = home.join(".flowgate/demo");
    assert!(demo.join("state.db").is_file(), "the demo made its state: {}", r.failures.join("\n"));
    r.values = placeholders(&demo);
    for cmd in &readme[1..] {
        r.run("README.md", &home, cmd);
    }
    assert!(home.join(".flowgate/evidence/index.html").is_file(), "the README's evidence pack was written");
    // What the demo's summary tells the reader to run.
    let printed: Vec<String> =
        summary.lines().filter_map(|l| l.trim_start().strip_prefix("inspect").map(|c| c.trim().to_string())).collect();
    assert!(!printed.is_empty(), "the summary prints what to run next:\n{summary}");
    for cmd in &printed {
        r.run("the demo's summary", &home, cmd);
    }

    // Every other page, each on its own copy of the demo state.
    let mut pages: Vec<PathBuf> = Vec::new();
    for d in ["docs", "docs/runbooks"] {
        pages.extend(
            std::fs::read_dir(root().join(d)).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    pages.sort();
    for page in &pages {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        let cmds = sh_commands(&std::fs::read_to_string(page).unwrap());
        if cmds.is_empty() {
            continue;
        }
        let cwd = workspace(&dir.path().join(name.replace('/', "_")), Some(&demo));
        for cmd in cmds {
            assert!(
                cmd.starts_with("flowgate "),
                "{name}: only flowgate commands are runnable here; mark others `sh azure`, `sh network` or `sh long`: {cmd}"
            );
            r.run(&name, &cwd, &cmd);
        }
    }

    // `flowgate --help`: an example for every command, each working.
    let help = r.run("flowgate --help", &home, "flowgate --help");
    let examples = help_examples(&help);
    assert!(examples.len() >= 20, "{help}");
    let cwd = workspace(&dir.path().join("help"), Some(&demo));
    for cmd in &examples {
        r.run("flowgate --help", &cwd, cmd);
    }
    // Each command's own `Example:` (and its subcommands').
    let mut per_command = Vec::new();
    for name in help.lines().filter(|l| l.starts_with("  ") && !l.starts_with("   ")).filter_map(|l| l.split_whitespace().next()) {
        let own = r.run("flowgate --help", &cwd, &format!("flowgate {name} --help"));
        let subs: Vec<String> = own
            .split("Commands:")
            .nth(1)
            .map(|c| c.split("\n\n").next().unwrap_or(""))
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|s| *s != "help")
            .map(str::to_string)
            .collect();
        let mut texts = vec![own];
        for sub in subs {
            texts.push(r.run("flowgate --help", &cwd, &format!("flowgate {name} {sub} --help")));
        }
        for t in texts {
            per_command.extend(t.lines().filter_map(|l| l.trim().strip_prefix("Example: ").map(str::to_string)));
        }
    }
    assert!(per_command.len() >= 8, "{per_command:?}");
    let cwd = workspace(&dir.path().join("help-commands"), Some(&demo));
    for cmd in &per_command {
        r.run("a command's --help", &cwd, cmd);
    }

    assert!(r.failures.is_empty(), "{}", r.failures.join("\n"));
    // A reader that stops early (`| head`) ends flowgate quietly, not with a panic.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("flowgate audit export --state {} | head -1", demo.display()))
        .env("PATH", &r.path)
        .output()
        .unwrap();
    assert!(o.status.success() && !String::from_utf8_lossy(&o.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(r.ran >= 60, "{} commands", r.ran);
    eprintln!("ran {} documented commands from the README, {} pages, the demo's summary and --help", r.ran, pages.len());
}
