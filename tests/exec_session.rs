//! A city on the exec session backend (`session.backend: exec`) with the example script from
//! `docs/examples/exec-session-process.py`: its agent starts, takes a nudge, comes back after
//! its program is killed, and nothing is left after `gc stop`. A script that hangs, answers
//! garbage or crashes is a clear error and one `agent.reconcile_failed` event, and the
//! controller stays responsive.

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::{Duration, Instant};

use tmux_city::{TmuxCity, wait_until};

const AGENT: &str = "#!/usr/bin/env bash\nwhile true; do\n  printf 'ready> '\n  \
                     IFS= read -r line || exit 0\n  echo \"heard $line\"\ndone\n";

/// A city `town` whose sessions are run by `backend` (written to `scripts/backend`), with one
/// agent `solo` running [`AGENT`].
fn exec_city(tag: &str, backend: &str, timeout: &str) -> TmuxCity {
    let city = TmuxCity::new(tag);
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: probe\n  session:\n    backend: exec\n    command: scripts/backend\n    \
             commandTimeout: {timeout}\n    startupTimeout: 20s\n  controller:\n    \
             shutdownTimeout: 2s\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: probe\nspec:\n  \
             command: scripts/agent.sh\n  readyPromptPrefix: \"ready> \"\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: solo\nspec: {{}}\n"
        ),
    );
    city.write_script("scripts/agent.sh", AGENT);
    city.write_script("scripts/backend", backend);
    city
}

fn peek(city: &TmuxCity) -> String {
    let out = city.gc().args(["session", "peek", "solo"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_city_runs_on_the_exec_example_backend() {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/examples/exec-session-process.py"),
    )
    .unwrap();
    let city = exec_city("execok", &example, "10s");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let listed = String::from_utf8(city.run(&["session", "list"]).stdout).unwrap();
    assert!(listed.contains("gc-town-solo") && listed.contains("ready"), "{listed}");
    city.run(&["session", "nudge", "solo", "hello $(touch pwned) 'q'"]);
    wait_until("the nudge heard", Duration::from_secs(10), || {
        peek(&city).contains("heard hello $(touch pwned) 'q'")
    });
    assert!(!city.path().join("pwned").exists());

    // Killed, it comes back: the controller observes sessions through the script.
    let status = city.status("agents", "solo");
    let pid = status["sessions"][0]["pid"].as_u64().expect("a pid") as u32;
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).output().unwrap();
    wait_until("the restart", Duration::from_secs(20), || {
        city.events("session.started").iter().any(|e| e["reason"] == "Restarted")
    });
    city.run(&["stop"]);
    let dir = city.path().to_string_lossy().into_owned();
    wait_until("nothing of the city left running", Duration::from_secs(10), || {
        agent_clis::processes_mentioning(&dir).is_empty()
    });
    assert!(city.events("agent.reconcile_failed").is_empty());
}

#[test]
fn a_broken_exec_script_is_an_error_and_an_event_never_a_wedged_controller() {
    let broken = [
        ("hangs", "#!/bin/sh\nexec sleep 60\n", "did not finish within 1s"),
        ("garbage", "#!/bin/sh\necho 'not json at all'\n", "answered with invalid JSON"),
        ("crashes", "#!/bin/sh\necho 'backend exploded' >&2\nexit 7\n", "backend exploded"),
    ];
    for (tag, script, says) in broken {
        let city = exec_city(&format!("exec{tag}"), script, "1s");
        city.run(&["apply"]);
        let started = city.gc().args(["start", "--timeout", "4s"]).output().unwrap();
        assert!(!started.status.success(), "{tag}: no agent can be up");
        wait_until("the failure recorded", Duration::from_secs(20), || {
            !city.events("agent.reconcile_failed").is_empty()
        });
        let failed = city.events("agent.reconcile_failed");
        let message = failed[0]["message"].as_str().unwrap();
        assert!(message.contains("scripts/backend") && message.contains(says), "{tag}: {message}");
        std::thread::sleep(Duration::from_secs(3)); // checking the failure is not re-recorded
        assert_eq!(city.events("agent.reconcile_failed").len(), 1, "{tag}: one event");
        // The controller still answers, and stops.
        let asked = Instant::now();
        city.gc().args(["status"]).output().unwrap();
        assert!(asked.elapsed() < Duration::from_secs(10), "{tag}: gc status hung");
        let stopped = Instant::now();
        city.gc().args(["stop"]).output().unwrap();
        assert!(stopped.elapsed() < Duration::from_secs(30), "{tag}: gc stop hung");
        if let Some(pid) = city.controller_pid() {
            wait_until_gone(pid);
        }
        let dir = city.path().to_string_lossy().into_owned();
        wait_until("nothing of the city left running", Duration::from_secs(10), || {
            agent_clis::processes_mentioning(&dir).is_empty()
        });
    }
}

fn wait_until_gone(pid: u32) {
    wait_until("the controller gone", Duration::from_secs(20), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
}
