//! `flowgate package --out DIR [--catalog FILE] [--binary PATH] [--target T]`: the layout the
//! Functions host expects — `host.json`, one folder per function with its `function.json`, the
//! handler (`flowgate`, mode 0755) as a statically linked x86-64 Linux binary, and the catalog
//! with its contracts and sample files under `catalog/` — plus `DIR.zip` of the same, ready for zip deploy.
//!
//! Without `--binary` it builds the handler with cargo: `--target x86_64-unknown-linux-gnu` and
//! `-C target-feature=+crt-static` (glibc linked in; DNS is reqwest's pure-Rust resolver, so
//! glibc's NSS is never loaded), or a musl target when one is given and installed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::exit;

/// What a static x86-64 ELF executable looks like: no program interpreter (`PT_INTERP`) and no
/// dynamic section listing shared libraries (`DT_NEEDED`).
pub fn check_static_x86_64(bytes: &[u8]) -> Result<(), String> {
    let u16_at = |o: usize| bytes.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u64_at = |o: usize| bytes.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    if u16_at(18) != Some(62) {
        return Err("not an x86-64 executable".into());
    }
    let phoff = u64_at(32).ok_or("truncated ELF header")? as usize;
    let phentsize = u16_at(54).ok_or("truncated ELF header")? as usize;
    let phnum = u16_at(56).ok_or("truncated ELF header")? as usize;
    for i in 0..phnum {
        let h = phoff + i * phentsize;
        let kind = u32_at(h).ok_or("truncated program headers")?;
        if kind == 3 {
            return Err("it has a program interpreter (PT_INTERP): it is dynamically linked".into());
        }
        if kind == 2 {
            // PT_DYNAMIC: a static-pie binary has one, but must need no shared library.
            let (off, size) = (u64_at(h + 8).ok_or("truncated")? as usize, u64_at(h + 32).ok_or("truncated")? as usize);
            let mut o = off;
            while o + 16 <= off + size {
                let tag = u64_at(o).ok_or("truncated dynamic section")?;
                if tag == 0 {
                    break;
                }
                if tag == 1 {
                    return Err("it needs shared libraries (DT_NEEDED)".into());
                }
                o += 16;
            }
        }
    }
    Ok(())
}

fn build(target: &str, root: &Path) -> Result<PathBuf, String> {
    eprintln!("building the handler for {target} (release, static)...");
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--release", "--locked", "--bin", "flowgate", "--target", target]).current_dir(root);
    if target.ends_with("-gnu") {
        let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        cmd.env("RUSTFLAGS", format!("{flags} -C target-feature=+crt-static").trim());
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build for {target} failed"));
    }
    Ok(root.join("target").join(target).join("release").join("flowgate"))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to).map(|_| ()).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))
}

fn zip_dir(dir: &Path, zip_path: &Path) -> Result<(), String> {
    let file = std::fs::File::create(zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    for path in files {
        let name = path.strip_prefix(dir).map_err(|e| e.to_string())?.to_string_lossy().replace('\\', "/");
        let mode = if name == "flowgate" { 0o755 } else { 0o644 };
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(mode);
        zip.start_file(name.as_str(), opts).map_err(|e| e.to_string())?;
        zip.write_all(&std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

pub fn run(out: &Path, catalog: Option<&Path>, binary: Option<&Path>, target: &str) -> u8 {
    match package(out, catalog, binary, target) {
        Ok(zip) => {
            println!("packaged {} and {}", out.display(), zip.display());
            exit::OK
        }
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

fn package(out: &Path, catalog: Option<&Path>, binary: Option<&Path>, target: &str) -> Result<PathBuf, (u8, String)> {
    let bad = |e: String| (exit::BAD_INPUT, e);
    let failed = |e: String| (exit::FAILED, e);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(bad(format!("--out {}: exists and is not empty; name a new folder", out.display())));
    }
    if !target.starts_with("x86_64-unknown-linux-") {
        return Err(bad(format!("--target {target}: the Functions host runs x86_64 Linux (x86_64-unknown-linux-gnu or -musl)")));
    }
    // The catalog is checked before anything is built: a package that cannot start is no package.
    let loaded = match catalog {
        Some(c) => Some(crate::domain::catalog::check::load_file(c).map_err(|problems| {
            bad(format!("{} has {} problem(s); run `flowgate validate {}`", c.display(), problems.len(), c.display()))
        })?),
        None => None,
    };
    let bin = match binary {
        Some(b) => b.to_path_buf(),
        None => build(target, root).map_err(failed)?,
    };
    let bytes = std::fs::read(&bin).map_err(|e| bad(format!("{}: {e}", bin.display())))?;
    check_static_x86_64(&bytes).map_err(|e| bad(format!("{}: {e}", bin.display())))?;

    std::fs::create_dir_all(out).map_err(|e| failed(format!("{}: {e}", out.display())))?;
    copy(&root.join("host.json"), &out.join("host.json")).map_err(failed)?;
    for name in crate::edge::FUNCTIONS {
        copy(&root.join("function-defs").join(name).join("function.json"), &out.join(name).join("function.json")).map_err(failed)?;
    }
    let handler = out.join("flowgate");
    copy(&bin, &handler).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o755)).map_err(|e| failed(e.to_string()))?;
    }
    if let (Some(c), Some(_)) = (catalog, loaded) {
        copy(c, &out.join("catalog/catalog.yaml")).map_err(failed)?;
        // The same files a release of this catalog holds: its contracts and its sample files.
        let bundle = super::release::from_catalog(c).map_err(bad)?;
        for key in bundle.files.keys() {
            let rel = Path::new(key);
            if rel.is_absolute() || rel.components().any(|p| matches!(p, std::path::Component::ParentDir)) {
                return Err(bad(format!(
                    "{}: `{key}` is outside the catalog's folder; a package holds only files beside the catalog",
                    c.display()
                )));
            }
            let target = out.join("catalog").join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&target, bundle.file(key).unwrap_or_default()).map_err(|e| failed(format!("{}: {e}", target.display())))?;
        }
    }
    let zip = out.with_extension("zip");
    zip_dir(out, &zip).map_err(failed)?;
    Ok(zip)
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_what_is_not_a_static_x86_64_executable() {
        assert!(super::check_static_x86_64(b"#!/bin/sh\n").unwrap_err().contains("not a 64-bit"));
        assert!(super::check_static_x86_64(b"\x7fELF\x02\x01").is_err());
        // The test binary itself is dynamically linked.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(super::check_static_x86_64(&me).unwrap_err().contains("dynamic"));
    }
}
