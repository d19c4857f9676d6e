//! `flowgate package`: the layout the Functions host expects. `scripts/test` builds the handler
//! once, statically (`+crt-static`), and names it in `FLOWGATE_STATIC_HANDLER`; a bare
//! `cargo test` skips the test and says so (under `scripts/test` that is a failure).

use std::io::Read;
use std::path::Path;
use std::process::Command;

fn flowgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn the_package_has_the_layout_the_functions_host_expects() {
    let Ok(handler) = std::env::var("FLOWGATE_STATIC_HANDLER") else {
        assert!(
            std::env::var_os("FLOWGATE_REQUIRE_PACKAGE").is_none(),
            "FLOWGATE_REQUIRE_PACKAGE is set but FLOWGATE_STATIC_HANDLER is not"
        );
        eprintln!("skipped: FLOWGATE_STATIC_HANDLER is not set (scripts/test builds the static handler and sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    let run = flowgate()
        .args(["package", "--catalog", "examples/claims/catalog.yaml", "--binary", &handler, "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));

    // host.json at the root, running the handler with `serve`.
    let host: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("host.json")).unwrap()).unwrap();
    assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], "flowgate");
    assert_eq!(host["customHandler"]["description"]["arguments"][0], "serve");
    // One folder per function, each with its function.json, and nothing else that looks like one.
    for name in flowgate::edge::FUNCTIONS {
        let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(name).join("function.json")).unwrap()).unwrap();
        assert!(f["bindings"].as_array().is_some_and(|b| !b.is_empty()), "{name}");
    }
    let folders = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().join("function.json").exists()).count();
    assert_eq!(folders, flowgate::edge::FUNCTIONS.len());
    // The handler: static x86-64, mode 0755, and it runs.
    let bin = out.join("flowgate");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);
    }
    flowgate::commands::package::check_static_x86_64(&std::fs::read(&bin).unwrap()).unwrap();
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("flowgate "), "{version:?}");
    // The catalog and its contracts, where FLOWGATE_CATALOG points.
    assert!(out.join("catalog/catalog.yaml").is_file());
    assert!(out.join("catalog/contracts/claims_correspondence.odcs.yaml").is_file());
    let valid = Command::new(&bin).args(["validate"]).arg(out.join("catalog/catalog.yaml")).output().unwrap();
    assert_eq!(valid.status.code(), Some(0), "{}", String::from_utf8_lossy(&valid.stderr));

    // The zip holds the same files, the handler executable.
    let zip_path = dir.path().join("dist.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).unwrap().name().to_string()).collect();
    names.sort();
    assert!(names.contains(&"host.json".to_string()) && names.contains(&"DispatchRun/function.json".to_string()), "{names:?}");
    let mut entry = zip.by_name("flowgate").unwrap();
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut head = [0u8; 4];
    entry.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"\x7fELF");
    drop(entry);

    // Ugly input: an existing folder, a dynamic binary, a broken catalog, a foreign target.
    let again = flowgate().args(["package", "--binary", &handler, "--out"]).arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    let dynamic =
        flowgate().args(["package", "--binary", env!("CARGO_BIN_EXE_flowgate"), "--out"]).arg(dir.path().join("d2")).output().unwrap();
    assert_eq!(dynamic.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dynamic.stderr).contains("dynamic"), "{}", String::from_utf8_lossy(&dynamic.stderr));
    let bad_catalog = dir.path().join("bad.yaml");
    std::fs::write(&bad_catalog, "version: 1\njobs: 7\n").unwrap();
    let bad = flowgate()
        .args(["package", "--binary", &handler, "--catalog"])
        .arg(&bad_catalog)
        .arg("--out")
        .arg(dir.path().join("d3"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let arm = flowgate().args(["package", "--target", "aarch64-unknown-linux-gnu", "--out"]).arg(dir.path().join("d4")).output().unwrap();
    assert_eq!(arm.status.code(), Some(2));
    assert!(!Path::new(&dir.path().join("d4")).exists());
}

#[test]
fn azure_yaml_deploys_the_package_as_a_custom_function() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("azure.yaml")).unwrap();
    let v = flowgate::domain::catalog::yaml::parse(&text).map_err(|e| format!("{e:?}")).unwrap().value;
    let svc = &v["services"]["flowgate"];
    assert_eq!(svc["host"].as_str(), Some("function"));
    assert_eq!(svc["language"].as_str(), Some("custom"));
    assert_eq!(v["infra"]["path"].as_str(), Some("infra"));
    let hook = svc["hooks"]["prepackage"]["run"].as_str().unwrap();
    assert!(hook.contains("package") && hook.contains(&format!("--out {}", svc["dist"].as_str().unwrap())), "{hook}");
}
