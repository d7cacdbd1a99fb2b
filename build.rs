//! Build script: embeds every file of the sample city (`manifests/sample-city/`), the Provider
//! catalog (`manifests/providers/`) and the prompts for real agents (`manifests/agent-prompts/`)
//! so `gc init` can write them anywhere. Generates `$OUT_DIR/sample_city.rs`: for each, a list
//! of `(relative path, contents, executable)` in path order.
//!
//! It also notes whether a `bd` is on PATH (cfg `gc_bd_on_path`), so the bd bead store's
//! conformance tests (tests/bead_store_conformance.rs) are compiled only where they can run;
//! elsewhere one test stands in for them and says they were skipped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut out = String::new();
    for (constant, dir, doc) in [
        ("SAMPLE_CITY", "sample-city", "Every file of the sample city"),
        ("PROVIDER_CATALOG", "providers", "The tested Provider files of real agent CLIs"),
        ("AGENT_PROMPTS", "agent-prompts", "The sample city's prompts for real agent CLIs"),
    ] {
        let root = manifest_dir.join("manifests").join(dir);
        // A directory here makes cargo rerun the script when anything below it changes.
        println!("cargo:rerun-if-changed=manifests/{dir}");
        let mut files = Vec::new();
        collect(&root, &root, &mut files);
        files.sort();
        let _ = writeln!(
            out,
            "/// {doc}: path relative to `manifests/{dir}` (`/`-separated), contents, and\n\
             /// whether it is executable.\n\
             pub(crate) const {constant}: &[(&str, &[u8], bool)] = &["
        );
        for (rel, abs, executable) in &files {
            let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?}), {executable}),");
        }
        out.push_str("];\n");
    }
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("sample_city.rs");
    std::fs::write(dest, out).expect("write sample_city.rs");
    detect_bd();
}

/// Looked at when the script runs (a fresh build, CI): after installing or removing bd,
/// `touch build.rs`. Not rerun on every PATH change, which would rebuild the crate whenever
/// two shells differ in PATH.
fn detect_bd() {
    println!("cargo:rustc-check-cfg=cfg(gc_bd_on_path)");
    println!("cargo:rerun-if-changed=build.rs");
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("bd").is_file()));
    if on_path {
        println!("cargo:rustc-cfg=gc_bd_on_path");
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String, bool)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let path = entry.path();
        let file_type = entry.file_type().expect("file type");
        if file_type.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("below root");
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let rel = rel.join("/");
            let executable = is_executable(&path) || rel.ends_with(".sh");
            out.push((rel, path.to_string_lossy().into_owned(), executable));
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    false
}
