//! Gas Town's formula library (steveyegge/gastown, `internal/formula/formulas/`), which is not
//! part of this repository: set `GC_GASTOWN_FORMULAS` to a directory holding its
//! `*.formula.toml` files. Every file validates with no finding, every workflow and convoy
//! cooks (required vars given), and the sample city works a composed workflow and a convoy to
//! the end. Skipped without the directory, unless `GC_TEST_REQUIRE_GASTOWN=1`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::wait_until;
#[path = "common/sample.rs"]
mod sample;
use sample::{rig_beads, sample_city};

fn library() -> Option<PathBuf> {
    let dir = std::env::var_os("GC_GASTOWN_FORMULAS").map(PathBuf::from);
    if dir.is_none() && std::env::var("GC_TEST_REQUIRE_GASTOWN").as_deref() == Ok("1") {
        panic!("GC_TEST_REQUIRE_GASTOWN=1 but GC_GASTOWN_FORMULAS names no directory");
    }
    dir
}

/// `--var NAME=VALUE` for each var a cook needs (a number where it must be one).
fn needed_vars(compiled: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (name, var) in compiled["vars"].as_object().into_iter().flatten() {
        if var["required"] == true || var.get("requiredUnless").is_some() {
            let value = match (&var["enum"], var["pattern"].as_str()) {
                (Value::Array(allowed), _) => allowed[0].as_str().unwrap().to_owned(),
                (_, Some(p)) if p.contains("[0-9]") => "7".into(),
                _ => "x".into(),
            };
            out.push("--var".into());
            out.push(format!("{name}={value}"));
        }
    }
    out
}

#[test]
fn the_whole_gas_town_library_loads_cooks_and_is_worked_by_the_sample_city() {
    let Some(dir) = library() else {
        eprintln!("skipped: set GC_GASTOWN_FORMULAS to Gas Town's internal/formula/formulas");
        return;
    };
    let city = sample_city("gcl", "librarytown");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".formula.toml") {
            std::fs::copy(&path, city.path().join("formulas").join(path.file_name().unwrap()))
                .unwrap();
            files += 1;
        }
    }
    assert!(files > 40, "{} holds {files} formula files", dir.display());
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings, serde_json::json!([]), "every file loads with no finding");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);

    let listed: Value =
        serde_json::from_slice(&city.run(&["formula", "list", "-o", "json"]).stdout).unwrap();
    let mut cooked = 0;
    for formula in listed.as_array().unwrap() {
        let name = formula["name"].as_str().unwrap();
        if formula["usable"] != true {
            // Aspects apply to workflows; they are not cooked on their own.
            assert!(formula["error"].as_str().unwrap_or_default().contains("aspect"), "{formula}");
            continue;
        }
        let compiled: Value =
            serde_json::from_slice(&city.run(&["formula", "show", name, "--json"]).stdout).unwrap();
        let mut args =
            vec!["formula".to_owned(), "cook".into(), name.into(), "--rig".into(), "demo".into()];
        args.extend(needed_vars(&compiled));
        let out = city.gc().args(&args).output().unwrap();
        assert!(out.status.success(), "cook {name}: {}", String::from_utf8_lossy(&out.stderr));
        cooked += 1;
    }
    assert!(cooked >= files - 2, "{cooked} of {files} cooked");

    // A composed workflow and a convoy, slung to the sample pool, worked to the end.
    for (formula, vars) in [
        ("shiny-enterprise", vec!["--var", "feature=search"]),
        ("code-review", vec!["--var", "pr=12", "--var", "preset=gate"]),
    ] {
        let mut args = vec!["sling", "worker", "--formula", formula];
        args.extend(vars);
        city.run(&args);
    }
    wait_until("the pool to work both to the end", Duration::from_secs(240), || {
        let beads = rig_beads(&city);
        let slung: Vec<&Value> = beads
            .iter()
            .filter(|b| b["metadata"]["gc.routed_to"] == "worker")
            .filter(|b| {
                matches!(
                    b["metadata"]["gc.formula"].as_str(),
                    Some("shiny-enterprise" | "code-review")
                )
            })
            .collect();
        !slung.is_empty() && slung.iter().all(|b| b["status"] == "closed")
    });
}
