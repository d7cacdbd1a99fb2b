//! Session lifecycle rules end to end on real tmux: crash loops end in quarantine, drift is
//! handled as each agent's `restartPolicy` says, pools follow their work, and `dependsOn`
//! orders starts. Each test runs its own city on its own tmux socket and kills it afterwards.

use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};

/// An agent CLI stand-in: shows a `ready> ` prompt, then prints a line every 0.2 s until the
/// file `$GC_CITY/quiet` exists (so a test decides when the session goes quiet).
const CHATTY: &str = r#"#!/usr/bin/env bash
printf 'ready> \n'
while true; do
  [ -e "$GC_CITY/quiet" ] || echo "working $(date +%s%N)"
  sleep 0.2
done
"#;

/// A city on its own socket with the `probe` provider running [`CHATTY`] and the given City
/// `controller:` settings (YAML lines indented by four spaces).
fn city(tag: &str, controller: &str) -> TmuxCity {
    let city = TmuxCity::with_probe(tag, "tmux", CHATTY);
    let yaml = std::fs::read_to_string(city.path().join("city.yaml")).unwrap();
    let yaml = yaml.replace("  controller:\n", &format!("  controller:\n{controller}"));
    city.write("city.yaml", &yaml);
    city
}

fn agent(city: &TmuxCity, name: &str, spec: &str) {
    city.write(
        &format!("agents/{name}.yaml"),
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n{spec}"
        ),
    );
}

/// Live sessions on the city's socket.
fn live_sessions(city: &TmuxCity) -> Vec<String> {
    let out = city.tmux(&["list-panes", "-a", "-F", "#{session_name} #{pane_dead}"]);
    let mut live: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(" 0").map(str::to_owned))
        .collect();
    live.sort();
    live.dedup();
    live
}

/// The events of `event_type` about `session`.
fn events_of(city: &TmuxCity, event_type: &str, session: &str) -> Vec<Value> {
    city.events(event_type).into_iter().filter(|e| e["payload"]["session"] == session).collect()
}

fn gc_out(city: &TmuxCity, args: &[&str]) -> String {
    String::from_utf8_lossy(&city.run(args).stdout).into_owned()
}

#[test]
fn a_command_that_exits_at_once_ends_quarantined_until_reset() {
    let city = city(
        "gclq",
        "    crashLoop:\n      maxRestarts: 3\n      quarantine: 1h\n      backoff:\n        \
         initial: 100ms\n        max: 200ms\n",
    );
    city.write_script("scripts/crash.sh", "#!/bin/sh\necho \"boom from $GC_SESSION\"\nexit 3\n");
    city.write(
        "providers/crash.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: crash\nspec:\n  \
         command: scripts/crash.sh\n",
    );
    agent(&city, "crasher", "  provider: crash\n");
    city.run(&["apply"]);
    // Not `gc start --wait`: a crash-looping agent is not something to wait for.
    let _ = city.gc().args(["start", "--timeout", "1s"]).output().unwrap();
    let session = "gc-town-crasher";
    wait_until("the quarantine", Duration::from_secs(30), || {
        !events_of(&city, "session.quarantined", session).is_empty()
    });
    // One event per death: a crash (restarted) three times, then the quarantine.
    assert_eq!(events_of(&city, "session.crashed", session).len(), 3);
    assert_eq!(events_of(&city, "session.started", session).len(), 4);
    let quarantined = &events_of(&city, "session.quarantined", session)[0];
    assert!(
        quarantined["payload"]["output"].as_str().unwrap().contains("boom from gc-town-crasher"),
        "the event carries the last output: {quarantined}"
    );
    wait_until("status Quarantined", Duration::from_secs(10), || {
        city.status("agents", "crasher")["phase"] == "Quarantined"
    });
    let table = gc_out(&city, &["get", "agents"]);
    assert!(table.contains("Quarantined"), "{table}");
    let sessions = gc_out(&city, &["session", "list"]);
    // The dead pane shows its exit status (tmux may also have lost the pane: still listed).
    let row = sessions.lines().find(|l| l.starts_with(session)).unwrap_or_default();
    assert!(row.contains("quarantined"), "{sessions}");

    // A City change makes the controller plan every agent again; it still does not restart it.
    let yaml = std::fs::read_to_string(city.path().join("city.yaml")).unwrap();
    city.write(
        "city.yaml",
        &yaml.replace(
            "  defaultProvider: probe\n",
            "  defaultProvider: probe\n  maxActiveSessions: 50\n",
        ),
    );
    city.run(&["apply"]);
    wait_until("crasher planned against the new City", Duration::from_secs(15), || {
        city.status("agents", "crasher")["observedInputs"]
            .as_str()
            .is_some_and(|i| i.contains("city 2"))
    });
    assert_eq!(events_of(&city, "session.started", session).len(), 4, "no restart in quarantine");
    assert_eq!(city.status("agents", "crasher")["phase"], "Quarantined");

    // `gc session reset` lifts it: the controller starts it again at once.
    let out = gc_out(&city, &["session", "reset", "crasher"]);
    assert!(out.contains("quarantine lifted"), "{out}");
    wait_until("a start after the reset", Duration::from_secs(15), || {
        events_of(&city, "session.started", session).len() > 4
    });
}

#[test]
fn drift_is_handled_as_each_agents_restart_policy_says() {
    let city = city("gcld", "");
    for (name, policy) in [("now", "Immediate"), ("idle", "WhenIdle"), ("never", "Never")] {
        agent(
            &city,
            name,
            &format!(
                "  env:\n    LOG_LEVEL: info\n  restartPolicy:\n    onDrift: {policy}\n    \
                 quietPeriod: 3s\n"
            ),
        );
    }
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let started = city.events("session.started").len();
    assert_eq!(started, 3);

    for name in ["now", "idle", "never"] {
        let path = city.path().join(format!("agents/{name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap().replace("info", "debug");
        std::fs::write(path, text).unwrap();
    }
    let diff = city.gc().arg("diff").output().unwrap();
    assert_eq!(diff.status.code(), Some(1), "the diff shows the change");
    city.run(&["apply"]);

    // Immediate: restarted, naming the field.
    wait_until("the Immediate restart", Duration::from_secs(15), || {
        !events_of(&city, "session.restarted", "gc-town-now").is_empty()
    });
    let restart = &events_of(&city, "session.restarted", "gc-town-now")[0];
    assert_eq!(restart["payload"]["changed"], serde_json::json!(["env.LOG_LEVEL"]));
    assert!(restart["message"].as_str().unwrap().contains("policy Immediate"), "{restart}");

    // WhenIdle: pending while it prints, with the reason on show.
    wait_until("the pending drift in the status", Duration::from_secs(10), || {
        city.status("agents", "idle")["drift"]
            .as_str()
            .is_some_and(|d| d.contains("env.LOG_LEVEL changed") && d.contains("restart pending"))
    });
    let table = gc_out(&city, &["get", "agents"]);
    let idle_row = table.lines().find(|l| l.starts_with("idle ")).unwrap();
    assert!(idle_row.contains("restart pending"), "{table}");
    assert!(events_of(&city, "session.restarted", "gc-town-idle").is_empty());
    // Quiet now: restarted once it has been quiet for its quietPeriod.
    city.write("quiet", "");
    wait_until("the WhenIdle restart", Duration::from_secs(20), || {
        !events_of(&city, "session.restarted", "gc-town-idle").is_empty()
    });

    // Never: reported only.
    wait_until("the Never agent reported drifted", Duration::from_secs(10), || {
        city.status("agents", "never")["sessions"][0]["phase"] == "drifted"
    });
    let drift = city.status("agents", "never")["drift"].as_str().unwrap_or_default().to_owned();
    assert!(drift.contains("policy Never"), "{drift}");

    // Fresh sessions have nothing to drift from: a restarted controller (which re-plans every
    // agent from scratch) restarts nothing more, and Never stays as it is.
    city.kill_controller();
    city.run(&["start", "--timeout", "30s"]);
    wait_until("the new controller's status for never", Duration::from_secs(10), || {
        city.status("agents", "never")["sessions"][0]["phase"] == "drifted"
    });
    assert_eq!(city.events("session.restarted").len(), 2, "{:?}", city.events("session.restarted"));
    assert!(events_of(&city, "session.restarted", "gc-town-never").is_empty());
    assert_eq!(city.events("session.stopped").len(), 0, "nothing stopped for drift");
}

/// The sample agent (claims its work with `gc hook` and `bd update --claim`), "working" on
/// each bead for an hour, so it holds what it claimed.
const SAMPLE_AGENT: &str = include_str!("../manifests/sample-city/scripts/sample-agent.sh");

#[test]
fn a_pool_grows_with_slung_work_and_shrinks_when_it_is_closed() {
    let city = city("gclp", "");
    city.write_script("scripts/sample.sh", SAMPLE_AGENT);
    city.write(
        "providers/sample.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: sample\nspec:\n  \
         command: scripts/sample.sh\n  readyPromptPrefix: \"sample> \"\n",
    );
    agent(
        &city,
        "worker",
        "  provider: sample\n  env:\n    SAMPLE_WORK_SECONDS: \"3600\"\n  scaling:\n    min: 0\n    \
         max: 3\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    assert!(live_sessions(&city).is_empty(), "no work, no members");

    let mut ids = Vec::new();
    for n in 1..=3 {
        let out = gc_out(&city, &["sling", "worker", &format!("task {n}"), "--json"]);
        let bead: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        ids.push(bead["id"].as_str().unwrap().to_owned());
    }
    let members: Vec<String> = (1..=3).map(|n| format!("gc-town-worker-{n}")).collect();
    wait_until("three members holding the three beads", Duration::from_secs(30), || {
        let listed = gc_out(&city, &["bd", "list", "--status", "in_progress", "--json"]);
        let held = serde_json::from_str::<Vec<Value>>(&listed).map_or(0, |b| b.len());
        live_sessions(&city) == members && held == 3
    });

    for id in &ids {
        city.run(&["bd", "close", id]);
    }
    let scaled_down = || {
        let stops = city.events("session.stopped");
        stops.iter().filter(|e| e["reason"] == "ScaledDown").count()
    };
    // The event is written once the stop is done, a moment after tmux shows the session gone.
    wait_until("the pool back at zero", Duration::from_secs(30), || {
        live_sessions(&city).is_empty() && scaled_down() >= 3
    });
    assert_eq!(scaled_down(), 3);
    wait_until("the status caught up", Duration::from_secs(10), || {
        city.status("agents", "worker")["desiredSessions"] == 0
    });
    assert_eq!(city.status("agents", "worker")["phase"], "Running");
}

#[test]
fn dependencies_start_in_waves_and_stop_in_reverse() {
    let city = city("gclw", "");
    // Ready a moment after it starts, so a dependent starting too early would show.
    city.write_script(
        "scripts/agent.sh",
        "#!/usr/bin/env bash\nsleep 0.5\nprintf 'ready> \\n'\nwhile true; do sleep 1; done\n",
    );
    agent(&city, "base", "  description: the base\n");
    agent(&city, "middle", "  dependsOn: [base]\n");
    agent(&city, "top", "  dependsOn: [middle]\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let seq = |event_type: &str, session: &str| -> u64 {
        events_of(&city, event_type, session)[0]["seq"].as_u64().unwrap()
    };
    assert!(seq("session.ready", "gc-town-base") < seq("session.started", "gc-town-middle"));
    assert!(seq("session.ready", "gc-town-middle") < seq("session.started", "gc-town-top"));

    // Suspending the City stops dependents first.
    let yaml = std::fs::read_to_string(city.path().join("city.yaml")).unwrap();
    city.write(
        "city.yaml",
        &yaml
            .replace("  defaultProvider: probe\n", "  defaultProvider: probe\n  suspended: true\n"),
    );
    city.run(&["apply"]);
    wait_until("everything stopped", Duration::from_secs(30), || {
        live_sessions(&city).is_empty() && city.events("session.stopped").len() == 3
    });
    let stopped = |session: &str| seq("session.stopped", session);
    assert!(stopped("gc-town-top") < stopped("gc-town-middle"));
    assert!(stopped("gc-town-middle") < stopped("gc-town-base"));
}

#[test]
fn an_idle_session_stops_and_comes_back_when_work_is_slung() {
    let city = city("gcli", "");
    city.write("quiet", "");
    agent(&city, "idler", "  idleTimeout: 2s\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let session = "gc-town-idler";
    wait_until("the idle stop", Duration::from_secs(20), || {
        events_of(&city, "session.stopped", session).iter().any(|e| e["reason"] == "IdleTimeout")
    });
    wait_until("phase Idle", Duration::from_secs(10), || {
        city.status("agents", "idler")["phase"] == "Idle"
    });
    assert!(live_sessions(&city).is_empty());

    city.run(&["sling", "idler", "wake up"]);
    wait_until("the start for the work", Duration::from_secs(15), || {
        events_of(&city, "session.started", session).iter().any(|e| e["reason"] == "WorkArrived")
    });
    assert_eq!(live_sessions(&city), [session]);
    // Ready work waiting for it keeps it from counting as idle.
    std::thread::sleep(Duration::from_secs(3)); // past its idleTimeout: nothing to wait for
    assert_eq!(live_sessions(&city), [session]);
}
