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
use sample::{load_and_cook_all, rig_beads, sample_city};

fn library() -> Option<PathBuf> {
    let dir = std::env::var_os("GC_GASTOWN_FORMULAS").map(PathBuf::from);
    if dir.is_none() && std::env::var("GC_TEST_REQUIRE_GASTOWN").as_deref() == Ok("1") {
        panic!("GC_TEST_REQUIRE_GASTOWN=1 but GC_GASTOWN_FORMULAS names no directory");
    }
    dir
}

#[test]
fn the_whole_gas_town_library_loads_cooks_and_is_worked_by_the_sample_city() {
    let Some(dir) = library() else {
        eprintln!("skipped: set GC_GASTOWN_FORMULAS to Gas Town's internal/formula/formulas");
        return;
    };
    let city = sample_city("gcl", "librarytown");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".formula.toml"))
        .collect();
    assert!(files.len() > 40, "{} holds {} formula files", dir.display(), files.len());
    let (cooked, unusable) = load_and_cook_all(&city, &files);
    // Aspects apply to workflows; they are not cooked on their own.
    for formula in &unusable {
        assert!(formula["error"].as_str().unwrap_or_default().contains("aspect"), "{formula}");
    }
    assert!(cooked >= files.len() - 2, "{cooked} of {} cooked", files.len());

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
