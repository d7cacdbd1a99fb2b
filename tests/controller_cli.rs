//! The controller end to end on real tmux (and the subprocess backend): each test runs its own
//! city on its own tmux socket and always kills that tmux server and its controller afterwards.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};

const AGENT_SCRIPT: &str = r#"#!/usr/bin/env bash
# Records how it was started, then answers like an agent CLI behind a "ready> " prompt.
mkdir -p "$GC_CITY/out"
{
  echo "pwd=$PWD"
  echo "agent=$GC_AGENT"
  echo "session=$GC_SESSION"
  echo "extra=${EXTRA:-}"
  echo "argc=$#"
  printf 'arg=%s\n' "$@"
} > "$GC_CITY/out/$GC_SESSION.txt"
while true; do
  printf 'ready> '
  IFS= read -r line || exit 0
  echo "heard $line"
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
        TestCity::with_backend("tmux")
    }

    fn with_backend(backend: &str) -> TestCity {
        TestCity(TmuxCity::with_probe("gct", backend, AGENT_SCRIPT))
    }

    fn agent(&self, name: &str, extra: &str, more: &str) {
        self.write(
            &format!("agents/{name}.yaml"),
            &format!(
                "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n  \
                 env:\n    EXTRA: \"{extra}\"\n  prompt:\n    inline: \"You are {{{{ agent.name }}}}.\"\n{more}"
            ),
        );
    }

    /// `(session, pane pid, dead)` for every pane on the city's socket.
    fn panes(&self) -> Vec<(String, u32, bool)> {
        let out =
            self.tmux(&["list-panes", "-a", "-F", "#{session_name} #{pane_pid} #{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.split(' ');
                Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?, parts.next()? == "1"))
            })
            .collect()
    }

    fn live_sessions(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.panes().into_iter().filter(|p| !p.2).map(|p| p.0).collect();
        names.sort();
        names
    }

    /// The names of the objects of `event_type` events, in log order.
    fn event_objects(&self, event_type: &str) -> Vec<String> {
        let names = self.events(event_type).into_iter();
        names.filter_map(|e| e["object"]["name"].as_str().map(str::to_owned)).collect()
    }

    fn agent_status(&self, agent: &str) -> Value {
        self.status("agents", agent)
    }

    fn out_file(&self, session: &str) -> PathBuf {
        self.path().join("out").join(format!("{session}.txt"))
    }
}

const LONG: Duration = Duration::from_secs(20);

/// A city running [`three_agents`] under its controller.
fn started_three_agents() -> TestCity {
    let city = TestCity::new();
    three_agents(&city);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    city
}

fn three_agents(city: &TestCity) {
    city.agent("alpha", "one", "");
    city.agent("beta", "two with spaces", "  dependsOn: [alpha]\n");
    city.agent("gamma", "$(touch /tmp/gc-never-run)", "  workDir: sub/dir\n");
}

#[test]
fn apply_wait_starts_sessions_with_their_cwd_env_and_command() {
    let city = TestCity::new();
    three_agents(&city);
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert_eq!(city.live_sessions(), ["gc-town-alpha", "gc-town-beta", "gc-town-gamma"]);
    wait_until("the agents to record how they started", LONG, || {
        ["alpha", "beta", "gamma"].iter().all(|a| city.out_file(&format!("gc-town-{a}")).exists())
    });
    let read = |a: &str| std::fs::read_to_string(city.out_file(&format!("gc-town-{a}"))).unwrap();
    let root = std::fs::canonicalize(city.path()).unwrap();
    let alpha = read("alpha");
    assert!(alpha.contains(&format!("pwd={}\n", root.display())), "{alpha}");
    assert!(alpha.contains("agent=alpha\nsession=gc-town-alpha\nextra=one\n"), "{alpha}");
    // The prompt is one argument: the startup beacon, then the rendered template.
    assert!(alpha.contains("argc=1\narg=[town] alpha • "), "{alpha}");
    assert!(alpha.contains("You are alpha."), "{alpha}");
    assert!(read("beta").contains("extra=two with spaces\n"));
    let gamma = read("gamma");
    assert!(gamma.contains(&format!("pwd={}\n", root.join("sub/dir").display())), "{gamma}");
    assert!(
        gamma.contains("extra=$(touch /tmp/gc-never-run)\n"),
        "env values are not run by a shell"
    );
    // Dependencies start first.
    let started = city.event_objects("session.started");
    let pos = |a: &str| started.iter().position(|s| s == a).unwrap();
    assert!(pos("alpha") < pos("beta"), "{started:?}");
    // Status says so.
    let status: Value = serde_json::from_str(
        &std::fs::read_to_string(city.path().join(".gc/status/agents/beta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["readySessions"], 1);
    // Running the reconcile again changes nothing.
    let pids = city.panes();
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert_eq!(city.panes(), pids);
}

#[test]
fn the_controller_restores_crashes_deletions_suspensions_and_a_killed_server() {
    let city = started_three_agents();
    assert_eq!(city.live_sessions(), ["gc-town-alpha", "gc-town-beta", "gc-town-gamma"]);

    // A second controller is refused.
    let second = city.gc().args(["start", "--foreground"]).output().unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"));

    // Kill a session's program: it is back within seconds, with a session.crashed event.
    let alpha_pid = city.panes().into_iter().find(|p| p.0 == "gc-town-alpha").unwrap().1;
    Command::new("kill").args(["-9", &alpha_pid.to_string()]).output().unwrap();
    wait_until("alpha to be restarted", LONG, || {
        city.panes().iter().any(|p| p.0 == "gc-town-alpha" && !p.2 && p.1 != alpha_pid)
    });
    wait_until("a session.crashed event", LONG, || !city.events("session.crashed").is_empty());

    // Kill a whole tmux session: also restored.
    city.tmux(&["kill-session", "-t", "=gc-town-gamma"]);
    wait_until("gamma to come back", LONG, || {
        city.live_sessions().contains(&"gc-town-gamma".to_owned())
    });

    // Suspend an agent: it stops and stays stopped.
    city.agent("gamma", "$(touch /tmp/gc-never-run)", "  workDir: sub/dir\n  suspended: true\n");
    city.run(&["apply"]);
    wait_until("gamma's status to say Stopped", LONG, || {
        city.agent_status("gamma")["phase"] == "Stopped"
    });
    assert!(!city.live_sessions().contains(&"gc-town-gamma".to_owned()));
    // Later passes (a crash elsewhere re-triggers reconciles) leave it stopped.
    let alpha_pid = city.panes().into_iter().find(|p| p.0 == "gc-town-alpha").unwrap().1;
    Command::new("kill").args(["-9", &alpha_pid.to_string()]).output().unwrap();
    wait_until("alpha back again", LONG, || {
        city.panes().iter().any(|p| p.0 == "gc-town-alpha" && !p.2 && p.1 != alpha_pid)
    });
    city.run(&["apply"]);
    assert!(!city.live_sessions().contains(&"gc-town-gamma".to_owned()));

    // Delete an agent: its session stops.
    city.run(&["delete", "agent/beta"]);
    wait_until("beta to stop", LONG, || !city.live_sessions().contains(&"gc-town-beta".to_owned()));

    // Kill the tmux server: everything wanted is restored.
    city.tmux(&["kill-server"]);
    wait_until("alpha to be restored after the server died", LONG, || {
        city.live_sessions() == ["gc-town-alpha"]
    });

    city.run(&["stop"]);
    assert!(city.live_sessions().is_empty());
    let status = String::from_utf8_lossy(&city.run(&["status"]).stdout).into_owned();
    assert!(status.contains("Controller: not running"), "{status}");
    // After gc stop nothing claims to run: the agent and its session say Stopped.
    assert!(!status.contains("Running"), "{status}");
    let shown: Value = serde_json::from_slice(&city.run(&["status", "-o", "json"]).stdout).unwrap();
    assert_eq!(shown["controller"]["running"], false, "{shown}");
    let alpha = &shown["agents"].as_array().unwrap().iter().find(|a| a["name"] == "alpha").unwrap()
        ["status"];
    assert_eq!(alpha["phase"], "Stopped", "{shown}");
    assert_eq!(alpha["sessions"][0]["phase"], "stopped", "{shown}");
    assert!(alpha["lastSeen"].is_string(), "{shown}");
    let log = std::fs::read_to_string(city.path().join(".gc/controller.log")).unwrap();
    assert!(log.contains("INFO") && !log.contains('\u{1b}'), "no colour codes in the log: {log}");
    let town = city.status("cities", "town");
    assert_eq!(town["controller"], "Stopped", "{town}");
}

#[test]
fn a_restarted_controller_adopts_running_sessions() {
    let city = started_three_agents();
    let before = city.panes();
    assert_eq!(before.len(), 3);
    city.kill_controller();
    // With its controller gone, the city's status is not trusted as Running.
    let yaml = String::from_utf8(city.run(&["status", "-o", "yaml"]).stdout).unwrap();
    assert!(yaml.contains("phase: Unknown") && yaml.contains("lastSeen:"), "{yaml}");
    assert!(!yaml.contains("phase: Running"), "{yaml}");
    let shown: Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(shown["agents"][0]["status"]["phase"], "Unknown", "{yaml}");
    let table = String::from_utf8(city.run(&["status"]).stdout).unwrap();
    assert!(table.contains("Unknown (last seen"), "{table}");
    city.run(&["start", "--timeout", "30s"]);
    // The new controller's first pass over every agent is done when it says it is ready.
    wait_until("the second controller's first pass", LONG, || {
        city.events("controller.ready").len() == 2
    });
    let ready = city.events("controller.ready");
    assert_eq!(ready[1]["payload"]["adopted"], 3, "{ready:?}");
    let started = city.events("session.started").len();
    assert_eq!(city.panes(), before, "sessions adopted: none restarted or duplicated");
    assert_eq!(city.events("session.started").len(), started);
    assert_eq!(started, 3);

    // gc stop stops dependents first: beta (which depends on alpha) before alpha.
    city.run(&["stop"]);
    let stopped = city.event_objects("session.stopped");
    let pos = |a: &str| stopped.iter().position(|s| s == a).unwrap();
    assert!(pos("beta") < pos("alpha"), "{stopped:?}");
    assert!(city.live_sessions().is_empty());
}

#[test]
fn a_damaged_agent_file_leaves_its_sessions_running_and_the_rest_of_the_city_working() {
    let city = started_three_agents();
    let before = city.panes();
    assert_eq!(before.len(), 3);
    let alpha = city.path().join(".gc/applied/agents/alpha.json");
    std::fs::write(&alpha, "{garbage").unwrap();
    wait_until("the controller to see the damage", LONG, || {
        city.event_objects("resource.damaged") == ["alpha"]
    });
    // Deleting gamma makes the controller sweep deleted agents; alpha is damaged, not deleted.
    city.run(&["delete", "agent/gamma"]);
    wait_until("gamma's session to stop", LONG, || city.live_sessions().len() == 2);
    let alpha_pane =
        |panes: &[(String, u32, bool)]| panes.iter().find(|p| p.0 == "gc-gct-alpha").cloned();
    assert_eq!(alpha_pane(&city.panes()), alpha_pane(&before), "alpha's session is left as it ran");
    let table = String::from_utf8(city.run(&["status"]).stdout).unwrap();
    assert!(table.lines().any(|l| l.starts_with("alpha") && l.contains("Degraded")), "{table}");
    assert!(table.contains("agent/alpha is Degraded"), "{table}");

    // Applying the city's files rewrites it; the session carries on.
    std::fs::remove_file(city.path().join("agents/gamma.yaml")).unwrap();
    city.run(&["apply"]);
    wait_until("the controller to see it repaired", LONG, || {
        city.event_objects("resource.readable") == ["alpha"]
    });
    assert_eq!(alpha_pane(&city.panes()), alpha_pane(&before));

    // A file that reads but whose spec no longer fits is damaged the same way.
    let beta = city.path().join(".gc/applied/agents/beta.json");
    let mut object: Value = serde_json::from_slice(&std::fs::read(&beta).unwrap()).unwrap();
    object["spec"]["scaling"] = "lots".into();
    std::fs::write(&beta, serde_json::to_vec(&object).unwrap()).unwrap();
    wait_until("the controller to see beta's spec", LONG, || {
        city.event_objects("resource.damaged") == ["alpha", "beta"]
    });
    let damaged = city.events("resource.damaged");
    assert!(damaged[1]["message"].as_str().unwrap().contains("does not fit Agent"), "{damaged:?}");
    assert_eq!(city.live_sessions().len(), 2, "beta's session is left as it runs");
    city.run(&["stop"]);
    assert!(city.live_sessions().is_empty());
}

#[test]
fn a_suspended_city_stops_everything_until_resumed() {
    let city = started_three_agents();
    let yaml = std::fs::read_to_string(city.path().join("city.yaml")).unwrap();
    let suspended =
        yaml.replace("  defaultProvider: probe\n", "  defaultProvider: probe\n  suspended: true\n");
    city.write("city.yaml", &suspended);
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert!(city.live_sessions().is_empty());
    for agent in ["alpha", "beta", "gamma"] {
        assert_eq!(city.agent_status(agent)["conditions"][0]["reason"], "CitySuspended");
    }
    city.write("city.yaml", &yaml);
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert_eq!(city.live_sessions(), ["gc-town-alpha", "gc-town-beta", "gc-town-gamma"]);
}

#[test]
fn a_session_stopped_on_purpose_stays_stopped_until_started() {
    let city = TestCity::new();
    city.agent("alpha", "one", "");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    city.run(&["session", "stop", "alpha"]);
    assert!(city.live_sessions().is_empty());
    // The controller has seen the stop (its status says held) and has not brought it back.
    wait_until("alpha's status to say held", LONG, || {
        city.agent_status("alpha")["sessions"][0]["phase"] == "held"
    });
    assert!(city.live_sessions().is_empty());
    city.run(&["session", "start", "alpha"]);
    wait_until("alpha to start again", LONG, || city.live_sessions() == ["gc-town-alpha"]);
    // Nudge reaches the program; peek shows it.
    city.run(&["session", "nudge", "alpha", "hello there"]);
    wait_until("the nudge to be heard", LONG, || {
        String::from_utf8_lossy(&city.run(&["session", "peek", "alpha"]).stdout)
            .contains("heard hello there")
    });
}

#[test]
fn the_subprocess_backend_runs_agents_without_tmux() {
    let city = TestCity::with_backend("subprocess");
    city.agent("alpha", "one", "");
    city.run(&["apply", "--wait", "--timeout", "30s"]);
    assert!(city.panes().is_empty(), "no tmux session is used");
    wait_until("alpha to record how it started", LONG, || city.out_file("gc-town-alpha").exists());
    let list = String::from_utf8_lossy(&city.run(&["session", "list"]).stdout).into_owned();
    assert!(list.contains("gc-town-alpha") && list.contains("ready"), "{list}");
    city.run(&["session", "nudge", "alpha", "hi"]);
    wait_until("the nudge to be heard", LONG, || {
        String::from_utf8_lossy(&city.run(&["session", "peek", "alpha"]).stdout)
            .contains("heard hi")
    });
    city.run(&["stop"]);
    let list = String::from_utf8_lossy(&city.run(&["session", "list"]).stdout).into_owned();
    assert!(list.contains("No sessions"), "{list}");
}

#[test]
fn sessions_of_no_agent_are_reported_and_stopped_only_when_the_city_says_so() {
    let city = TestCity::new();
    city.agent("alpha", "one", "");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    city.tmux(&["new-session", "-d", "-s", "stray", "sleep 1000"]);
    wait_until("a session.orphaned event", LONG, || !city.events("session.orphaned").is_empty());
    assert!(city.live_sessions().contains(&"stray".to_owned()), "reported, not stopped");
    let yaml = std::fs::read_to_string(city.path().join("city.yaml")).unwrap();
    city.write(
        "city.yaml",
        &yaml.replace(
            "    startupTimeout: 20s\n",
            "    startupTimeout: 20s\n    stopOrphans: true\n",
        ),
    );
    city.run(&["apply"]);
    wait_until("the stray session to be stopped", LONG, || {
        city.live_sessions() == ["gc-town-alpha"]
    });
}
