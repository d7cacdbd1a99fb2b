//! The runtime plan of `gc diff` and `gc apply --dry-run` end to end on real tmux: what the plan
//! announces is what the controller then does. Each test runs its own city on its own tmux
//! socket and always kills that tmux server and its controller afterwards.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{PROMPT_AGENT, TmuxCity, wait_until};

const LONG: Duration = Duration::from_secs(30);

fn city() -> TmuxCity {
    TmuxCity::with_probe("gcdp", "tmux", PROMPT_AGENT)
}

/// Writes `agents/<name>.yaml`.
fn agent(city: &TmuxCity, name: &str, spec: &str) {
    city.write(
        &format!("agents/{name}.yaml"),
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n{spec}"
        ),
    );
}

fn with_env(level: &str, policy: &str) -> String {
    format!("  env:\n    LOG_LEVEL: {level}\n  restartPolicy:\n    onDrift: {policy}\n")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of the runtime plan section of `text` (its header, then each line as printed).
fn plan_section(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Runtime plan"))
        .map(|l| l.trim().to_owned())
        .collect()
}

/// `(start|restart|stop, session)` for every action line of a plan section.
fn planned_actions(section: &[String]) -> BTreeSet<(String, String)> {
    section
        .iter()
        .filter_map(|line| {
            let (_, action) = line.split_once(": ")?;
            let mut words = action.split([' ', ':']);
            let verb = words.next()?;
            let session = words.next()?;
            ["start", "restart", "stop"]
                .contains(&verb)
                .then(|| (verb.to_owned(), session.to_owned()))
        })
        .collect()
}

/// `(start|restart|stop, session)` for the session events after `seq`. A drift restart is
/// recorded as `session.restarted` followed by the start of the new session
/// (`RestartedForDrift`), which belongs to the restart.
fn session_events_since(city: &TmuxCity, seq: u64) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (event_type, verb) in [
        ("session.started", "start"),
        ("session.restarted", "restart"),
        ("session.stopped", "stop"),
    ] {
        for event in city.events(event_type) {
            if event["seq"].as_u64().unwrap_or(0) <= seq || event["reason"] == "RestartedForDrift" {
                continue;
            }
            let session = event["payload"]["session"].as_str().unwrap_or_default().to_owned();
            out.insert((verb.to_owned(), session));
        }
    }
    out
}

fn last_seq(city: &TmuxCity) -> u64 {
    let text = std::fs::read_to_string(city.path().join(".gc/events.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

fn pane_pid(city: &TmuxCity, session: &str) -> Option<String> {
    let out = city.tmux(&["list-panes", "-t", &format!("={session}"), "-F", "#{pane_pid}"]);
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn what_the_runtime_plan_says_is_what_apply_then_does() {
    let city = city();
    agent(&city, "mayor", &with_env("info", "Immediate"));
    agent(&city, "steady", &with_env("info", "Never"));
    agent(&city, "gone", "  env:\n    LOG_LEVEL: info\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let steady_pid = pane_pid(&city, "gc-town-steady").expect("steady runs");

    agent(&city, "mayor", &with_env("debug", "Immediate"));
    agent(&city, "steady", &with_env("debug", "Never"));
    agent(&city, "fresh", "  dependsOn: [mayor]\n");
    std::fs::remove_file(city.path().join("agents/gone.yaml")).unwrap();

    let diff = city.gc().arg("diff").output().unwrap();
    assert_eq!(diff.status.code(), Some(1), "resources differ");
    let section = plan_section(&stdout(&diff));
    assert_eq!(
        section,
        [
            "Runtime plan (what the controller does once this is applied):",
            "agent/mayor: restart gc-town-mayor: env.LOG_LEVEL changed; policy Immediate",
            "agent/steady: gc-town-steady drifted (env.LOG_LEVEL changed), not restarted: policy \
             Never",
            "agent/fresh: start gc-town-fresh (not running)",
            "agent/gone: stop gc-town-gone (Deleted)",
        ]
    );
    let dry_run = city.run(&["apply", "--dry-run"]);
    assert_eq!(plan_section(&stdout(&dry_run)), section, "apply --dry-run prints the same plan");

    let before = last_seq(&city);
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    // Settled when the plan of the live city has nothing left to do.
    wait_until("the city to settle", LONG, || {
        stdout(&city.run(&["diff"])).contains("Runtime plan: no session changes.")
    });

    let planned = planned_actions(&section);
    assert_eq!(planned.len(), 3, "{planned:?}");
    assert_eq!(session_events_since(&city, before), planned);
    assert_eq!(
        pane_pid(&city, "gc-town-steady").as_deref(),
        Some(steady_pid.as_str()),
        "policy Never: not restarted"
    );
    assert_eq!(city.status("agents", "steady")["sessions"][0]["phase"], "drifted");
    let agents = stdout(&city.run(&["get", "agents"]));
    let steady = agents.lines().find(|l| l.starts_with("steady")).unwrap_or_default();
    assert!(steady.contains("drifted"), "{agents}");
    // The drift kept by policy is still said, as no session change.
    let settled = plan_section(&stdout(&city.run(&["diff"])));
    assert_eq!(
        settled,
        [
            "Runtime plan: no session changes.",
            "agent/steady: gc-town-steady drifted (env.LOG_LEVEL changed), not restarted: policy \
             Never",
        ]
    );
}

#[test]
fn a_city_never_started_gets_the_plan_of_gc_start_and_nothing_is_written() {
    let city = city();
    agent(&city, "mayor", "  env:\n    LOG_LEVEL: info\n");
    // A pool whose scaleCheck fails: the plan uses `min`, and a dry run records no event.
    agent(&city, "worker", "  scaling:\n    min: 1\n    max: 3\n    scaleCheck: \"exit 3\"\n");

    let diff = city.gc().arg("diff").output().unwrap();
    assert_eq!(diff.status.code(), Some(1));
    let section = plan_section(&stdout(&diff));
    assert_eq!(
        section[..2],
        [
            "Runtime plan (what the controller does once this is applied):",
            "No controller is running: this is what `gc start` would do.",
        ]
    );
    assert_eq!(section[2], "agent/mayor: start gc-town-mayor (not running)");
    assert!(
        section[3]
            .starts_with("agent/worker: start gc-town-worker-1 (pool scaled up: scaleCheck failed"),
        "{section:?}"
    );
    assert_eq!(section.len(), 4, "{section:?}");
    assert!(!city.path().join(".gc").exists(), "a diff writes nothing: no events, no stores");

    let quiet = city.gc().args(["diff", "--no-runtime"]).output().unwrap();
    assert_eq!(quiet.status.code(), Some(1));
    assert!(plan_section(&stdout(&quiet)).is_empty(), "{}", stdout(&quiet));
    assert!(stdout(&quiet).contains("agent/mayor: created"));
}
