//! Gas City's own formula and order files, unchanged, in a gc city: `gc validate` reads them
//! (reporting unsupported features at their line and column), and `gc apply` stores them as
//! Formula and Order resources.

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::City;

/// A Gas City formula as its users write it: no apiVersion or kind, `tags`, `depends_on`, a
/// plain-string var and a step without a title.
const FORMULA: &str = r#"formula = "pancakes"
description = "Make pancakes"
version = 1

[vars]
flavour = "plain"

[[steps]]
id = "dry"
title = "Mix dry ingredients"
tags = ["kitchen"]

[[steps]]
id = "cook"
depends_on = ["dry"]
"#;

/// A Gas City order: flat gate keys under `[order]`, a `pool`.
const ORDER: &str = r#"[order]
description = "Pancakes every morning"
formula = "pancakes"
gate = "cooldown"
interval = "24h"
pool = "worker"
"#;

const WORKER: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec:
  provider: shell
";

fn city() -> City {
    let city = City::new(WORKER);
    city.write("formulas/pancakes.formula.toml", FORMULA);
    city.write("orders/breakfast.toml", ORDER);
    city
}

/// `(file, line, column, code)` of each finding of `gc validate -o json`, and the exit code.
fn findings(cmd: &mut Command) -> (i32, Vec<(String, u64, u64, String)>) {
    let out = cmd.args(["validate", "-o", "json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap_or("").to_owned(),
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), rows)
}

fn row(file: &str, line: u64, column: u64, code: &str) -> (String, u64, u64, String) {
    (file.to_owned(), line, column, code.to_owned())
}

#[test]
fn plain_gas_city_files_validate_apply_and_list() {
    let city = city();
    assert_eq!(findings(&mut city.gc()), (0, vec![]));
    city.gc()
        .arg("apply")
        .assert()
        .success()
        .stdout(predicates::str::contains("formula/pancakes created"))
        .stdout(predicates::str::contains("order/breakfast created"));
    city.gc()
        .args(["get", "formulas"])
        .assert()
        .success()
        .stdout(predicates::str::contains("pancakes"));
    city.gc()
        .args(["get", "orders"])
        .assert()
        .success()
        .stdout(predicates::str::is_match(r"breakfast\s+cooldown").unwrap());

    let out = city.gc().args(["get", "formula", "pancakes", "-o", "json"]).output().unwrap();
    let formula: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        formula["spec"]["steps"],
        serde_json::json!([
            {"id": "dry", "title": "Mix dry ingredients", "labels": ["kitchen"]},
            {"id": "cook", "title": "cook", "needs": ["dry"]},
        ])
    );
    assert_eq!(formula["spec"]["vars"]["flavour"]["default"], "plain");
    let out = city.gc().args(["get", "order", "breakfast", "-o", "json"]).output().unwrap();
    let order: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Stored in gc's canonical duration form.
    assert_eq!(order["spec"]["gate"], serde_json::json!({"cooldown": {"interval": "1d"}}));
    assert_eq!(order["spec"]["target"], "worker");
    // The files are read, never rewritten.
    let on_disk = std::fs::read_to_string(city.path().join("orders/breakfast.toml")).unwrap();
    assert_eq!(on_disk, ORDER);
}

#[test]
fn unsupported_features_are_each_reported_at_their_key_and_nothing_is_applied() {
    let city = city();
    city.write(
        "formulas/pancakes.formula.toml",
        &format!("{FORMULA}\n[steps.drain]\nformula = \"x\"\n\n[steps.tally]\nvotes = 2\n"),
    );
    city.write("orders/breakfast.toml", &format!("{ORDER}tz = \"Europe/Paris\"\n"));
    let (code, rows) = findings(&mut city.gc());
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        [
            row("formulas/pancakes.formula.toml", 17, 8, "unsupported-gas-city-feature"),
            row("formulas/pancakes.formula.toml", 20, 8, "unsupported-gas-city-feature"),
            row("orders/breakfast.toml", 7, 1, "unsupported-gas-city-feature"),
        ]
    );
    let human = city.gc().arg("validate").output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout).into_owned()
        + &String::from_utf8_lossy(&human.stderr);
    assert!(text.contains("formulas/pancakes.formula.toml:17:8"), "{text}");
    assert!(
        text.contains(
            "`drain` (run an item formula per convoy member (graph.v2)) is a Gas City feature gc"
        ),
        "{text}"
    );
    assert!(text.contains("`tz` (the time zone"), "{text}");

    let github = city.gc().args(["validate", "-o", "github"]).output().unwrap();
    let github = String::from_utf8_lossy(&github.stdout);
    assert!(
        github.contains(
            "::error file=formulas/pancakes.formula.toml,line=20,col=8,endLine=20,endColumn=13,title=gc validate%3A unsupported-gas-city-feature::`tally`"
        ),
        "{github}"
    );

    city.gc().arg("apply").assert().code(1);
    let listed = city.gc().args(["get", "formulas"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("pancakes"));
}

#[test]
fn schema_and_reference_errors_point_into_the_gas_city_file() {
    let city = city();
    city.write(
        "orders/breakfast.toml",
        &ORDER.replace("interval = \"24h\"", "interval = \"daily\"").replace("worker", "cook"),
    );
    city.write(
        "formulas/pancakes.formula.toml",
        &FORMULA.replace("id = \"cook\"", "id = \"cook it\""),
    );
    let (code, rows) = findings(&mut city.gc());
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        [
            row("formulas/pancakes.formula.toml", 14, 6, "invalid-value"),
            row("orders/breakfast.toml", 5, 12, "invalid-value"),
        ]
    );
    // With the order's own fields valid, its references are checked, at the original keys.
    city.write("orders/breakfast.toml", &ORDER.replace("worker", "cook"));
    city.write("formulas/pancakes.formula.toml", &FORMULA.replace("[\"dry\"]", "[\"dyr\"]"));
    let (code, rows) = findings(&mut city.gc());
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        [
            row("formulas/pancakes.formula.toml", 15, 15, "unknown-reference"),
            row("orders/breakfast.toml", 6, 8, "unknown-reference"),
        ]
    );
}
