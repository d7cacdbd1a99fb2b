//! The real Claude Code under gc, end to end, against a loopback stand-in for the Anthropic
//! Messages API (`common/messages_standin.rs`) whose scripted replies call the Bash tool, which
//! Claude really runs. A city made by `gc init --provider claude` starts with no human: no
//! dialog, no login; the SessionStart hook hands the agent its prompt and work; the agent
//! claims and closes its bead with its own `bd` calls; the Stop hook sends it on to the next
//! one; nothing of the shell that ran `gc start` leaks into the session; nothing is left
//! running afterwards. Skipped when no `claude` is found (see `common/agent_clis.rs`).

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::process::Command;
use std::time::Duration;

use messages_standin::Standin;
use serde_json::Value;
use tmux_city::{TmuxCity, wait_until};

/// Kills whatever still mentions the city's directory when the test ends (also on failure).
struct Reaper(String);

impl Drop for Reaper {
    fn drop(&mut self) {
        for line in agent_clis::processes_mentioning(&self.0) {
            if let Some(pid) = line.split_whitespace().next() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
    }
}

/// `gc init --provider claude` into a fresh city on its own tmux socket, trimmed to the mayor
/// and a worker pool of one (so which session works which bead is certain).
fn claude_city() -> TmuxCity {
    let city = TmuxCity::new("claude");
    let path = city.path();
    city.run(&["init", path.to_str().unwrap(), "--provider", "claude", "--name", "town"]);
    let edit = |file: &str, from: &str, to: &str| {
        let full = path.join(file);
        let text = std::fs::read_to_string(&full).unwrap();
        assert!(text.contains(from), "{file} changed shape: no {from:?}");
        std::fs::write(&full, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "city.yaml",
        "    backend: tmux\n",
        &format!("    backend: tmux\n    socket: {}\n", city.socket),
    );
    edit("agents/worker.yaml", "    max: 3\n", "    max: 1\n");
    std::fs::remove_file(path.join("agents/reviewer.toml")).unwrap();
    std::fs::remove_file(path.join("orders/nightly-patrol.yaml")).unwrap();
    city
}

fn bead(city: &TmuxCity, id: &str) -> Value {
    let out = city
        .gc()
        .args(["bd", "show", id, "--json"])
        .current_dir(city.path().join("rigs/demo-repo"))
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    shown.get(0).cloned().unwrap_or(shown)
}

fn sling(city: &TmuxCity, text: &str, extra: &[&str]) -> String {
    let mut args = vec!["sling", "worker", text, "--json"];
    args.extend_from_slice(extra);
    let out = city.run(&args);
    let slung: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("gc sling --json: {e}: {}", String::from_utf8_lossy(&out.stdout))
    });
    slung["id"].as_str().or(slung["bead"]["id"].as_str()).expect("a bead id").to_owned()
}

#[test]
fn claude_works_its_beads_unattended_and_leaves_nothing_running() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    let city = claude_city();
    let _reaper = Reaper(city.path().to_string_lossy().into_owned());
    let gc = |args: &[&str]| {
        let out = city
            .gc()
            .args(args)
            .env("PATH", agent_clis::path_with(&claude))
            .env("ANTHROPIC_BASE_URL", standin.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij")
            // What a shell inside another agent carries; none of it may reach a session.
            .env("CLAUDECODE", "1")
            .env("CLAUDE_CODE_ENTRYPOINT", "cli")
            .env("NODE_OPTIONS", "--max-old-space-size=64")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gc {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    gc(&["apply"]);
    // Work slung before the agent runs reaches it through its SessionStart hook; the next
    // through its Stop hook: no nudge either time.
    let first = sling(&city, "Add a CHANGELOG entry", &[]);
    let second = sling(&city, "Write the release notes", &[]);
    gc(&["start", "--timeout", "90s"]);

    wait_until("both beads closed by the worker", Duration::from_secs(120), || {
        [&first, &second].iter().all(|id| bead(&city, id)["status"] == "closed")
    });
    for id in [&first, &second] {
        let shown = bead(&city, id);
        assert_eq!(shown["assignee"], "worker-1", "claimed by the agent's own bd: {shown}");
        assert_eq!(shown["close_reason"], "done", "closed by the agent's own bd: {shown}");
    }
    // The worker's prompt came through SessionStart (the stand-in saw it in a request body),
    // the second bead through the Stop hook.
    assert!(standin.bodies_contain("SessionStart:startup hook success: You are worker"));
    let sent_on = |id: &str| {
        standin.bodies_contain(&format!(
            "Stop hook feedback:\nWork is on your hook (ready, routed to you): {id}"
        ))
    };
    assert!(sent_on(&first) || sent_on(&second), "one bead came through the Stop hook");
    assert!(city.events("session.dialog").is_empty(), "seeding left no dialog to answer");

    // The session's environment was built, not inherited.
    let status = city.status("agents", "worker");
    let pane = status["sessions"][0]["pid"].as_u64().expect("the worker's pane pid") as u32;
    let claude_pid = agent_clis::descendant(pane, "claude").expect("claude runs in the session");
    let env = agent_clis::environ(claude_pid);
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for leaked in ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "NODE_OPTIONS"] {
        assert!(!names.contains(&leaked), "{leaked} leaked into the session: {names:?}");
    }
    let value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(value("GC_AGENT"), Some("worker"));
    assert_eq!(value("BEADS_ACTOR"), Some("worker-1"));
    assert_eq!(value("DISABLE_AUTOUPDATER"), Some("1"));
    assert_eq!(value("ANTHROPIC_BASE_URL"), Some(standin.base_url().as_str()));
    assert!(value("CLAUDE_CONFIG_DIR").is_some_and(|d| d.contains("/.gc/homes/")));

    // Work slung to the running agent reaches it with the sling's nudge.
    let third = sling(&city, "Tag the release", &["--nudge"]);
    wait_until("the nudged bead closed", Duration::from_secs(60), || {
        bead(&city, &third)["status"] == "closed"
    });

    gc(&["stop"]);
    let city_dir = city.path().to_string_lossy().into_owned();
    wait_until("every process of the city gone", Duration::from_secs(10), || {
        agent_clis::processes_mentioning(&city_dir).is_empty()
    });
}
