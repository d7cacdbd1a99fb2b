//! Formulas end to end: validation that resolves `extends`, cooking into a bead graph, and a
//! slung molecule whose steps the agent's hook hands out in dependency order — first by
//! hand through the CLI, then worked by the sample city's real agents under a controller.

use std::time::Duration;

use serde_json::Value;

mod common;
use common::City;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::wait_until;
#[path = "common/sample.rs"]
mod sample;
use sample::{rig_beads, sample_city};

const WORKER: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec:
  scaling: {min: 0, max: 2}
";

const BASE: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: base
spec:
  description: Shared steps for {{issue}}
  vars:
    issue: {required: true, description: the bead to work on}
    branch: {default: main}
  steps:
    - {id: load, title: 'Load {{issue}}'}
    - {id: setup, title: 'Check out {{branch}}', needs: [load]}
";

const VARIANT: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: variant
spec:
  extends: [base]
  steps:
    - {id: setup, title: 'Make a worktree off {{branch}}', needs: [load]}
    - id: build
      title: Build
      needs: [setup]
      children:
        - {id: compile, title: Compile}
        - {id: link, title: Link, needs: [compile]}
    - {id: submit, title: 'Submit {{issue}}', needs: [build, missing-step]}
";

const ORDER: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Order
metadata:
  name: nightly
spec:
  gate: {manual: {}}
  formula: variant
  vars: {isue: gc-1}
";

fn run(city: &City, args: &[&str]) -> (bool, String, String) {
    let out = city.gc().env("BEADS_ACTOR", "worker-1").args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn ok(city: &City, args: &[&str]) -> String {
    let (success, stdout, stderr) = run(city, args);
    assert!(success, "gc {args:?} failed:\n{stdout}{stderr}");
    stdout
}

#[test]
fn a_slung_formula_is_validated_cooked_and_handed_out_in_dependency_order() {
    let city = City::new(WORKER);
    city.write("formulas/base.yaml", BASE);
    city.write("formulas/variant.yaml", VARIANT);
    city.write("orders/nightly.yaml", ORDER);

    // Inherited steps can be needed; a missing one is named at its line, as are the order's
    // wrong var and the required var it leaves unset.
    let (valid, stderr, _) = run(&city, &["validate"]);
    assert!(!valid);
    assert!(stderr.contains("step `submit` needs unknown step `missing-step`"), "{stderr}");
    assert!(stderr.contains("formulas/variant.yaml:15:"), "{stderr}");
    assert!(!stderr.contains("needs unknown step `load`"), "inherited steps resolve: {stderr}");

    city.write("formulas/variant.yaml", &VARIANT.replace(", missing-step", ""));
    let (valid, stdout, _) = run(&city, &["validate"]);
    assert!(!valid);
    assert!(stdout.contains("formula `variant` has no var `isue`"), "{stdout}");
    assert!(stdout.contains("orders/nightly.yaml:8:10"), "{stdout}");
    assert!(stdout.contains("help: did you mean `issue`?"), "{stdout}");
    assert!(stdout.contains("formula `variant` needs var `issue`"), "{stdout}");
    city.write("orders/nightly.yaml", &ORDER.replace("isue", "issue"));
    ok(&city, &["validate"]);
    ok(&city, &["apply"]);

    let list = ok(&city, &["formula", "list"]);
    let variant_row = list.lines().find(|l| l.starts_with("variant")).unwrap();
    assert!(
        variant_row.contains(" 6 ")
            && variant_row.contains(" base ")
            && variant_row.contains("yes"),
        "{list}"
    );

    let show = ok(&city, &["formula", "show", "variant", "--var", "issue=gc-9"]);
    let order: Vec<&str> = show
        .lines()
        .filter_map(|l| {
            l.trim().split_once(". ").map(|(_, rest)| rest.split_whitespace().next().unwrap())
        })
        .collect();
    assert_eq!(order, ["load", "setup", "build", "compile", "link", "submit"], "{show}");
    assert!(
        show.contains("Make a worktree off main"),
        "the variant's step replaces the base's: {show}"
    );

    // A missing required var creates nothing.
    let (cooked, _, stderr) = run(&city, &["sling", "worker", "--formula", "variant"]);
    assert!(!cooked);
    assert!(
        stderr.contains("missing required var `issue`") && stderr.contains("nothing was created"),
        "{stderr}"
    );
    assert_eq!(ok(&city, &["bd", "list", "--all", "--json"]).trim(), "[]");

    let out =
        ok(&city, &["sling", "worker", "--formula", "variant", "--var", "issue=gc-9", "--json"]);
    let cooked: Value = serde_json::from_str(&out).unwrap();
    let root = cooked["root"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cooked["root"]["issue_type"], "molecule");
    let steps = cooked["steps"].as_array().unwrap();
    let step_of = |id: &str| {
        steps.iter().find(|s| s["id"] == id).unwrap()["metadata"]["gc.step"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ids: Vec<&str> = steps.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(steps[5]["title"], "Submit gc-9");
    assert!(steps.iter().all(|s| s["metadata"]["gc.routed_to"] == "worker"));

    // The worker takes what its hook offers, one at a time, closing each.
    let mut worked = Vec::new();
    loop {
        let (has_work, out, _) = run(&city, &["hook", "worker", "--json"]);
        if !has_work || out.trim().is_empty() {
            break;
        }
        let bead: Value = serde_json::from_str(&out).unwrap();
        let id = bead["id"].as_str().unwrap().to_owned();
        assert_ne!(id, root, "the molecule's root is not work");
        ok(&city, &["bd", "update", &id, "--claim"]);
        ok(&city, &["bd", "close", &id]);
        worked.push(step_of(&id));
        assert!(worked.len() <= 6, "the hook keeps offering work: {worked:?}");
    }
    assert_eq!(worked, ["load", "setup", "build", "compile", "link", "submit"]);
    let root_now: Value =
        serde_json::from_str(&ok(&city, &["bd", "show", &root, "--json"])).unwrap();
    let root_now = if root_now.is_array() { root_now[0].clone() } else { root_now };
    assert_eq!(root_now["status"], "closed", "the molecule closes with its last step");
}

#[test]
fn the_sample_pool_works_a_slung_formula_in_order_and_the_controller_tracks_usability() {
    let city = sample_city("gcf", "formtown");
    city.write(
        "formulas/patrol-plus.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: patrol-plus\nspec:\n  \
         extends: [patrol]\n  steps:\n    - {id: report, title: Report, needs: [tidy], gate: {type: timer, \
         timeout: 2s}}\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_until("the formula controller to compile patrol-plus", Duration::from_secs(30), || {
        city.status("formulas", "patrol-plus")["usable"] == true
    });
    let get = String::from_utf8(city.run(&["get", "formulas"]).stdout).unwrap();
    assert!(get.lines().any(|l| l.starts_with("patrol-plus") && l.contains("true")), "{get}");

    let out = city.run(&["sling", "worker", "--formula", "patrol-plus"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("3 steps, 1 gate(s), routed to worker"), "{text}");
    // The report step's timer gate is opened by the controller, nobody runs `bd gate check`.
    wait_until("the pool to finish the molecule", Duration::from_secs(120), || {
        let beads = rig_beads(&city);
        beads.len() == 5 && beads.iter().all(|b| b["status"] == "closed")
    });
    let beads = rig_beads(&city);
    let step =
        |name: &str| beads.iter().find(|b| b["metadata"]["gc.step"] == name).unwrap().clone();
    let (scan, tidy, report) = (step("scan"), step("tidy"), step("report"));
    let time = |b: &Value, field: &str| b[field].as_str().unwrap().to_owned();
    // RFC 3339 UTC times of one clock compare as text.
    assert!(
        time(&scan, "closed_at") <= time(&tidy, "started_at"),
        "tidy began before scan was done"
    );
    assert!(
        time(&tidy, "closed_at") <= time(&report, "started_at"),
        "report began before tidy was done"
    );
    let gate = beads.iter().find(|b| b["issue_type"] == "gate").unwrap();
    assert!(gate["close_reason"].as_str().unwrap().starts_with("timer expired"), "{gate}");
    assert!(time(gate, "closed_at") <= time(&report, "started_at"), "report began before its gate");
    let created = chrono::DateTime::parse_from_rfc3339(&time(gate, "created_at")).unwrap();
    let opened = chrono::DateTime::parse_from_rfc3339(&time(gate, "closed_at")).unwrap();
    assert!(opened - created >= chrono::Duration::seconds(2), "the timer opened early: {gate}");
    for b in [&scan, &tidy, &report] {
        assert!(b["assignee"].as_str().unwrap().starts_with("worker"), "{b}");
    }

    // The controller notices a formula losing the one it extends.
    city.run(&["delete", "formula/patrol"]);
    wait_until("patrol-plus to become unusable", Duration::from_secs(30), || {
        city.status("formulas", "patrol-plus")["usable"] == false
    });
    let status = city.status("formulas", "patrol-plus");
    assert_eq!(status["error"]["message"], "`patrol-plus` extends `patrol`, which is not applied");
    assert_eq!(status["error"]["location"], "formulas/patrol-plus.yaml:6:12", "{status}");
}

#[test]
fn an_aspect_without_advice_is_named_where_its_type_is_declared() {
    let city = City::new(WORKER);
    city.write(
        "formulas/weave.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: weave\nspec:\n  \
         type: aspect\n  steps: [{id: x, title: X}]\n",
    );
    let (valid, stdout, _) = run(&city, &["validate", "--output", "json"]);
    assert!(!valid);
    let findings: Value = serde_json::from_str(&stdout).unwrap();
    let finding = &findings[0];
    assert_eq!(finding["code"], "missing-field", "{stdout}");
    assert_eq!(finding["line"], 6, "{stdout}");
    assert_eq!(finding["message"], "an aspect formula needs `advice`", "{stdout}");
}

#[test]
fn a_step_that_requires_a_commit_is_closed_only_with_one_that_exists() {
    let city = City::new(WORKER);
    city.write(
        "formulas/ship.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: ship\nspec:\n  \
         steps:\n    - {id: plan, title: Plan}\n    - {id: ship, title: Ship it, needs: [plan], \
         requireCommit: true}\n",
    );
    ok(&city, &["validate"]);
    ok(&city, &["apply"]);
    let out = ok(&city, &["sling", "worker", "--formula", "ship", "--json"]);
    let cooked: Value = serde_json::from_str(&out).unwrap();
    let step = |name: &str| {
        let steps = cooked["steps"].as_array().unwrap();
        steps.iter().find(|s| s["metadata"]["gc.step"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (plan, ship) = (step("plan"), step("ship"));
    ok(&city, &["bd", "close", &plan]);
    // Nothing to prove it with: refused, saying what to do.
    let (closed, _, stderr) = run(&city, &["bd", "close", &ship]);
    assert!(!closed);
    assert!(stderr.contains("its formula step needs the commit that did the work"), "{stderr}");
    // In a checkout, with a commit that exists there: taken and recorded.
    let repo = city.path().join("project");
    std::fs::create_dir_all(&repo).unwrap();
    tmux_city::git(&repo, &["init", "-q"]);
    tmux_city::git(&repo, &["commit", "-q", "--allow-empty", "-m", "shipped"]);
    let head = tmux_city::git(&repo, &["rev-parse", "HEAD"]);
    let out = city
        .gc()
        .env("BEADS_ACTOR", "worker-1")
        .env("GC_CITY", city.path())
        .current_dir(&repo)
        .args(["bd", "close", &ship, "--commit", &head, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let closed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(closed[0]["metadata"]["gc.commit"], head.as_str(), "{closed}");
}

#[test]
fn a_step_gate_missing_what_it_waits_for_is_named_at_its_line() {
    let city = City::new(WORKER);
    city.write(
        "formulas/gated.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: gated\nspec:\n  \
         steps:\n    - id: wait\n      title: Wait\n      gate: {type: timer}\n    - id: ci\n      \
         title: CI\n      gate: {type: 'gh:run'}\n    - id: bad\n      title: Bad\n      \
         gate: {type: carrier-pigeon}\n",
    );
    // A type gc does not know is a schema error, named where it is written.
    let (valid, stdout, _) = run(&city, &["validate", "--output", "json"]);
    assert!(!valid);
    let findings: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(findings[0]["line"], 15, "{stdout}");
    assert!(findings[0]["message"].as_str().unwrap().contains("carrier-pigeon"), "{stdout}");

    city.write(
        "formulas/gated.yaml",
        &std::fs::read_to_string(city.path().join("formulas/gated.yaml"))
            .unwrap()
            .replace("carrier-pigeon", "human"),
    );
    let (valid, stdout, _) = run(&city, &["validate", "--output", "json"]);
    assert!(!valid);
    let findings: Value = serde_json::from_str(&stdout).unwrap();
    let at = |needle: &str| {
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["message"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no finding with {needle}: {stdout}"))
            .clone()
    };
    let timer = at("a timer gate needs `timeout`");
    assert_eq!(
        (timer["line"].as_u64(), timer["file"].as_str()),
        (Some(9), Some("formulas/gated.yaml"))
    );
    assert_eq!(at("a `gh:run` gate needs `awaitId`")["line"], 12);
    assert_eq!(findings.as_array().unwrap().len(), 2, "{stdout}");
}

/// Retry and ralph steps, run by the controller around the sample agents' attempts.
const FLAKY: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: flaky
spec:
  steps:
    - id: build
      title: Build
      description: 'sample-agent: fail attempt 1 transient'
      retry: {maxAttempts: 3}
    - id: verify
      title: Verify
      needs: [build]
      ralph:
        maxAttempts: 3
        check: {mode: exec, path: scripts/check-verify.sh, timeout: 10s}
    - {id: ship, title: Ship, needs: [verify]}
    - id: doomed
      title: Doomed
      description: 'sample-agent: fail attempt 1 hard'
      retry: {maxAttempts: 3}
    - {id: after-doomed, title: After doomed, needs: [doomed]}
";

#[test]
fn the_controller_retries_failed_attempts_reruns_ralph_steps_and_keeps_hard_failures() {
    let city = sample_city("gcr", "retrytown");
    city.write("formulas/flaky.yaml", FLAKY);
    // The check passes from the second iteration on.
    let check = city.path().join("scripts/check-verify.sh");
    std::fs::write(
        &check,
        "#!/bin/sh\n[ \"$GC_ITERATION\" -ge 2 ] || { echo 'not yet' >&2; exit 1; }\n",
    )
    .unwrap();
    std::fs::set_permissions(&check, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    let out = city.run(&["sling", "worker", "--formula", "flaky"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let of_step = |beads: &[Value], step: &str| -> Vec<Value> {
        beads.iter().filter(|b| b["metadata"]["gc.step"] == step).cloned().collect()
    };
    let control = |beads: &[Value], step: &str| -> Value {
        of_step(beads, step).into_iter().find(|b| b["assignee"] == "gc-controller").unwrap()
    };
    wait_until("ship to be done and doomed to be kept", Duration::from_secs(120), || {
        let beads = rig_beads(&city);
        of_step(&beads, "ship").first().is_some_and(|b| b["status"] == "closed")
            && of_step(&beads, "doomed").iter().any(|b| b["status"] == "blocked")
    });
    let beads = rig_beads(&city);
    // Build: attempt 1 failed (transient), attempt 2 passed; the step passed.
    let build = control(&beads, "build");
    assert_eq!(build["metadata"]["gc.outcome"], "pass", "{build}");
    let log = build["metadata"]["gc.attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{build}");
    assert_eq!(log[0]["result"], "transient: sample failure");
    let attempts: Vec<Value> =
        of_step(&beads, "build").into_iter().filter(|b| b["assignee"] != "gc-controller").collect();
    assert_eq!(attempts.len(), 2);
    assert!(attempts.iter().all(|a| a["assignee"].as_str().unwrap().starts_with("worker")));
    // Verify: the check failed after iteration 1 and passed after 2.
    let verify = control(&beads, "verify");
    assert_eq!(verify["metadata"]["gc.attempt_log"][0]["result"], "check failed: exit 1: not yet");
    assert_eq!(verify["metadata"]["gc.outcome"], "pass");
    let ship = &of_step(&beads, "ship")[0];
    let time = |b: &Value, f: &str| b[f].as_str().unwrap().to_owned();
    assert!(
        time(&verify, "closed_at") <= time(ship, "started_at"),
        "ship began before verify passed"
    );
    // Doomed failed for good: kept for a person, and what follows it never started.
    let doomed = control(&beads, "doomed");
    assert!(doomed["labels"].as_array().unwrap().iter().any(|l| l == "human"), "{doomed}");
    let after = &of_step(&beads, "after-doomed")[0];
    assert_eq!(after["status"], "open", "{after}");
    assert!(after.get("started_at").is_none());
    let human = city
        .gc()
        .args(["bd", "human", "list", "--json"])
        .current_dir(city.path().join("rigs/demo-repo"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains(doomed["id"].as_str().unwrap()));
}

/// Gas Town's composition, as its files are written: a workflow, an expansion that replaces
/// its `implement` step, an aspect wrapping steps with security scans, and workflows that
/// extend the first one with each.
const SHINY: &str = r#"
formula = "shiny"
[vars.feature]
required = true
[[steps]]
id = "design"
title = "Design {{feature}}"
acceptance = "Design doc committed"
[[steps]]
id = "implement"
title = "Implement {{feature}}"
description = "Write the code for {{feature}}."
needs = ["design"]
[[steps]]
id = "review"
title = "Review implementation"
needs = ["implement"]
[[steps]]
id = "submit"
title = "Submit for merge"
needs = ["review"]
"#;

const RULE_OF_TWO: &str = r#"
formula = "rule-of-two"
type = "expansion"
[vars.focus]
default = "correctness"
[[template]]
id = "{target}.draft"
title = "Draft: {target.title}"
description = "First attempt at: {target.description}"
[[template]]
id = "{target}.refine"
title = "Refine for {focus}"
needs = ["{target}.draft"]
"#;

const SECURITY: &str = r#"
formula = "security-audit"
type = "aspect"
[[advice]]
target = "*"
[advice.around]
[[advice.around.before]]
id = "{step.id}-prescan"
title = "Security prescan for {step.id}"
[[advice.around.after]]
id = "{step.id}-postscan"
title = "Security postscan for {step.id}"
[[pointcuts]]
glob = "implement"
"#;

#[test]
fn expansions_and_aspects_weave_into_a_workflow_and_cook_as_the_graph_says() {
    let city = City::new(WORKER);
    city.write("formulas/shiny.formula.toml", SHINY);
    city.write("formulas/rule-of-two.formula.toml", RULE_OF_TWO);
    city.write("formulas/security-audit.formula.toml", SECURITY);
    city.write(
        "formulas/shiny-enterprise.formula.toml",
        "formula = \"shiny-enterprise\"\nextends = [\"shiny\"]\n[[compose.expand]]\ntarget = \
         \"implement\"\nwith = \"rule-of-two\"\nvars = { focus = \"clarity\" }\n",
    );
    city.write(
        "formulas/shiny-secure.formula.toml",
        "formula = \"shiny-secure\"\nextends = [\"shiny\"]\n[compose]\naspects = [\"security-audit\"]\n",
    );
    ok(&city, &["validate"]);
    ok(&city, &["apply"]);

    let graph = |name: &str| -> Vec<(String, Vec<String>)> {
        let compiled: Value =
            serde_json::from_str(&ok(&city, &["formula", "show", name, "--json"])).unwrap();
        compiled["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let needs = s["needs"].as_array().map_or(Vec::new(), |n| {
                    n.iter().map(|x| x.as_str().unwrap().to_owned()).collect()
                });
                (s["id"].as_str().unwrap().to_owned(), needs)
            })
            .collect()
    };
    let owned = |pairs: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(id, n)| (id.to_string(), n.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    // The expansion takes implement's place: its first step what implement needed, and what
    // needed implement now needs its last.
    assert_eq!(
        graph("shiny-enterprise"),
        owned(&[
            ("design", &[]),
            ("implement.draft", &["design"]),
            ("implement.refine", &["implement.draft"]),
            ("review", &["implement.refine"]),
            ("submit", &["review"]),
        ])
    );
    // The aspect wraps only what its pointcut selects.
    assert_eq!(
        graph("shiny-secure"),
        owned(&[
            ("design", &[]),
            ("implement-prescan", &[]),
            ("implement", &["design", "implement-prescan"]),
            ("implement-postscan", &["implement"]),
            ("review", &["implement"]),
            ("submit", &["review"]),
        ])
    );
    // Cooked, the template's placeholders are filled and the cook-time vars after them.
    let cooked: Value = serde_json::from_str(&ok(
        &city,
        &["formula", "cook", "shiny-enterprise", "--var", "feature=search", "--json"],
    ))
    .unwrap();
    let titles: Vec<&str> =
        cooked["steps"].as_array().unwrap().iter().map(|b| b["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "Design search",
            "Draft: Implement search",
            "Refine for clarity",
            "Review implementation",
            "Submit for merge"
        ]
    );
    assert_eq!(cooked["steps"][1]["description"], "First attempt at: Write the code for search.");
    assert_eq!(cooked["steps"][0]["acceptance_criteria"], "Design doc committed");
    // The graph, drawn: an edge from each need to what needs it.
    let dot = ok(&city, &["formula", "show", "shiny-enterprise", "--dot"]);
    assert!(dot.starts_with("digraph \"shiny-enterprise\" {"), "{dot}");
    assert!(dot.contains("\"implement.refine\" -> \"review\";"), "{dot}");
    assert!(!dot.contains("\"implement\" ->"), "the replaced step is gone: {dot}");
    // An expansion cooks on its own against a stand-in target.
    assert_eq!(graph("rule-of-two")[0].0, "main.draft");

    // A compose rule naming a missing formula is named where it is written.
    city.write(
        "formulas/shiny-broken.formula.toml",
        "formula = \"shiny-broken\"\nextends = [\"shiny\"]\n[[compose.expand]]\ntarget = \
         \"implement\"\nwith = \"rule-of-nine\"\n",
    );
    let (valid, stdout, _) = run(&city, &["validate", "--output", "json"]);
    assert!(!valid);
    assert!(stdout.contains("expansion `rule-of-nine` is not applied"), "{stdout}");
    assert!(stdout.contains("formulas/shiny-broken.formula.toml"), "{stdout}");
}
