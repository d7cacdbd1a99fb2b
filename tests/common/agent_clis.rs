//! The real agent CLIs for end-to-end tests: where the pinned ones are (`scripts/test.sh`
//! installs them into `target/agent-clis/`), and what processes they left behind.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};

/// The CLI `name` (`claude`, `codex`, `gemini`): `$GC_TEST_<NAME>`, else the copy
/// `scripts/test.sh` installs into `target/agent-clis/`, else `name` on PATH. `None` (with a
/// note on stderr) when none is there — unless `GC_TEST_REQUIRE_AGENT_CLIS=1` (CI), where a
/// missing CLI fails the test instead of skipping it.
pub fn find(name: &str) -> Option<PathBuf> {
    let var = format!("GC_TEST_{}", name.to_ascii_uppercase());
    let installed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/agent-clis/node_modules/.bin")
        .join(name);
    let found = match std::env::var_os(&var) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None if installed.is_file() => Some(installed),
        None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file()),
    };
    if found.is_none() {
        let required = std::env::var("GC_TEST_REQUIRE_AGENT_CLIS").is_ok_and(|v| v == "1");
        assert!(!required, "{name} is required (GC_TEST_REQUIRE_AGENT_CLIS=1) but not found");
        eprintln!("note: no {name} at ${var}, in target/agent-clis or on PATH; skipping");
    }
    found
}

/// PATH with the directory of `cli` first.
pub fn path_with(cli: &Path) -> std::ffi::OsString {
    let mut dirs = vec![cli.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(dirs).unwrap()
}

/// Live processes whose command line or environment mentions `needle` (a city's directory):
/// what a city left running. Zombies do not count.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next());
        if matches!(state, None | Some("Z") | Some("X")) {
            continue;
        }
        let read = |file: &str| std::fs::read(format!("/proc/{pid}/{file}")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
        let environ = String::from_utf8_lossy(&read("environ")).into_owned();
        if cmdline.contains(needle) || environ.contains(needle) {
            found.push(format!("{pid} {cmdline}"));
        }
    }
    found
}

/// The environment of process `pid`.
pub fn environ(pid: u32) -> Vec<(String, String)> {
    let bytes = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The pid of a live process below `root` (itself included) whose command name is `comm`.
pub fn descendant(root: u32, comm: &str) -> Option<u32> {
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if name.trim() == comm {
            return Some(pid);
        }
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        frontier.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
    }
    None
}
