//! Rigs end to end on real tmux: bead stores initialised with the rig's prefix, a missing
//! path reported, per-session git worktrees (created, removed when clean, kept when dirty),
//! `BEADS_DIR`/`BEADS_ACTOR` in sessions, and `gc rig add|list`. Each test runs its own city
//! on its own tmux socket and always kills that tmux server and its controller afterwards.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};

const LONG: Duration = Duration::from_secs(20);

/// Records where and as whom it runs, then waits behind a "ready> " prompt.
const AGENT_SCRIPT: &str = r#"#!/usr/bin/env bash
mkdir -p "$GC_CITY/out"
{
  echo "pwd=$PWD"
  echo "beads_dir=${BEADS_DIR:-}"
  echo "actor=${BEADS_ACTOR:-}"
  echo "branch=$(git branch --show-current 2>/dev/null)"
} > "$GC_CITY/out/$GC_SESSION.txt"
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
done
"#;

/// A city with the `probe` provider running [`AGENT_SCRIPT`].
struct TestCity(TmuxCity);

impl std::ops::Deref for TestCity {
    type Target = TmuxCity;
    fn deref(&self) -> &TmuxCity {
        &self.0
    }
}

impl TestCity {
    fn new() -> TestCity {
        TestCity(TmuxCity::with_probe("gcr", "tmux", AGENT_SCRIPT))
    }

    fn rig(&self, name: &str, spec: &str) {
        self.write(
            &format!("rigs/{name}.yaml"),
            &format!(
                "apiVersion: gascity.dev/v1alpha1\nkind: Rig\nmetadata:\n  name: {name}\nspec:\n{spec}"
            ),
        );
    }

    fn agent(&self, name: &str, spec: &str) {
        self.write(
            &format!("agents/{name}.yaml"),
            &format!(
                "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n{spec}"
            ),
        );
    }

    fn live_sessions(&self) -> Vec<String> {
        let out = self.tmux(&["list-panes", "-a", "-F", "#{session_name} #{pane_dead}"]);
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(" 0").map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// What the session recorded about itself (`key=value` lines), once it has.
    fn recorded(&self, session: &str) -> std::collections::BTreeMap<String, String> {
        let path = self.path().join("out").join(format!("{session}.txt"));
        wait_until(&format!("{session} to record how it started"), LONG, || {
            std::fs::read_to_string(&path).is_ok_and(|t| t.contains("branch="))
        });
        std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect()
    }
}

/// A git repository with one commit at `dir`.
fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("README.md"), "hello\n").unwrap();
    for args in [
        &["init", "--quiet"][..],
        &["add", "README.md"],
        &["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "init"],
    ] {
        let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn ready_condition(status: &Value) -> (String, String) {
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or(Value::Null);
    (ready["status"].as_str().unwrap_or("").into(), ready["reason"].as_str().unwrap_or("").into())
}

#[test]
fn rig_and_city_stores_are_initialised_and_sessions_get_beads_dir_and_actor() {
    let city = TestCity::new();
    std::fs::create_dir_all(city.path().join("my-app")).unwrap();
    city.rig("my-app", "  path: my-app\n");
    city.agent("worker", "  rig: my-app\n");
    city.agent("pool", "  rig: my-app\n  scaling: {min: 2, max: 2}\n");
    city.agent("mayor", "  description: city-wide\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);

    let store = |dir: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("gc-store.json")).unwrap()).unwrap()
    };
    let rig_store = city.path().join("my-app/.beads");
    assert_eq!(store(&rig_store)["prefix"], "ma", "the prefix derived from the rig's name");
    assert_eq!(store(&rig_store)["rig"], "my-app");
    assert!(rig_store.join("beads.db").exists(), "the embedded store is created");
    let city_store = city.path().join(".gc/beads");
    assert_eq!(store(&city_store)["prefix"], "to", "the city's own store, from its name");

    let status = city.status("rigs", "my-app");
    assert_eq!(ready_condition(&status), ("True".into(), "Ready".into()), "{status}");
    assert_eq!(status["prefix"], "ma");
    assert_eq!(status["storeDir"], rig_store.display().to_string());
    assert!(!city.events("rig.store_initialized").is_empty());

    let worker = city.recorded("gc-town-worker");
    assert_eq!(worker["pwd"], city.path().join("my-app").display().to_string());
    assert_eq!(worker["beads_dir"], rig_store.display().to_string());
    assert_eq!(worker["actor"], "worker");
    assert_eq!(city.recorded("gc-town-pool-2")["actor"], "pool-2");
    let mayor = city.recorded("gc-town-mayor");
    assert_eq!(mayor["beads_dir"], city_store.display().to_string());
    assert_eq!(mayor["actor"], "mayor");

    // A store opened as bd would from the session (BEADS_DIR) is the rig's, with its prefix.
    let store = gascity::beads::layout::open(&rig_store).unwrap();
    let new = gascity::beads::NewBead { title: "from a test".into(), ..Default::default() };
    let bead = store.create(new, "worker").unwrap();
    assert!(bead.id.starts_with("ma-"), "{}", bead.id);
}

#[test]
fn a_missing_rig_path_is_reported_once_and_its_agents_wait_for_it() {
    let city = TestCity::new();
    city.rig("ghost", "  path: nowhere\n");
    city.agent("haunt", "  rig: ghost\n");
    city.run(&["apply"]);
    city.run(&["start", "--no-wait"]);
    wait_until("the rig's status to say PathMissing", LONG, || {
        ready_condition(&city.status("rigs", "ghost")) == ("False".into(), "PathMissing".into())
    });
    wait_until("the agent to be blocked on its rig", LONG, || {
        city.status("agents", "haunt")["phase"] == "Blocked"
    });
    let agent = city.status("agents", "haunt");
    assert_eq!(agent["conditions"][0]["reason"], "RigPathMissing", "{agent}");
    assert!(city.live_sessions().is_empty(), "nothing starts without its rig");
    assert!(!city.path().join("nowhere").exists(), "the path is not made up");
    let missing = city.events("rig.path_missing");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0]["object"]["name"], "ghost");

    // Creating the directory is enough: the rig becomes ready, then its agent starts.
    std::fs::create_dir_all(city.path().join("nowhere")).unwrap();
    wait_until("the agent to start once its rig exists", LONG, || {
        city.live_sessions() == ["gc-town-haunt"]
    });
    assert_eq!(city.events("rig.path_missing").len(), 1, "reported once per transition");
    assert_eq!(city.events("rig.ready").len(), 1);
}

#[test]
fn worktree_agents_work_in_their_own_worktree_removed_after_them_only_when_clean() {
    let city = TestCity::new();
    git_repo(&city.path().join("repo"));
    city.rig("repo", "  path: repo\n");
    city.agent("coder", "  rig: repo\n  isolation: worktree\n");
    city.agent("tinker", "  rig: repo\n  isolation: worktree\n  workDir: sub\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);

    let trees = city.path().join(".gc/worktrees/repo");
    let coder = city.recorded("gc-town-coder");
    assert_eq!(coder["pwd"], trees.join("coder").display().to_string());
    assert_eq!(coder["branch"], "gc/coder");
    assert_eq!(coder["beads_dir"], city.path().join("repo/.beads").display().to_string());
    let tinker = city.recorded("gc-town-tinker");
    assert_eq!(tinker["pwd"], trees.join("tinker/sub").display().to_string());
    assert_eq!(tinker["branch"], "gc/tinker");
    assert!(trees.join("coder/README.md").exists(), "a checkout of the rig");

    // bd run in the worktree without BEADS_DIR finds the rig's store through the redirect.
    let located = gascity::beads::layout::locate(&trees.join("coder"), None).unwrap();
    assert_eq!(
        std::fs::canonicalize(located).unwrap(),
        std::fs::canonicalize(city.path().join("repo/.beads")).unwrap()
    );
    assert_eq!(city.events("worktree.created").len(), 2);

    // Deleted with nothing uncommitted: its worktree goes (its branch stays).
    city.run(&["delete", "agent/coder"]);
    // The event is written once the removal is done.
    wait_until("a worktree.removed event", LONG, || !city.events("worktree.removed").is_empty());
    assert!(!trees.join("coder").exists());
    let removed = city.events("worktree.removed");
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!(removed[0]["payload"]["member"], "coder");
    let branches = Command::new("git")
        .arg("-C")
        .arg(city.path().join("repo"))
        .args(["branch", "--list", "gc/coder"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&branches.stdout).contains("gc/coder"));

    // Deleted with work in progress: kept, and an event says why.
    std::fs::write(trees.join("tinker/notes.txt"), "half done\n").unwrap();
    city.run(&["delete", "agent/tinker"]);
    wait_until("a worktree.kept event", LONG, || !city.events("worktree.kept").is_empty());
    assert!(city.live_sessions().is_empty());
    let kept = &city.events("worktree.kept")[0];
    assert_eq!(kept["reason"], "UncommittedWork", "{kept}");
    let changes = kept["payload"]["changes"].to_string();
    assert!(changes.contains("notes.txt"), "{kept}");
    assert!(trees.join("tinker/notes.txt").exists(), "the work is not lost");
}

#[test]
fn a_rig_that_is_not_a_git_repo_blocks_worktree_agents_with_a_clear_reason() {
    let city = TestCity::new();
    std::fs::create_dir_all(city.path().join("plain")).unwrap();
    city.rig("plain", "  path: plain\n");
    city.agent("coder", "  rig: plain\n  isolation: worktree\n");
    city.run(&["apply"]);
    city.run(&["start", "--no-wait"]);
    wait_until("the rig to say it is not a git repository", LONG, || {
        ready_condition(&city.status("rigs", "plain")).1 == "NotAGitRepo"
    });
    wait_until("the agent to be blocked", LONG, || {
        city.status("agents", "coder")["conditions"][0]["reason"] == "RigNotGitRepo"
    });
    let events = city.events("rig.not_git_repo");
    assert_eq!(events.len(), 1);
    assert!(events[0]["message"].as_str().unwrap().contains("coder"), "{events:?}");
    assert!(city.live_sessions().is_empty());
}

#[test]
fn rig_add_writes_a_rig_file_that_applies_and_lists() {
    let city = TestCity::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let project = std::fs::canonicalize(elsewhere.path()).unwrap().join("my-app");
    std::fs::create_dir_all(&project).unwrap();
    let project_arg = project.display().to_string();

    let out = city.run(&["rig", "add", &project_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Wrote rigs/my-app.yaml") && text.contains("gc apply"), "{text}");
    let again = city.gc().args(["rig", "add", &project_arg]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = city.gc().args(["rig", "add", &project_arg, "--name", "My_App"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--name my-app"));

    // A rig inside the city, cloned from a repository on first apply.
    let origin = tempfile::tempdir().unwrap();
    git_repo(origin.path());
    let origin_arg = origin.path().display().to_string();
    city.run(&["rig", "add", "code/tool", "--prefix", "tl", "--repo", &origin_arg]);

    let list: Value =
        serde_json::from_slice(&city.run(&["rig", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(list[0]["name"], "my-app");
    assert_eq!(list[0]["applied"], false);
    assert_eq!(list[0]["pathExists"], true);
    assert_eq!(list[0]["store"]["state"], "missing");
    assert_eq!(list[1]["path"], "code/tool");
    assert_eq!(list[1]["prefix"], "tl");

    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert!(project.join(".beads/gc-store.json").exists());
    assert!(city.path().join("code/tool/README.md").exists(), "cloned");
    assert_eq!(city.events("rig.cloned").len(), 1);
    let list: Value =
        serde_json::from_slice(&city.run(&["rig", "list", "-o", "json"]).stdout).unwrap();
    for rig in list.as_array().unwrap() {
        assert_eq!(rig["applied"], true, "{rig}");
        assert_eq!(rig["store"]["state"], "ready", "{rig}");
        assert_eq!(rig["ready"]["ready"], true, "{rig}");
    }
    let table = String::from_utf8_lossy(&city.run(&["rig", "list"]).stdout).into_owned();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("my-app") && table.contains("ready   yes"), "{table}");
}
