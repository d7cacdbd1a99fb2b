//! `gc bd …` and the binary run as `bd`, end to end on a real embedded store in a temporary
//! directory: the agent flow (create, ready, claim, close), bd's JSON shapes, exit codes, store
//! discovery, and JSONL export/import.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A temporary project with a bead store in `.beads` (prefix `gc`).
struct Project {
    dir: tempfile::TempDir,
}

/// `gc bd`, run in `dir`, isolated from the caller's bd environment, acting as `tester`.
fn gc_bd(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("gc").unwrap();
    cmd.arg("bd").current_dir(dir);
    isolate(&mut cmd);
    cmd
}

fn isolate(cmd: &mut assert_cmd::Command) {
    for var in ["BEADS_DIR", "BEADS_ACTOR", "BD_ACTOR", "GC_CITY"] {
        cmd.env_remove(var);
    }
    cmd.env("USER", "tester").env("NO_COLOR", "1");
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Project {
    fn new() -> Project {
        let project = Project { dir: tempfile::tempdir().unwrap() };
        project.ok(&["init", "--prefix", "gc"]);
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        gc_bd(self.path()).args(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "bd {args:?} failed: {}{}", stdout(&out), stderr(&out));
        stdout(&out)
    }

    /// Runs with `--json`, expects success, parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(&[args, &["--json"]].concat());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bd {args:?}: {e}: {text}"))
    }

    /// Creates a bead and returns its id.
    fn create(&self, args: &[&str]) -> String {
        let bead = self.json(&[&["create"], args].concat());
        bead["id"].as_str().unwrap().to_owned()
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect()
}

#[test]
fn the_agent_flow_create_ready_claim_close() {
    let p = Project::new();
    let first = p.create(&["First", "-p", "1", "-l", "a,b"]);
    let second = p.create(&["Second", "--deps", &first, "-t", "bug"]);
    assert!(first.starts_with("gc-"), "{first}");

    // Only the unblocked bead is ready.
    assert_eq!(ids(&p.json(&["ready"])), [first.as_str()]);

    let shown = p.json(&["show", &first]);
    assert_eq!(shown[0]["labels"], serde_json::json!(["a", "b"]));
    assert_eq!(shown[0]["dependents"][0]["id"], second.as_str());
    assert_eq!(shown[0]["dependents"][0]["dependency_type"], "blocks");
    let shown = p.json(&["show", &second]);
    assert_eq!(shown[0]["dependencies"][0]["id"], first.as_str());

    let claimed = p.json(&["update", &first, "--claim"]);
    assert_eq!(claimed[0]["status"], "in_progress");
    assert_eq!(claimed[0]["assignee"], "tester");
    assert!(claimed[0]["started_at"].is_string());
    assert_eq!(p.json(&["ready"]), serde_json::json!([]));

    let closed = p.json(&["close", &first, "--reason", "done"]);
    assert_eq!(closed[0]["status"], "closed");
    assert_eq!(closed[0]["close_reason"], "done");
    assert_eq!(ids(&p.json(&["ready"])), [second.as_str()]);

    // Closed beads are left out unless asked for.
    assert_eq!(ids(&p.json(&["list"])), [second.as_str()]);
    assert_eq!(p.json(&["list", "--all"]).as_array().unwrap().len(), 2);
    assert_eq!(ids(&p.json(&["list", "--status", "closed"])), [first.as_str()]);

    // Text output is a table with the columns people need.
    let text = p.ok(&["list", "--all"]);
    assert!(text.starts_with("ID"), "{text}");
    for word in ["PRI", "STATUS", "TYPE", "ASSIGNEE", "TITLE", "P1", "closed", "bug", "tester"] {
        assert!(text.contains(word), "{word} missing from\n{text}");
    }
    let text = p.ok(&["create", "Third"]);
    assert!(text.starts_with("Created issue: gc-"), "{text}");
    assert!(text.contains("  Title: Third\n  Priority: P2\n  Status: open\n"), "{text}");
}

#[test]
fn update_fields_metadata_and_labels() {
    let p = Project::new();
    let id = p.create(&["Title"]);
    let updated = p.json(&[
        "update",
        &id,
        "--title",
        "New title",
        "--priority",
        "P0",
        "--description",
        "body",
        "--notes",
        "n",
        "--assignee",
        "ann",
        "--status",
        "blocked",
        "--set-metadata",
        "gc.routed_to=worker",
        "--set-metadata",
        "k=v",
        "--add-label",
        "x",
    ]);
    let b = &updated[0];
    assert_eq!(b["title"], "New title");
    assert_eq!(b["priority"], 0);
    assert_eq!(b["description"], "body");
    assert_eq!(b["notes"], "n");
    assert_eq!(b["assignee"], "ann");
    assert_eq!(b["status"], "blocked");
    assert_eq!(b["metadata"]["gc.routed_to"], "worker");
    assert_eq!(b["labels"], serde_json::json!(["x"]));

    let routed = p.json(&["list", "--metadata-field", "gc.routed_to=worker"]);
    assert_eq!(ids(&routed), [id.as_str()]);
    assert_eq!(p.json(&["list", "--metadata-field", "gc.routed_to=other"]), serde_json::json!([]));
    assert_eq!(ids(&p.json(&["list", "--label", "x"])), [id.as_str()]);
    assert_eq!(ids(&p.json(&["list", "--assignee", "ann"])), [id.as_str()]);
    assert_eq!(p.json(&["list", "--no-assignee"]), serde_json::json!([]));

    let b = &p.json(&["update", &id, "--unset-metadata", "k", "--remove-label", "x"])[0];
    assert!(b["metadata"].get("k").is_none(), "{b}");
    assert!(b.get("labels").is_none(), "{b}");
}

#[test]
fn json_shapes_match_bd() {
    let p = Project::new();
    // Empty lists are `[]`, not `null` or nothing.
    for args in [&["list"][..], &["ready"], &["list", "--all"], &["ready", "--claim"]] {
        assert_eq!(p.ok(&[args, &["--json"]].concat()).trim(), "[]", "{args:?}");
    }

    let created = p.json(&["create", "Urgent", "-p", "0"]);
    assert!(created.is_object());
    assert_eq!(created["priority"], 0, "priority is always present, even 0");
    for key in ["id", "title", "status", "issue_type", "created_at", "updated_at"] {
        assert!(created.get(key).is_some(), "{key} missing from {created}");
    }
    assert!(created.get("closed_at").is_none());
    // Objects carry bd's schema_version (bd 1.0.3 and later); arrays do not.
    assert_eq!(created["schema_version"], 1, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let plain = p.create(&["Plain"]);
    assert_eq!(p.json(&["show", &plain])[0]["priority"], 2);

    // show, update, close, list, ready: arrays.
    for args in [
        vec!["show", id.as_str()],
        vec!["update", id.as_str(), "--notes", "x"],
        vec!["list"],
        vec!["ready"],
        vec!["close", plain.as_str()],
    ] {
        assert!(p.json(&args).is_array(), "{args:?}");
    }
    // list and ready carry bd's counts.
    let listed = &p.json(&["list"])[0];
    for key in ["dependency_count", "dependent_count", "comment_count"] {
        assert!(listed.get(key).is_some(), "{key} missing from {listed}");
    }

    // closed_at is set exactly when the status is closed.
    for bead in p.json(&["list", "--all"]).as_array().unwrap() {
        assert_eq!(bead["status"] == "closed", bead.get("closed_at").is_some(), "{bead}");
    }
    let reopened = &p.json(&["update", &plain, "--status", "open"])[0];
    assert!(reopened.get("closed_at").is_none(), "{reopened}");

    let dep = p.json(&["dep", "add", &plain, &id]);
    assert_eq!(
        dep,
        serde_json::json!({"status": "added", "issue_id": plain, "depends_on_id": id, "type": "blocks", "schema_version": 1})
    );
    let labels = p.json(&["label", "add", &id, "l1", "l2"]);
    assert_eq!(labels[0], serde_json::json!({"status": "added", "issue_id": id, "label": "l1"}));
    assert_eq!(p.json(&["label", "list", &id]), serde_json::json!(["l1", "l2"]));
}

#[test]
fn a_claim_held_by_someone_else_fails_with_exit_1() {
    let p = Project::new();
    let id = p.create(&["Contested"]);
    p.ok(&["update", &id, "--claim", "--actor", "ann"]);
    // Re-claiming one's own bead is fine.
    p.ok(&["update", &id, "--claim", "--actor", "ann"]);

    let out = p.run(&["update", &id, "--claim", "--actor", "bob"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already claimed by ann"), "{}", stderr(&out));

    // Under --json the error is also on stdout, as bd prints it.
    let out = p.run(&["update", &id, "--claim", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(body["error"].as_str().unwrap().contains("already claimed by ann"), "{body}");
    assert_eq!(p.json(&["show", &id])[0]["assignee"], "ann");
}

#[test]
fn ready_claim_takes_the_first_unassigned_bead_and_then_reports_none() {
    let p = Project::new();
    let low = p.create(&["Later", "-p", "3"]);
    let high = p.create(&["Now", "-p", "1"]);
    let claimed = p.json(&["ready", "--claim", "--actor", "ann"]);
    assert_eq!(ids(&claimed), [high.as_str()]);
    assert_eq!(claimed[0]["assignee"], "ann");
    assert_eq!(ids(&p.json(&["ready", "--claim"])), [low.as_str()]);

    let out = p.run(&["ready", "--claim"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("No ready work"), "{}", stdout(&out));
}

#[test]
fn dependencies_add_list_remove_and_refuse_cycles() {
    let p = Project::new();
    let a = p.create(&["A"]);
    let b = p.create(&["B"]);
    p.ok(&["dep", "add", &b, &a]);
    let down = p.json(&["dep", "list", &b]);
    assert_eq!(ids(&down), [a.as_str()]);
    assert_eq!(down[0]["dependency_type"], "blocks");
    assert_eq!(ids(&p.json(&["dep", "list", &a, "--direction", "up"])), [b.as_str()]);
    assert_eq!(p.json(&["dep", "list", &a]), serde_json::json!([]));

    let out = p.run(&["dep", "add", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cycle"), "{}", stderr(&out));

    p.ok(&["dep", "add", &a, &b, "--type", "related"]);
    assert_eq!(p.json(&["dep", "list", &a, "--type", "related"])[0]["id"], b.as_str());

    let removed = p.json(&["dep", "remove", &b, &a]);
    assert_eq!(removed["status"], "removed");
    assert_eq!(p.json(&["dep", "list", &b]), serde_json::json!([]));
    assert_eq!(ids(&p.json(&["ready"])).len(), 2);

    // A child is created with a parent-child edge and listed by --parent.
    let child = p.create(&["Child", "--parent", &a]);
    assert_eq!(child, format!("{a}.1"));
    assert_eq!(ids(&p.json(&["list", "--parent", &a])), [child.as_str()]);
    assert_eq!(p.json(&["show", &child])[0]["parent"], a.as_str());

    // `--deps blocks:X` means X depends on the new bead.
    let blocker = p.create(&["Blocker", "--deps", &format!("blocks:{b}")]);
    assert_eq!(ids(&p.json(&["dep", "list", &b])), [blocker.as_str()]);
}

#[test]
fn labels_add_remove_list() {
    let p = Project::new();
    let id = p.create(&["Labelled"]);
    let text = p.ok(&["label", "add", &id, "x", "y"]);
    assert!(text.contains(&format!("Added label 'x' to {id}")), "{text}");
    assert_eq!(p.json(&["label", "list", &id]), serde_json::json!(["x", "y"]));
    let removed = p.json(&["label", "remove", &id, "x"]);
    assert_eq!(removed[0]["status"], "removed");
    assert_eq!(p.json(&["label", "list", &id]), serde_json::json!(["y"]));
}

#[test]
fn export_then_import_round_trips_and_reports_counts() {
    let p = Project::new();
    let a = p.create(&["A", "-l", "x", "--metadata", r#"{"k":"v"}"#]);
    p.create(&["B", "--deps", &a]);
    p.ok(&["close", &a]);

    let file = p.path().join("issues.jsonl");
    let text = p.ok(&["export", "-o", file.to_str().unwrap()]);
    assert!(text.contains("Exported 2"), "{text}");
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_eq!(exported.lines().count(), 2);
    assert_eq!(p.ok(&["export"]), exported, "stdout and file hold the same JSONL");
    for line in exported.lines() {
        let bead: Value = serde_json::from_str(line).unwrap();
        assert!(bead["id"].is_string() && bead["priority"].is_number(), "{line}");
    }

    let other = Project::new();
    let summary = other.json(&["import", "-i", file.to_str().unwrap()]);
    assert_eq!(
        summary,
        serde_json::json!({"created": 2, "updated": 0, "unchanged": 0, "schema_version": 1})
    );
    assert_eq!(other.ok(&["export"]), exported);
    let again = other.json(&["import", file.to_str().unwrap()]);
    assert_eq!(
        again,
        serde_json::json!({"created": 0, "updated": 0, "unchanged": 2, "schema_version": 1})
    );

    // From stdin too.
    let third = Project::new();
    let out =
        gc_bd(third.path()).args(["import", "--json"]).write_stdin(exported).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_malformed_import_line_is_named_and_nothing_is_imported() {
    let p = Project::new();
    let good = r#"{"id":"gc-a1","title":"t","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}"#;
    let file = p.path().join("bad.jsonl");
    std::fs::write(&file, format!("{good}\n{{not json\n")).unwrap();
    let out = p.run(&["import", "-i", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    assert_eq!(p.json(&["list", "--all"]), serde_json::json!([]));
}

#[test]
fn usage_errors_exit_2_and_name_the_flag() {
    let p = Project::new();
    let id = p.create(&["T"]);
    let out = p.run(&["update", &id, "--set-metadata", "novalue"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--set-metadata"), "{}", stderr(&out));

    let out = p.run(&["update", &id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nothing to update"), "{}", stderr(&out));

    for args in [&["create"][..], &["create", "T", "-p", "9"], &["list", "--limit", "x"]] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn store_errors_exit_1_and_multi_id_commands_do_what_they_can() {
    let p = Project::new();
    let out = p.run(&["show", "gc-nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("gc-nope"), "{}", stderr(&out));

    let id = p.create(&["Real"]);
    let out = p.run(&["close", &id, "gc-nope", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let closed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(ids(&closed), [id.as_str()]);
    assert!(stderr(&out).contains("gc-nope"), "{}", stderr(&out));
}

#[test]
fn the_binary_named_bd_answers_bds_command_line() {
    let p = Project::new();
    let bin = tempfile::tempdir().unwrap();
    let bd = bin.path().join("bd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gc"), &bd).unwrap();

    let run = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::new(&bd);
        cmd.current_dir(p.path()).args(args);
        isolate(&mut cmd);
        cmd.output().unwrap()
    };
    let out = run(&["create", "Via bd", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id =
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["id"].as_str().unwrap().to_owned();
    let out = run(&["--json", "ready"]);
    let ready: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(ids(&ready), [id.as_str()]);
    let help = stdout(&run(&["--help"]));
    assert!(help.contains("Usage: bd"), "{help}");
}

#[test]
fn install_shim_links_bd_to_gc() {
    let bin = tempfile::tempdir().unwrap();
    let mut cmd = assert_cmd::Command::cargo_bin("gc").unwrap();
    let out = cmd.args(["bd", "install-shim"]).arg(bin.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let link = bin.path().join("bd");
    assert!(stdout(&out).contains(&link.display().to_string()), "{}", stdout(&out));
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(target, std::fs::canonicalize(env!("CARGO_BIN_EXE_gc")).unwrap());
}

/// A directory tree for discovery tests.
fn tree() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let rig = tmp.path().join("rig");
    std::fs::create_dir_all(rig.join("src/deep")).unwrap();
    gc_bd(&rig).args(["init", "--prefix", "rg"]).assert().success();
    (tmp, rig)
}

#[test]
fn the_nearest_beads_directory_is_found_from_below() {
    let (_tmp, rig) = tree();
    let out = gc_bd(&rig.join("src/deep")).args(["create", "Deep", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let id =
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("rg-"), "{id}");
    let listed = gc_bd(&rig).args(["list", "--json"]).output().unwrap();
    assert!(stdout(&listed).contains(&id));
}

#[test]
fn beads_dir_and_redirects_point_elsewhere() {
    let (tmp, rig) = tree();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = gc_bd(&elsewhere)
        .env("BEADS_DIR", rig.join(".beads"))
        .args(["create", "Via BEADS_DIR", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // A worktree whose .beads/redirect names the rig's store shares it.
    let worktree = tmp.path().join("worktree");
    std::fs::create_dir_all(worktree.join(".beads")).unwrap();
    std::fs::write(worktree.join(".beads/redirect"), "../rig/.beads\n").unwrap();
    let out = gc_bd(&worktree).args(["list", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(listed[0]["title"], "Via BEADS_DIR");
}

#[test]
fn a_citys_own_store_is_found_from_inside_the_city() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join(".gc/beads");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("gc-store.json"), r#"{"prefix":"town"}"#).unwrap();
    std::fs::create_dir_all(tmp.path().join("agents")).unwrap();
    let out =
        gc_bd(&tmp.path().join("agents")).args(["create", "Mayor's", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"town-"), "{}", stdout(&out));

    // Outside the city, `gc -C CITY bd` falls back to the city's store.
    let outside = tempfile::tempdir().unwrap();
    let mut cmd = assert_cmd::Command::cargo_bin("gc").unwrap();
    isolate(&mut cmd);
    let out =
        cmd.current_dir(outside.path()).arg("-C").arg(tmp.path()).args(["bd", "list", "--json"]);
    let out = out.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Mayor's"), "{}", stdout(&out));
}

#[test]
fn no_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = gc_bd(tmp.path()).args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no bead store") && err.contains("bd init"), "{err}");
}

#[test]
fn triage_verbs_children_blocked_defer_undefer_search_stale() {
    let p = Project::new();
    let epic = p.create(&["Release 2.0", "-t", "epic"]);
    let gate = p.create(&["Sign-off from legal"]);
    let child = p.create(&["Write the notes", "--parent", &epic, "--deps", &gate]);
    let other = p.create(&["Fix the flaky login test", "-d", "It fails on Mondays"]);
    p.ok(&["close", &gate]);
    let gate2 = p.create(&["Security review"]);
    p.ok(&["dep", "add", &epic, &gate2]);

    // children: closed ones too.
    assert_eq!(ids(&p.json(&["children", &epic])), [child.as_str()]);
    assert_eq!(p.json(&["children", &other]), serde_json::json!([]));
    assert!(p.ok(&["children", &other]).contains("has no children"));

    // blocked: the epic by the open review, its child by the epic (the closed gate holds nothing).
    let blocked = p.json(&["blocked"]);
    let got: Vec<(&str, &Value)> = blocked
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), &b["blocked_by"]))
        .collect();
    assert!(got.contains(&(epic.as_str(), &serde_json::json!([gate2]))), "{blocked}");
    assert!(got.contains(&(child.as_str(), &serde_json::json!([epic]))), "{blocked}");
    assert_eq!(blocked.as_array().unwrap().len(), 2, "{blocked}");
    assert_eq!(blocked[0]["blocked_by_count"], 1);
    assert_eq!(ids(&p.json(&["blocked", "--parent", &epic])), [child.as_str()]);

    // defer: never ready until undeferred; undefer of an open issue leaves it.
    assert!(ids(&p.json(&["ready"])).contains(&other.as_str()));
    let deferred = p.json(&["defer", &other, "--until", "2h"]);
    assert_eq!(deferred[0]["status"], "deferred");
    assert!(deferred[0]["defer_until"].is_string(), "{deferred}");
    assert!(!ids(&p.json(&["ready"])).contains(&other.as_str()));
    let out = p.run(&["defer", &other, "gc-nope"]);
    assert_eq!(out.status.code(), Some(1), "an unknown id changes nothing");
    let back = p.json(&["undefer", &other]);
    assert_eq!(back[0]["status"], "open");
    assert!(back[0].get("defer_until").is_none(), "{back}");
    assert!(ids(&p.json(&["ready"])).contains(&other.as_str()));
    let out = p.run(&["undefer", &other]);
    assert!(out.status.success() && stderr(&out).contains("is not deferred"), "{}", stderr(&out));
    let out = p.run(&["defer", &other, "--until", "someday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--until `someday`"), "{}", stderr(&out));

    // search: every word, any case, in title or description.
    assert_eq!(ids(&p.json(&["search", "flaky", "MONDAYS"])), [other.as_str()]);
    assert_eq!(p.json(&["search", "flaky", "tuesday"]), serde_json::json!([]));

    // stale: nothing here is a day old; an imported issue untouched since 2020 is.
    assert_eq!(p.json(&["stale", "--days", "1"]), serde_json::json!([]));
    let old = r#"{"id":"gc-old1","title":"Dusty","status":"open","priority":2,"issue_type":"task","created_at":"2020-01-01T00:00:00Z","updated_at":"2020-01-02T00:00:00Z"}"#;
    let file = p.path().join("old.jsonl");
    std::fs::write(&file, format!("{old}\n")).unwrap();
    p.ok(&["import", "-i", file.to_str().unwrap()]);
    assert_eq!(ids(&p.json(&["stale"])), ["gc-old1"]);
    assert!(p.ok(&["stale"]).contains("gc-old1: Dusty"));
    assert_eq!(p.run(&["stale", "--days", "0"]).status.code(), Some(2));
}

#[test]
fn close_suggest_next_names_the_work_the_close_unblocked() {
    let p = Project::new();
    let schema = p.create(&["Design the schema"]);
    let api = p.create(&["Build the API", "--deps", &schema]);
    let review = p.create(&["Security review"]);
    let ui = p.create(&["Build the UI", "--deps", &format!("{schema},{review}")]);
    let done = p.json(&["close", &schema, "--suggest-next"]);
    assert_eq!(done["closed"][0]["id"], schema.as_str(), "{done}");
    // The UI still waits for the review.
    assert_eq!(ids(&done["unblocked"]), [api.as_str()]);
    let text = p.ok(&["close", &review, "--suggest-next"]);
    assert!(
        text.contains("Newly unblocked:") && text.contains(&format!("{ui}: Build the UI")),
        "{text}"
    );
    // Nothing unblocked: the plain array.
    let plain = p.json(&["close", &api, "--suggest-next"]);
    assert_eq!(ids(&plain), [api.as_str()]);
    let out = p.run(&["close", &ui, &api, "--suggest-next"]);
    assert_eq!(out.status.code(), Some(2), "one issue only");
}

#[test]
fn ready_lists_a_hundred_by_default_and_unassigned_wins_over_assignee() {
    let p = Project::new();
    let lines: String = (0..120)
        .map(|i| {
            format!(
                "{{\"id\":\"gc-r{i:03}\",\"title\":\"Task {i}\",\"status\":\"open\",\"priority\":2,\"issue_type\":\"task\",\"created_at\":\"2026-12-01T00:00:00Z\",\"updated_at\":\"2026-12-01T00:00:00Z\"}}\n"
            )
        })
        .collect();
    let file = p.path().join("many.jsonl");
    std::fs::write(&file, lines).unwrap();
    p.ok(&["import", "-i", file.to_str().unwrap()]);
    // Scripts count `bd ready --json` (Gas City's scale checks): bd's default page is 100.
    assert_eq!(p.json(&["ready"]).as_array().unwrap().len(), 100);
    assert_eq!(p.json(&["ready", "--limit", "0"]).as_array().unwrap().len(), 120);
    p.ok(&["update", "gc-r000", "--claim"]);
    let both = p.json(&["ready", "--unassigned", "--assignee", "tester", "-n", "0"]);
    assert_eq!(both.as_array().unwrap().len(), 119, "--unassigned wins, as in bd");
}

#[test]
fn delete_previews_without_force_and_marks_mentions_with_it() {
    let p = Project::new();
    let doomed = p.create(&["Spike: try the new parser"]);
    let keeper =
        p.create(&["Ship the parser", "--deps", &doomed, "-d", &format!("after {doomed}.")]);
    let preview = p.ok(&["delete", &doomed]);
    assert!(
        preview.contains("Would delete 1 issue(s)") && preview.contains("--force"),
        "{preview}"
    );
    assert_eq!(p.json(&["show", &doomed])[0]["id"], doomed.as_str(), "nothing deleted");
    let done = p.json(&["delete", &doomed, "--force"]);
    assert_eq!(done["deleted"], doomed.as_str(), "{done}");
    assert_eq!(
        (done["dependencies_removed"].as_u64(), done["references_updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(p.run(&["show", &doomed]).status.code(), Some(1));
    let kept = p.json(&["show", &keeper]);
    assert_eq!(kept[0]["description"], format!("after [deleted:{doomed}]."));
    assert_eq!(ids(&p.json(&["ready"])), [keeper.as_str()], "no longer blocked");
    let (a, b) = (p.create(&["A"]), p.create(&["B"]));
    let list = p.path().join("ids.txt");
    std::fs::write(&list, format!("# old spikes\n{a}\n\n{b}\n")).unwrap();
    let batch = p.json(&["delete", "--from-file", list.to_str().unwrap(), "--force"]);
    assert_eq!(batch["deleted"], serde_json::json!([a, b]));
    assert_eq!(batch["deleted_count"], 2);
    let out = p.run(&["delete", "gc-nope", "--force"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("issues not found: gc-nope"), "{}", stderr(&out));
}

#[test]
fn mol_current_progress_and_show_say_where_a_molecule_stands() {
    let p = Project::new();
    let root = p.create(&["Release {{version}}", "-t", "molecule"]);
    let build = p.create(&["Build", "--parent", &root]);
    let test = p.create(&["Test", "--parent", &root, "--deps", &build]);
    let docs = p.create(&["Docs", "--parent", &root]);
    let ship = p.create(&["Ship", "--parent", &root, "--deps", &format!("{test},{docs}")]);
    p.ok(&["close", &docs]);
    p.ok(&["update", &build, "--claim"]);

    // Without an id: the molecules of the actor's work in progress.
    let current = p.json(&["mol", "current"]);
    assert_eq!(current.as_array().unwrap().len(), 1, "{current}");
    let molecule = &current[0];
    assert_eq!(molecule["molecule_id"], root.as_str());
    let states: Vec<(&str, &str)> = molecule["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["issue"]["id"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    for want in [
        (build.as_str(), "current"),
        (test.as_str(), "pending"),
        (docs.as_str(), "done"),
        (ship.as_str(), "pending"),
    ] {
        assert!(states.contains(&want), "{want:?} not in {states:?}");
    }
    assert_eq!((molecule["completed"].as_u64(), molecule["total"].as_u64()), (Some(1), Some(4)));
    assert_eq!(molecule["current_step"]["id"], build.as_str());
    let text = p.ok(&["mol", "current", &root]);
    assert!(text.contains(&format!("[current] {build}: Build  <- YOU ARE HERE")), "{text}");
    assert!(text.contains(&format!("[done] {docs}: Docs")), "{text}");
    // Someone with nothing in progress has no molecule.
    assert_eq!(p.json(&["mol", "current", "--for", "nobody"]), serde_json::json!([]));

    p.ok(&["close", &build]);
    let progress = p.json(&["mol", "progress", &root]);
    assert_eq!((progress["completed"].as_u64(), progress["total"].as_u64()), (Some(2), Some(4)));
    assert_eq!(progress["percent"], 50.0);
    let after = p.json(&["mol", "current", &root]);
    assert_eq!(after[0]["next_step"]["id"], test.as_str(), "{after}");

    let shown = p.json(&["mol", "show", &root]);
    assert_eq!(shown["root"]["id"], root.as_str());
    assert_eq!(shown["issues"].as_array().unwrap().len(), 5);
    assert_eq!(shown["variables"], serde_json::json!(["version"]));
    assert!(shown["dependencies"].as_array().unwrap().len() >= 7, "{shown}");
    let out = p.run(&["mol", "show", "gc-nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("molecule 'gc-nope' not found"));
}

#[test]
fn mol_burn_deletes_a_molecule_or_a_wisps_short_lived_beads() {
    let p = Project::new();
    let root = p.create(&["Patrol", "-t", "molecule"]);
    let step = p.create(&["Look around", "--parent", &root]);
    let keeper = p.create(&["Follow-up", "-d", &format!("found in {step}")]);
    p.ok(&["dep", "add", &keeper, &step, "--type", "related"]);
    // Without --force (or --json) nothing goes.
    let preview = p.ok(&["mol", "burn", &root]);
    assert!(preview.contains("Would burn") && preview.contains("--force"), "{preview}");
    assert_eq!(p.json(&["mol", "show", &root])["issues"].as_array().unwrap().len(), 2);
    let burned = p.json(&["mol", "burn", &root, "--force"]);
    assert_eq!(burned["deleted"], serde_json::json!([root, step]), "{burned}");
    assert_eq!(p.run(&["show", &step]).status.code(), Some(1));
    assert_eq!(p.json(&["show", &keeper])[0]["description"], format!("found in [deleted:{step}]"));

    // A wisp keeps its persistent beads.
    let wisp = p.create(&["Wisp patrol", "-t", "molecule", "--ephemeral"]);
    let short = p.create(&["Check mail", "--parent", &wisp, "--ephemeral"]);
    let lasting = p.create(&["File the bug found", "--parent", &wisp]);
    let burned = p.json(&["mol", "burn", &wisp]);
    assert_eq!(burned["molecule_id"], wisp.as_str());
    assert_eq!(burned["deleted_ids"], serde_json::json!([wisp, short]), "{burned}");
    assert_eq!(p.json(&["show", &lasting])[0]["id"], lasting.as_str());

    // Several at once: missing ones are counted, not fatal.
    let other = p.create(&["Another", "-t", "molecule"]);
    let batch = p.json(&["mol", "burn", &other, "gc-nope", "--force"]);
    assert_eq!(
        (batch["total_deleted"].as_u64(), batch["failed_count"].as_u64()),
        (Some(1), Some(1))
    );
}
