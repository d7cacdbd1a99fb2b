//! The built-in sample city (`gc init`) on a tmux socket of its own, for end-to-end tests
//! where its script agents do real work. Include next to `common/tmux.rs` as `tmux_city`.
#![allow(dead_code)] // each test crate uses its own subset

use serde_json::Value;

use super::tmux_city::TmuxCity;

/// `gc init` into a fresh directory named `name`, its sessions on the city's own socket.
pub fn sample_city(tag: &str, name: &str) -> TmuxCity {
    let city = TmuxCity::new(tag);
    let path = city.path();
    city.run(&["init", path.to_str().unwrap(), "--name", name]);
    let city_yaml = path.join("city.yaml");
    let text = std::fs::read_to_string(&city_yaml).unwrap();
    let text = text.replacen(
        "    backend: tmux\n",
        &format!("    backend: tmux\n    socket: {}\n", city.socket),
        1,
    );
    assert!(text.contains(&city.socket), "the sample city.yaml changed shape");
    std::fs::write(&city_yaml, text).unwrap();
    city
}

/// Every bead of the sample city's demo rig, closed ones included.
pub fn rig_beads(city: &TmuxCity) -> Vec<Value> {
    let out = city
        .gc()
        .args(["bd", "list", "--all", "--limit", "0", "--json"])
        .current_dir(city.path().join("rigs/demo-repo"))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// Copies formula `files` into `city`, checks they validate with no finding, applies and
/// starts the city, then cooks every usable formula into the city's store (its needed vars
/// given: the first allowed value, a number where a pattern asks for digits, else `x`).
/// Returns how many were cooked and the formulas that are not usable on their own.
pub fn load_and_cook_all(city: &TmuxCity, files: &[std::path::PathBuf]) -> (usize, Vec<Value>) {
    for file in files {
        std::fs::copy(file, city.path().join("formulas").join(file.file_name().unwrap())).unwrap();
    }
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings, serde_json::json!([]), "every file loads with no finding");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    let listed: Value =
        serde_json::from_slice(&city.run(&["formula", "list", "-o", "json"]).stdout).unwrap();
    let (mut cooked, mut unusable) = (0, Vec::new());
    for formula in listed.as_array().unwrap() {
        let name = formula["name"].as_str().unwrap();
        if formula["usable"] != true {
            unusable.push(formula.clone());
            continue;
        }
        let shown: Value =
            serde_json::from_slice(&city.run(&["formula", "show", name, "--json"]).stdout).unwrap();
        // Into the city's store: the rig's is for what the pool works.
        let mut args = vec!["formula".to_owned(), "cook".into(), name.into()];
        for (var, spec) in shown["vars"].as_object().into_iter().flatten() {
            if spec["required"] == true || spec.get("requiredUnless").is_some() {
                let value = match (&spec["enum"], spec["pattern"].as_str()) {
                    (Value::Array(allowed), _) => allowed[0].as_str().unwrap().to_owned(),
                    (_, Some(p)) if p.contains("[0-9]") => "7".into(),
                    _ => "x".into(),
                };
                args.extend(["--var".to_owned(), format!("{var}={value}")]);
            }
        }
        let out = city.gc().args(&args).output().unwrap();
        assert!(out.status.success(), "cook {name}: {}", String::from_utf8_lossy(&out.stderr));
        cooked += 1;
    }
    (cooked, unusable)
}
