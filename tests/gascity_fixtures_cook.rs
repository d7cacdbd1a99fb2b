//! Gas City's fixture formulas (read where they are, see `common::gascity_fixtures`), all in one
//! sample city: each one cooks (its required vars given), and the sample pool works two of them
//! to the end, one of them Gas City's v2 scoped workflow with retried steps.

use std::time::Duration;

use serde_json::Value;

mod common;
#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::wait_until;
#[path = "common/sample.rs"]
mod sample;
use sample::{load_and_cook_all, rig_beads, sample_city};

#[test]
fn every_gas_city_fixture_formula_cooks_and_the_pool_works_a_scoped_one_to_the_end() {
    let Some(root) = common::gascity_fixtures() else {
        eprintln!("skipped: no Gas City fixtures (set GC_GASCITY_FIXTURES)");
        return;
    };
    let city = sample_city("gcx", "fixturetown");
    let mut files = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.parent().is_some_and(|p| p.ends_with("formulas"))
                && path.extension().is_some_and(|e| e == "toml")
            {
                files.push(path);
            }
        }
    }
    let (cooked, unusable) = load_and_cook_all(&city, &files);
    assert!(unusable.is_empty(), "{unusable:#?}");
    assert!(cooked >= 25, "{cooked} cooked");

    // Slung to the pool: the plain pancakes, and the v2 scoped workflow whose every step is a
    // retried attempt inside a scope with a teardown.
    city.run(&["sling", "worker", "--formula", "pancakes"]);
    city.run(&["sling", "worker", "--formula", "mol-scoped-work", "--var", "issue=dm-1"]);
    let slung = |beads: &[Value]| -> Vec<Value> {
        beads
            .iter()
            .filter(|b| {
                b["metadata"]["gc.routed_to"] == "worker" || b["assignee"] == "gc-controller"
            })
            .filter(|b| {
                matches!(b["metadata"]["gc.formula"].as_str(), Some("pancakes" | "mol-scoped-work"))
            })
            .cloned()
            .collect()
    };
    wait_until("the pool and the controller to finish both", Duration::from_secs(180), || {
        let beads = slung(&rig_beads(&city));
        !beads.is_empty() && beads.iter().all(|b| b["status"] == "closed")
    });
    let beads = rig_beads(&city);
    // A step's bead: the latch or control bead (`gc-controller`'s), or the attempt an agent did.
    let step = |id: &str, by_controller: bool| {
        beads
            .iter()
            .find(|b| {
                b["metadata"]["gc.formula"] == "mol-scoped-work"
                    && b["metadata"]["gc.step"] == id
                    && (b["assignee"] == "gc-controller") == by_controller
            })
            .unwrap_or_else(|| panic!("no step {id}"))
            .clone()
    };
    let body = step("body", true);
    assert_eq!(body["metadata"]["gc.outcome"], "pass", "{body}");
    assert_eq!(step("implement", true)["metadata"]["gc.outcome"], "pass");
    let cleanup = step("cleanup-worktree", false);
    let time = |b: &Value, f: &str| b[f].as_str().unwrap().to_owned();
    assert!(
        time(&body, "closed_at") <= time(&cleanup, "started_at"),
        "the teardown waits for the body"
    );
}
