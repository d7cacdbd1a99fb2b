//! The bd verbs of workflows, end to end in a city on its real store: `bd mol pour|wisp|bond|
//! squash` instantiating the city's applied formulas, `bd mol wisp list|gc`, gates
//! (`bd gate create|list|show|check|resolve`, `bd ready --gated`), `bd human`, and `bd close`'s
//! default reason and guards.

use serde_json::Value;

mod common;
use common::City;

const WORKER: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec: {}
";

/// A liquid formula with a declared `title` var (it names the molecule) and three steps.
const RELEASE: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: release
spec:
  description: Ship {{version}}
  vars:
    version: {required: true}
    title: {default: 'Release'}
  steps:
    - {id: build, title: 'Build {{version}}'}
    - {id: test, title: 'Test {{version}}', needs: [build]}
    - {id: publish, title: 'Publish {{version}}', needs: [test]}
";

/// A vapor formula: a wisp of it is its root alone, the agent following the description.
const PATROL: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: patrol
spec:
  description: Walk the rounds on {{target_branch}}
  phase: vapor
  vars:
    target_branch: {default: main}
  steps:
    - {id: look, title: Look around}
    - {id: report, title: Report, needs: [look]}
";

/// Gates, acceptance criteria, review-only work and a digest when done.
const DEPLOY: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: deploy
spec:
  reviewOnly: true
  squash: {templateType: operational, includeMetrics: true}
  vars:
    pr: {default: '7'}
  steps:
    - id: approve
      title: Approve
      gate: {type: human}
    - id: soak
      title: Soak
      needs: [approve]
      gate: {type: timer, timeout: 0s}
    - id: ship
      title: Ship PR {{pr}}
      needs: [soak]
      acceptance: PR {{pr}} is live
      gate: {type: gh:pr, awaitId: '{{pr}}'}
";

/// Steps that wait for the children another step gets while the molecule runs.
const FANIN: &str = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: fanin
spec:
  steps:
    - {id: spawn, title: Spawn the work}
    - {id: collect, title: Collect all, needs: [spawn], waitsFor: all-children}
    - {id: first, title: Take the first, waitsFor: children-of(spawn)}
    - {id: quick, title: Quick look, needs: [spawn], waitsFor: any-children}
";

fn city() -> City {
    let city = City::new(WORKER);
    city.write("formulas/fanin.yaml", FANIN);
    city.write("formulas/release.yaml", RELEASE);
    city.write("formulas/patrol.yaml", PATROL);
    city.write("formulas/deploy.yaml", DEPLOY);
    let out = city.gc().arg("apply").output().unwrap();
    assert!(out.status.success(), "apply: {}", String::from_utf8_lossy(&out.stderr));
    city
}

fn bd(city: &City, args: &[&str]) -> std::process::Output {
    city.gc()
        .arg("bd")
        .args(args)
        .env_remove("BEADS_DIR")
        .env("USER", "tester")
        .env_remove("BEADS_ACTOR")
        .env_remove("BD_ACTOR")
        .output()
        .unwrap()
}

fn ok(city: &City, args: &[&str]) -> String {
    let out = bd(city, args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "bd {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn json(city: &City, args: &[&str]) -> Value {
    let text = ok(city, &[args, &["--json"]].concat());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bd {args:?}: {e}: {text}"))
}

fn fails(city: &City, args: &[&str]) -> String {
    let out = bd(city, args);
    assert!(
        !out.status.success(),
        "bd {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn status(city: &City, id: &str) -> String {
    json(city, &["show", id])[0]["status"].as_str().unwrap().to_owned()
}

#[test]
fn pour_makes_a_bead_per_step_and_wisp_a_short_lived_root() {
    let city = city();
    // A missing required var is named and nothing is made.
    let err = fails(&city, &["mol", "pour", "release"]);
    assert!(err.contains("version"), "{err}");
    assert_eq!(json(&city, &["list", "--all"]).as_array().unwrap().len(), 0);

    let preview = ok(&city, &["mol", "pour", "release", "--var", "version=1.2", "--dry-run"]);
    assert!(
        preview.contains("Would create 4 issue(s)") && preview.contains("release.test: Test 1.2"),
        "{preview}"
    );
    assert_eq!(json(&city, &["list", "--all"]).as_array().unwrap().len(), 0);

    let poured = json(
        &city,
        &[
            "mol",
            "pour",
            "release",
            "--var",
            "version=1.2",
            "--var",
            "title=Ship it",
            "--assignee",
            "worker",
        ],
    );
    assert_eq!(poured["created"], 4, "{poured}");
    assert_eq!(poured["phase"], "liquid");
    assert_eq!(poured["schema_version"], 1);
    let root = poured["new_epic_id"].as_str().unwrap();
    let mapping = &poured["id_mapping"];
    assert_eq!(mapping["release"], root);
    let test_step = mapping["release.test"].as_str().unwrap();
    let shown = &json(&city, &["show", root])[0];
    assert_eq!(
        (shown["title"].as_str(), shown["assignee"].as_str()),
        (Some("Ship it"), Some("worker"))
    );
    assert!(shown.get("ephemeral").is_none(), "a poured molecule is persistent: {shown}");
    // The steps keep their order: only the first is ready.
    let ready: Vec<String> = json(&city, &["ready"])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ready, [mapping["release.build"].as_str().unwrap()]);
    assert!(!ready.contains(&test_step.to_owned()));

    // A vapor formula's wisp is its root alone, ephemeral, with the vars' defaults applied.
    let wisp = json(&city, &["mol", "wisp", "patrol", "--root-only"]);
    assert_eq!((wisp["created"].as_u64(), wisp["phase"].as_str()), (Some(1), Some("vapor")));
    let wisp_id = wisp["new_epic_id"].as_str().unwrap();
    let bead = &json(&city, &["show", wisp_id])[0];
    assert_eq!(bead["ephemeral"], true, "{bead}");
    assert_eq!(bead["description"], "Walk the rounds on main");
    // Wisps are never offered as work.
    assert!(!ok(&city, &["ready"]).contains(wisp_id));

    // Pouring a vapor formula warns and makes every step anyway.
    let out = bd(&city, &["mol", "pour", "patrol", "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("vapor"));
    let poured: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(poured["created"], 3);

    // An unknown formula names the city's formulas.
    let err = fails(&city, &["mol", "wisp", "nope"]);
    assert!(err.contains("nope") && err.contains("patrol"), "{err}");

    // wisp list sees the wisp; gc with a long age keeps it, a dry run with none names it.
    let listed = json(&city, &["mol", "wisp", "list"]);
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["wisps"][0]["id"], wisp_id);
    assert_eq!(json(&city, &["mol", "wisp", "gc", "--age", "1h"])["cleaned_count"], 0);
    let dry = json(&city, &["mol", "wisp", "gc", "--age", "0s", "--dry-run"]);
    assert_eq!(dry["cleaned_ids"][0], wisp_id, "{dry}");
    assert_eq!(status(&city, wisp_id), "open");
    let gone = json(&city, &["mol", "wisp", "gc", "--age", "0s"]);
    assert_eq!(gone["deleted_count"], 1, "{gone}");
    fails(&city, &["show", wisp_id]);
}

#[test]
fn bond_joins_a_formula_to_a_molecule_and_squash_leaves_a_digest() {
    let city = city();
    let target = json(&city, &["create", "Incident 7"])["id"].as_str().unwrap().to_owned();

    // Sequential: the spawned molecule waits for the target.
    let bonded = json(&city, &["mol", "bond", "release", &target, "--var", "version=2.0"]);
    assert_eq!(bonded["result_id"], target.as_str(), "{bonded}");
    assert_eq!(
        (bonded["spawned"].as_u64(), bonded["bond_type"].as_str()),
        (Some(4), Some("sequential"))
    );
    let root = bonded["id_mapping"]["release"].as_str().unwrap();
    let deps = json(&city, &["dep", "list", root]);
    assert!(
        deps.as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == target.as_str() && d["dependency_type"] == "blocks"),
        "{deps}"
    );
    // Two molecules: the second on the first; a cycle is refused.
    let other = json(&city, &["create", "Follow-up"])["id"].as_str().unwrap().to_owned();
    json(&city, &["mol", "bond", &target, &other]);
    let err = fails(&city, &["mol", "bond", &other, &target]);
    assert!(err.contains("cannot bond"), "{err}");

    // Ephemeral spawn under a wisp: parallel puts it below; squash turns its steps to a digest.
    let wisp = json(&city, &["mol", "wisp", "patrol"])["new_epic_id"].as_str().unwrap().to_owned();
    let bonded =
        json(&city, &["mol", "bond", &wisp, "release", "--type", "parallel", "--var", "version=3"]);
    let spawned = bonded["id_mapping"]["release"].as_str().unwrap().to_owned();
    assert_eq!(json(&city, &["show", &spawned])[0]["ephemeral"], true);
    let step = bonded["id_mapping"]["release.build"].as_str().unwrap().to_owned();
    ok(&city, &["close", &step, "--reason", "built"]);
    let squashed = json(&city, &["mol", "squash", &wisp]);
    assert_eq!(squashed["squashed_count"], 4, "{squashed}");
    assert_eq!(squashed["wisp_squash"], true);
    let digest = squashed["digest_id"].as_str().unwrap();
    let digest_bead = &json(&city, &["show", digest])[0];
    assert_eq!(digest_bead["status"], "closed");
    assert_eq!(digest_bead["close_reason"], "Squashed from 4 wisps");
    assert!(digest_bead.get("ephemeral").is_none(), "the digest outlives the wisps");
    let text = digest_bead["description"].as_str().unwrap();
    assert!(text.contains(&format!("- [x] {step}: Build 3 (built)")), "{text}");
    fails(&city, &["show", &step]);
    assert_eq!(status(&city, &wisp), "closed");
}

#[test]
fn gates_hold_work_until_their_condition_and_ready_gated_finds_the_released_step() {
    let city = city();
    let poured = json(&city, &["mol", "pour", "release", "--var", "version=1"]);
    let root = poured["new_epic_id"].as_str().unwrap().to_owned();
    let build = poured["id_mapping"]["release.build"].as_str().unwrap().to_owned();

    // A human gate on the first step: it is no longer ready.
    let gate = json(&city, &["gate", "create", "--blocks", &build, "--reason", "sign-off"]);
    let gate_id = gate["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (gate["issue_type"].as_str(), gate["await_type"].as_str()),
        (Some("gate"), Some("human"))
    );
    assert!(gate["description"].as_str().unwrap().contains("Reason: sign-off"));
    assert!(!ok(&city, &["ready"]).contains(&build));
    let listed = json(&city, &["gate", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(json(&city, &["gate", "show", &gate_id])["id"], gate_id.as_str());
    let err = fails(&city, &["gate", "show", &build]);
    assert!(err.contains("is not a gate issue (type=task)"), "{err}");
    // bd close refuses the blocked step; check leaves a human gate alone.
    let err = fails(&city, &["close", &build]);
    assert!(err.contains(&format!("blocked by open issues [{gate_id}]")), "{err}");
    let checked = json(&city, &["gate", "check"]);
    assert_eq!((checked["checked"].as_u64(), checked["resolved"].as_u64()), (Some(0), Some(0)));
    // Resolved by a person: the step is ready, and ready --gated names the molecule.
    assert_eq!(json(&city, &["ready", "--gated"])["count"], 0);
    ok(&city, &["gate", "resolve", &gate_id, "--reason", "approved"]);
    assert!(ok(&city, &["ready"]).contains(&build));
    let gated = json(&city, &["ready", "--gated"]);
    assert_eq!(gated["count"], 1, "{gated}");
    assert_eq!(gated["molecules"][0]["molecule_id"], root.as_str());
    assert_eq!(gated["molecules"][0]["closed_gate"]["id"], gate_id.as_str());
    assert_eq!(gated["molecules"][0]["ready_step"]["id"], build.as_str());

    // A timer gate opens once its time has passed; a zero timer at once.
    let test_step = poured["id_mapping"]["release.test"].as_str().unwrap().to_owned();
    let long = json(
        &city,
        &["gate", "create", "--blocks", &test_step, "--type", "timer", "--timeout", "1h"],
    );
    let short = json(
        &city,
        &["gate", "create", "--blocks", &test_step, "--type", "timer", "--timeout", "0s"],
    );
    let checked = json(&city, &["gate", "check", "--type", "timer"]);
    assert_eq!(
        (checked["checked"].as_u64(), checked["resolved"].as_u64()),
        (Some(2), Some(1)),
        "{checked}"
    );
    assert_eq!(status(&city, short["id"].as_str().unwrap()), "closed");
    assert_eq!(status(&city, long["id"].as_str().unwrap()), "open");
    let err = fails(&city, &["gate", "create", "--blocks", &test_step, "--type", "timer"]);
    assert!(err.contains("--timeout"), "{err}");

    // A mail gate opens when the message is answered; a bead gate when the bead closes.
    let message = json(&city, &["create", "Can we ship?", "-t", "message"])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mail = json(
        &city,
        &["gate", "create", "--blocks", &test_step, "--type", "mail", "--await-id", &message],
    );
    let other = json(&city, &["create", "Docs"])["id"].as_str().unwrap().to_owned();
    let on_bead = json(
        &city,
        &["gate", "create", "--blocks", &test_step, "--type", "bead", "--await-id", &other],
    );
    assert_eq!(json(&city, &["gate", "check"])["resolved"], 0);
    json(&city, &["create", "Yes", "-t", "message", "--deps", &format!("replies-to:{message}")]);
    ok(&city, &["close", &other]);
    let checked = json(&city, &["gate", "check"]);
    assert_eq!(checked["resolved"], 2, "{checked}");
    assert_eq!(status(&city, mail["id"].as_str().unwrap()), "closed");
    assert_eq!(status(&city, on_bead["id"].as_str().unwrap()), "closed");
}

#[test]
fn a_github_gate_without_gh_is_a_clear_error_and_escalations_reach_a_person() {
    let city = city();
    let work = json(&city, &["create", "Deploy"])["id"].as_str().unwrap().to_owned();
    let gate =
        json(&city, &["gate", "create", "--blocks", &work, "--type", "gh:run", "--await-id", "42"]);
    let out = city
        .gc()
        .args(["bd", "gate", "check", "--type", "gh", "--json"])
        .env("PATH", "/nonexistent")
        .env("USER", "tester")
        .output()
        .unwrap();
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(checked["errors"], 1, "{checked}");
    let reason = checked["gates"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("gh is not installed"), "{reason}");
    assert_eq!(status(&city, gate["id"].as_str().unwrap()), "open");

    // GitHub is out of reach here, so a stand-in `gh` answers as `gh run view --json` does for
    // a failed run: the gate stays shut and, with --escalate, is handed to a person.
    let bin = tempfile::tempdir().unwrap();
    let gh = bin.path().join("gh");
    std::fs::write(
        &gh,
        "#!/bin/sh\n[ \"$1 $2 $3\" = \"run view 42\" ] || exit 3\n\
         echo '{\"status\":\"completed\",\"conclusion\":\"failure\",\"name\":\"ci\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let check = |extra: &[&str]| -> Value {
        let out = city
            .gc()
            .args(["bd", "gate", "check", "--json"])
            .args(extra)
            .env("PATH", &path)
            .env("USER", "tester")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(check(&[])["escalated"], 1);
    assert_eq!(
        json(&city, &["human", "list"]).as_array().unwrap().len(),
        0,
        "not without --escalate"
    );
    assert_eq!(check(&["--escalate"])["gates"][0]["state"], "escalate");
    let escalated = json(&city, &["human", "list"]);
    assert_eq!(escalated[0]["id"], gate["id"], "{escalated}");
    assert_eq!(escalated[0]["metadata"]["gc.escalated"], "ci: failure");
    ok(&city, &["gate", "resolve", gate["id"].as_str().unwrap()]);

    // bd human: list, respond (closes, keeps the answer), dismiss, stats.
    let ask =
        json(&city, &["create", "Which region?", "-l", "human"])["id"].as_str().unwrap().to_owned();
    let spam =
        json(&city, &["create", "Ignore me", "-l", "human"])["id"].as_str().unwrap().to_owned();
    assert_eq!(json(&city, &["human", "list"]).as_array().unwrap().len(), 2);
    let err = fails(&city, &["human", "respond", &ask]);
    assert!(err.contains("--response"), "{err}");
    ok(&city, &["human", "respond", &ask, "-r", "eu-west"]);
    let answered = &json(&city, &["show", &ask])[0];
    assert_eq!(answered["close_reason"], "Responded");
    assert!(answered["notes"].as_str().unwrap().contains("Response: eu-west"));
    ok(&city, &["human", "dismiss", &spam, "--reason", "noise"]);
    let stats = json(&city, &["human", "stats"]);
    assert_eq!(
        (stats["total"].as_u64(), stats["responded"].as_u64(), stats["dismissed"].as_u64()),
        (Some(3), Some(2), Some(1)),
        "the resolved escalation counts as answered: {stats}"
    );
    let err = fails(&city, &["human", "respond", &ask, "-r", "again"]);
    assert!(err.contains("already closed"), "{err}");
    assert!(ok(&city, &["human"]).contains("bd human respond"));
}

#[test]
fn close_records_a_reason_and_refuses_what_bd_refuses_unless_forced() {
    let city = city();
    let a = json(&city, &["create", "A"])["id"].as_str().unwrap().to_owned();
    let closed = json(&city, &["close", &a]);
    assert_eq!(closed[0]["close_reason"], "Closed");

    let epic = json(&city, &["create", "Epic", "-t", "epic"])["id"].as_str().unwrap().to_owned();
    json(&city, &["create", "Child", "--parent", &epic]);
    let err = fails(&city, &["close", &epic]);
    assert!(err.contains("cannot close epic") && err.contains("1 open child"), "{err}");
    assert_eq!(status(&city, &epic), "open");
    ok(&city, &["close", &epic, "--force"]);
    assert_eq!(status(&city, &epic), "closed");
}

#[test]
fn a_formulas_step_gates_hold_its_steps_until_they_open_and_its_digest_sums_it_up() {
    let city = city();
    let poured = json(&city, &["mol", "pour", "deploy"]);
    assert_eq!(poured["created"], 7, "a root, three steps and their three gates: {poured}");
    let map = &poured["id_mapping"];
    let id = |key: &str| map[key].as_str().unwrap_or_else(|| panic!("{key}: {map}")).to_owned();
    let (approve, soak, ship) = (id("deploy.approve"), id("deploy.soak"), id("deploy.ship"));
    let approve_gate = id("deploy.gate-approve");
    let ship_gate = json(&city, &["gate", "show", &id("deploy.gate-ship")]);
    assert_eq!(
        (ship_gate["await_type"].as_str(), ship_gate["await_id"].as_str()),
        (Some("gh:pr"), Some("7"))
    );
    assert_eq!(ship_gate["title"], "Gate: gh:pr 7");
    let shipped = &json(&city, &["show", &ship])[0];
    assert_eq!(shipped["acceptance_criteria"], "PR 7 is live", "{shipped}");
    assert_eq!(shipped["metadata"]["gc.review_only"], true);

    // Nothing is ready until the human gate is resolved.
    assert!(json(&city, &["ready"]).as_array().unwrap().is_empty());
    ok(&city, &["gate", "resolve", &approve_gate]);
    assert_eq!(json(&city, &["ready"])[0]["id"], approve.as_str());
    ok(&city, &["close", &approve]);
    // The soak timer (0s) opens at the next check, then the soak step is ready.
    assert!(!ok(&city, &["ready"]).contains(&soak));
    assert_eq!(json(&city, &["gate", "check", "--type", "timer"])["resolved"], 1);
    assert!(ok(&city, &["ready"]).contains(&soak));
    ok(&city, &["close", &soak]);
    ok(&city, &["gate", "resolve", &id("deploy.gate-ship"), "--reason", "merged by hand"]);
    // Review-only: no commit needed even though the close is in no repository.
    ok(&city, &["close", &ship]);

    // The molecule closed with its last step, and its digest sums the steps up.
    let root = poured["new_epic_id"].as_str().unwrap();
    assert_eq!(status(&city, root), "closed");
    let children = json(&city, &["children", root]);
    let digest = children
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["title"] == "Digest: deploy")
        .unwrap_or_else(|| panic!("no digest among {children}"));
    assert_eq!(digest["status"], "closed");
    assert!(
        digest["labels"].as_array().unwrap().iter().any(|l| l == "digest:operational"),
        "{digest}"
    );
    let text = digest["description"].as_str().unwrap();
    assert!(text.contains(&format!("- [x] {ship}: Ship PR 7 (Closed) [took ")), "{text}");
    // Persistent steps are kept: the digest adds to the record, it does not replace it.
    assert_eq!(status(&city, &ship), "closed");
}

#[test]
fn waits_for_holds_a_step_until_the_children_another_step_got_are_done() {
    let city = city();
    let poured = json(&city, &["mol", "pour", "fanin"]);
    let map = &poured["id_mapping"];
    let id = |k: &str| map[k].as_str().unwrap().to_owned();
    let (spawn, collect, quick, first) =
        (id("fanin.spawn"), id("fanin.collect"), id("fanin.quick"), id("fanin.first"));
    let shown = &json(&city, &["show", &collect])[0];
    assert!(
        shown["labels"].as_array().unwrap().iter().any(|l| l == "gate:all-children"),
        "{shown}"
    );
    // The spawner makes two children while it runs, then closes.
    let a =
        json(&city, &["create", "Child A", "--parent", &spawn])["id"].as_str().unwrap().to_owned();
    let b =
        json(&city, &["create", "Child B", "--parent", &spawn])["id"].as_str().unwrap().to_owned();
    ok(&city, &["close", &spawn, "--force"]);
    let ready = ok(&city, &["ready"]);
    for waiting in [&collect, &quick, &first] {
        assert!(
            !ready.contains(waiting.as_str()),
            "{waiting} is ready with both children open: {ready}"
        );
    }
    // One child done: `any-children` goes on, `all-children` (and children-of) still waits.
    ok(&city, &["close", &a]);
    let ready = ok(&city, &["ready"]);
    assert!(
        ready.contains(&quick) && !ready.contains(&collect) && !ready.contains(&first),
        "{ready}"
    );
    ok(&city, &["close", &b]);
    let ready = ok(&city, &["ready"]);
    assert!(ready.contains(&collect) && ready.contains(&first), "{ready}");
}
