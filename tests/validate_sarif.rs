//! `gc validate -o sarif` writes SARIF 2.1.0 that Microsoft's SARIF Multitool (npm, pinned;
//! `scripts/test.sh` installs it and sets `GC_TEST_SARIF_MULTITOOL`) finds valid against the
//! official schema and its rules, with each finding at its file, line and column.

use std::path::PathBuf;

use serde_json::Value;

mod common;
use common::City;

fn multitool() -> Option<PathBuf> {
    let found = std::env::var_os("GC_TEST_SARIF_MULTITOOL").map(PathBuf::from);
    if found.is_none() && std::env::var("GC_TEST_REQUIRE_SARIF_MULTITOOL").as_deref() == Ok("1") {
        panic!("GC_TEST_REQUIRE_SARIF_MULTITOOL=1 but GC_TEST_SARIF_MULTITOOL is not set");
    }
    found
}

const BROKEN: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec:
  colour: blue
";

/// What the multitool says of `log`: its results (schema and rule findings).
fn checked(tool: &std::path::Path, log: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("gc.sarif");
    let output = dir.path().join("checked.sarif");
    std::fs::write(&input, log).unwrap();
    let out = std::process::Command::new(tool)
        .arg("validate")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--log", "ForceOverwrite"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    report["runs"][0]["results"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0_with_each_finding_located() {
    let city = City::new(BROKEN);
    let out = city.gc().args(["validate", "-o", "sarif"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an invalid city still exits 1");
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(
        (result["ruleId"].as_str(), result["level"].as_str()),
        (Some("unknown-field"), Some("error"))
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "agents/worker.yaml");
    assert_eq!(
        (location["region"]["startLine"].as_u64(), location["region"]["startColumn"].as_u64()),
        (Some(6), Some(3))
    );
    assert_eq!(log["runs"][0]["tool"]["driver"]["rules"][0]["id"], "unknown-field");

    let Some(tool) = multitool() else {
        eprintln!("skipped the schema check: set GC_TEST_SARIF_MULTITOOL");
        return;
    };
    let findings = checked(&tool, &String::from_utf8_lossy(&out.stdout));
    let errors: Vec<&Value> = findings.iter().filter(|r| r["level"] == "error").collect();
    assert!(errors.is_empty(), "the SARIF Multitool rejects gc's log: {errors:#?}");

    // A valid city: a log with no results, valid as well.
    let city = City::new(&BROKEN.replace("  colour: blue\n", "  description: works\n"));
    let out = city.gc().args(["validate", "-o", "sarif"]).output().unwrap();
    assert!(out.status.success());
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
    let findings = checked(&tool, &String::from_utf8_lossy(&out.stdout));
    assert!(findings.iter().all(|r| r["level"] != "error"), "{findings:#?}");
}
