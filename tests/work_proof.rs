//! Verified completion end to end: a rig that requires proof on close, an agent on real tmux
//! whose `bd close` is refused (with a message it reads on its screen) until it commits, and
//! `gc bd close --commit` checked against the rig's repository and its target branch.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tmux_city::{TmuxCity, git, wait_until};

const LONG: Duration = Duration::from_secs(60);

/// Works each bead on its hook in the rig as an agent would: it closes it, reads the answer
/// (shown on its screen), and when the answer asks for a commit, commits and closes again with
/// it.
const WORKER: &str = r#"#!/usr/bin/env bash
printf 'ready> '
while :; do
  id=$(gc hook --json 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
  if [ -n "$id" ] && bd update "$id" --claim >/dev/null 2>&1; then
    answer=$(bd close "$id" 2>&1 | tr '\n' ' ')
    echo "$answer"
    case "$answer" in
      *"--commit <sha>"*)
        git -c user.name=w -c user.email=w@example.com commit -q --allow-empty -m "$id"
        bd close "$id" --commit "$(git rev-parse HEAD)" 2>&1 | tr '\n' ' '
        echo ;;
    esac
  fi
  sleep 0.2
done
"#;

fn city() -> TmuxCity {
    let city = TmuxCity::new("proof");
    let repo = city.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    // The project's history is older than any work the test gives out.
    let old = [
        ("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z"),
        ("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z"),
    ];
    let out = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["commit", "-q", "--allow-empty", "-m", "start"])
        .envs(old)
        .output()
        .unwrap();
    assert!(out.status.success());
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: probe\n  session:\n    socket: {}\n  controller:\n    \
             shutdownTimeout: 1s\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: probe\nspec:\n  \
             command: scripts/worker.sh\n  readyPromptPrefix: \"ready> \"\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Rig\nmetadata:\n  name: app\nspec:\n  \
             path: app\n  completion:\n    requireCommit: true\n    targetBranch: main\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: coder\nspec:\n  \
             rig: app\n",
            city.socket
        ),
    );
    city.write_script("scripts/worker.sh", WORKER);
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start"]);
    city
}

/// `gc bd ARGS` run in the rig, as `tester`.
fn bd(city: &TmuxCity, args: &[&str]) -> std::process::Output {
    let mut cmd = city.gc();
    cmd.current_dir(city.path().join("app")).env("BEADS_ACTOR", "tester").arg("bd").args(args);
    cmd.output().unwrap()
}

fn show(city: &TmuxCity, id: &str) -> Value {
    let out = bd(city, &["show", id, "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

fn sling(city: &TmuxCity, title: &str) -> String {
    let out = city.run(&["sling", "coder", title, "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned()
}

fn screen(city: &TmuxCity) -> String {
    let out = city.tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "gc-town-coder"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_rig_requiring_proof_refuses_closes_without_a_commit_on_its_target_branch() {
    let city = city();
    let repo = city.path().join("app");

    // The agent closes without committing: refused, with a message it reads and acts on: it
    // commits on main and closes again with the commit, which is recorded as proof.
    let id = sling(&city, "tidy up");
    wait_until("the agent to close it", LONG, || show(&city, &id)["status"] == "closed");
    let text = screen(&city);
    let refused = text.find(&format!("{id} is not closed")).expect(&text);
    assert!(text[refused..].contains("older than the work"), "{text}");
    assert!(text[refused..].contains(&format!("Closed {id}")), "{text}");
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(git(&repo, &["log", "-1", "--format=%s"]), id, "the agent's own commit");
    let shown = show(&city, &id);
    assert_eq!(shown["metadata"]["gc.commit"], head.as_str(), "{shown}");
    assert_eq!(shown["metadata"]["gc.commit_on"], "main", "{shown}");
    let text = String::from_utf8(bd(&city, &["show", &id]).stdout).unwrap();
    assert!(text.contains(&format!("Proof:    commit {head} (on main)")), "{text}");
    let closed = city.events("bead.closed");
    assert!(
        closed
            .iter()
            .any(|e| e["payload"]["id"] == id.as_str() && e["payload"]["commit"] == head.as_str()),
        "{closed:?}"
    );

    // By hand: a made-up commit, then one not on main, are refused; a merged one is taken.
    let out = bd(&city, &["create", "by hand", "--json"]);
    let lazy =
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned();
    assert!(bd(&city, &["update", &lazy, "--claim"]).status.success());
    let out = bd(&city, &["close", &lazy, "--commit", "0123456789abcdef"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("commit 0123456789abcdef does not exist in"), "{err}");
    git(&repo, &["checkout", "-q", "-b", "side"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "side work"]);
    let side = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "main"]);
    let out = bd(&city, &["close", &lazy, "--commit", &side]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is not on main yet"), "{err}");
    assert_eq!(show(&city, &lazy)["status"], "in_progress", "a refused close changes nothing");
    git(&repo, &["merge", "-q", "--ff-only", "side"]);
    let out = bd(&city, &["close", &lazy, "--commit", &side[..12]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(show(&city, &lazy)["metadata"]["gc.commit"], side.as_str());
    city.run(&["stop"]);
}
