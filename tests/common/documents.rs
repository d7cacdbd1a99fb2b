//! Resource documents as gc reads them from files, for tests that check them elsewhere (against
//! CRD schemas, a real API server).
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::sync::Arc;

use gascity::manifest::{Format, SourceFile};
use serde_json::Value;

/// Every resource document under `dir` (YAML and TOML, as gc reads them) with its file.
pub fn documents(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let Some(format) = Format::from_path(entry.path()) else { continue };
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let file = Arc::new(SourceFile::new(entry.path().display().to_string(), text));
        for doc in gascity::manifest::parse(&file, format).unwrap() {
            out.push((file.name.clone(), doc.value));
        }
    }
    out
}

/// Every resource document of the sample city `gc init` writes, with its file.
pub fn sample_city_documents() -> Vec<(String, Value)> {
    let tmp = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("gc")
        .unwrap()
        .current_dir(tmp.path())
        .env_remove("GC_CITY")
        .args(["init", "town"])
        .assert()
        .success();
    documents(&tmp.path().join("town"))
}
