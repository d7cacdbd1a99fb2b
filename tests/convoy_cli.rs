//! Convoys end to end in the sample city: a batch of beads tracked with `gc convoy`, routed to
//! the sample pool and worked to the end; a convoy formula's legs and synthesis cooked and
//! worked in order; progress in `gc convoy status`, `gc status` and landing.

use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};
#[path = "common/sample.rs"]
mod sample;
use sample::{rig_beads, sample_city};

/// A convoy formula in Gas Town's own form: legs with a base prompt, and a synthesis.
const REVIEW: &str = r#"
formula = "quick-review"
type = "convoy"
description = "Two reviewers, then a summary"
[inputs.pr]
description = "The pull request"
type = "number"
required_unless = ["files"]
[inputs.files]
description = "Files to review"
[prompts]
base = """
Review {{.target_description}} for {{.leg.focus}}.
Write to {{.output_path}}."""
[output]
directory = ".reviews/{{.review_id}}"
leg_pattern = "{{.leg.id}}.md"
[[legs]]
id = "correctness"
title = "Correctness"
focus = "logic errors"
[[legs]]
id = "security"
title = "Security"
focus = "vulnerabilities"
review_only = true
[synthesis]
title = "Summary"
[presets.light]
legs = ["security"]
"#;

fn json(city: &TmuxCity, args: &[&str]) -> Value {
    let out = city.run(args);
    assert!(out.status.success(), "gc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("gc {args:?}: {e}"))
}

/// Runs gc expecting it to fail; its stderr.
fn fails(city: &TmuxCity, args: &[&str]) -> String {
    let out = city.gc().args(args).output().unwrap();
    assert!(!out.status.success(), "gc {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn create_in_rig(city: &TmuxCity, title: &str) -> String {
    let out = city
        .gc()
        .args(["bd", "create", title, "--json"])
        .current_dir(city.path().join("rigs/demo-repo"))
        .output()
        .unwrap();
    let bead: Value = serde_json::from_slice(&out.stdout).unwrap();
    bead["id"].as_str().unwrap().to_owned()
}

#[test]
fn a_convoy_is_fed_to_the_pool_tracked_to_the_end_and_landed() {
    let city = sample_city("gcv", "convoytown");
    city.write("formulas/quick-review.formula.toml", REVIEW);
    city.run(&["apply"]);
    // The controller makes the rig's store; the beads are made there, routed to no one yet.
    city.run(&["start", "--timeout", "60s"]);
    let ids: Vec<String> = (1..=3).map(|i| create_in_rig(&city, &format!("Part {i}"))).collect();

    let made = json(
        &city,
        &[
            "convoy",
            "create",
            "Release 1.4",
            &ids[0],
            &ids[1],
            &ids[2],
            "--route",
            "worker",
            "-o",
            "json",
        ],
    );
    let convoy = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["progress"]["total"], 3, "{made}");
    assert!(made["members"].as_array().unwrap().iter().all(|m| m["rig"] == "demo"), "{made}");
    // Not done, so it does not land (and nothing changes).
    assert!(fails(&city, &["convoy", "land", &convoy]).contains("is not done"));
    // A missing bead is named and nothing is created.
    assert!(fails(&city, &["convoy", "create", "Broken", "dm-nope"]).contains("dm-nope"));
    assert_eq!(json(&city, &["convoy", "list", "-o", "json"]).as_array().unwrap().len(), 1);

    // A convoy formula: its inputs checked, then legs, synthesis and prompts cooked.
    let err = fails(&city, &["sling", "worker", "--formula", "quick-review"]);
    assert!(err.contains("give one of the vars pr, files"), "{err}");
    let out = city.run(&["sling", "worker", "--formula", "quick-review", "--var", "pr=42"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = json(&city, &["convoy", "list", "-o", "json"]);
    let review =
        listed.as_array().unwrap().iter().find(|c| c["id"] != convoy.as_str()).unwrap().clone();
    let review_id = review["id"].as_str().unwrap().to_owned();
    let titles: Vec<&str> = review["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Correctness", "Security", "Summary"], "{review}");
    let beads = rig_beads(&city);
    let security = beads.iter().find(|b| b["title"] == "Security").unwrap();
    let text = security["description"].as_str().unwrap();
    assert!(text.contains("Review PR #42 for vulnerabilities."), "{text}");
    assert!(text.contains("Write to .reviews/quick-review-"), "{text}");
    assert!(text.contains("/security.md"), "{text}");
    assert_eq!(security["metadata"]["gc.review_only"], "true");

    // The pool works both; progress shows in gc convoy status and gc status.
    wait_until("both convoys' members to close", Duration::from_secs(120), || {
        let release = json(&city, &["convoy", "status", &convoy, "-o", "json"]);
        let beads = rig_beads(&city);
        release["progress"]["closed"] == 3
            && beads
                .iter()
                .filter(|b| b["metadata"]["gc.formula"] == "quick-review")
                .all(|b| b["status"] == "closed")
    });
    let status = json(&city, &["status", "-o", "json"]);
    let shown = status["convoys"].as_array().unwrap();
    assert!(
        shown.iter().any(|c| c["id"] == convoy.as_str() && c["progress"]["closed"] == 3),
        "{status}"
    );
    let beads = rig_beads(&city);
    let time = |title: &str, field: &str| {
        beads.iter().find(|b| b["title"] == title).unwrap()[field].as_str().unwrap().to_owned()
    };
    assert!(
        time("Correctness", "closed_at") <= time("Summary", "started_at"),
        "the summary waits for the legs"
    );
    assert!(time("Security", "closed_at") <= time("Summary", "started_at"));
    // The formula's convoy landed with its last member; the batch lands by hand.
    let review = json(&city, &["convoy", "status", &review_id, "-o", "json"]);
    assert_eq!(review["status"], "closed", "{review}");
    let out = city.run(&["convoy", "land", &convoy]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(json(&city, &["convoy", "list", "-o", "json"]).as_array().unwrap().is_empty());
    assert_eq!(
        json(&city, &["convoy", "list", "--all", "-o", "json"]).as_array().unwrap().len(),
        2
    );
}
