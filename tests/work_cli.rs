//! The work verbs end to end on the sample city (`gc init`), with real tmux on a private
//! socket: beads slung to the worker pool are claimed and closed by the sample agents
//! themselves, through the `bd` and `gc hook` their sessions find on PATH.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

/// The sample city in a temporary directory, on its own tmux socket; the controller and the
/// tmux server are killed when it is dropped.
struct SampleCity {
    dir: tempfile::TempDir,
    socket: String,
}

impl SampleCity {
    fn new(name: &str) -> SampleCity {
        if Command::new("tmux").arg("-V").output().is_err() {
            panic!("these tests need tmux on PATH (scripts/test.sh installs it)");
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = format!("gcw-{}-{name}", std::process::id());
        let city = SampleCity { dir, socket };
        let path = city.path().join("city");
        let out = Command::new(cargo_bin("gc"))
            .args(["init", path.to_str().unwrap(), "--name", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "gc init: {}", String::from_utf8_lossy(&out.stderr));
        let city_yaml = city.path().join("city/city.yaml");
        let text = std::fs::read_to_string(&city_yaml).unwrap();
        let text = text.replacen(
            "    backend: tmux\n",
            &format!("    backend: tmux\n    socket: {}\n", city.socket),
            1,
        );
        assert!(text.contains(&city.socket), "the sample city.yaml changed shape");
        std::fs::write(&city_yaml, text).unwrap();
        city
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn city_dir(&self) -> std::path::PathBuf {
        self.path().join("city")
    }

    fn gc(&self, args: &[&str]) -> Output {
        Command::new(cargo_bin("gc"))
            .args(args)
            .current_dir(self.city_dir())
            .env_remove("GC_CITY")
            .env_remove("BEADS_DIR")
            .env("BEADS_ACTOR", "tester")
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.gc(args);
        assert!(
            out.status.success(),
            "gc {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every bead of the demo rig, closed ones included.
    fn rig_beads(&self) -> Vec<Value> {
        let out = Command::new(cargo_bin("gc"))
            .args(["bd", "list", "--all", "--limit", "0", "--json"])
            .current_dir(self.city_dir().join("rigs/demo-repo"))
            .env_remove("BEADS_DIR")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    fn events(&self, event_type: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(self.city_dir().join(".gc/events.jsonl"))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == event_type)
            .collect()
    }
}

impl Drop for SampleCity {
    fn drop(&mut self) {
        let city = self.city_dir();
        if std::thread::panicking() {
            let read = |p: &str| std::fs::read_to_string(city.join(p)).unwrap_or_default();
            eprintln!("--- controller.log\n{}", read(".gc/controller.log"));
        }
        if let Ok(pid) = std::fs::read_to_string(city.join(".gc/controller.lock")) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).output();
        }
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).output();
    }
}

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn beads_slung_to_the_sample_pool_are_claimed_and_closed_by_its_agents() {
    let city = SampleCity::new("slingtown");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    for n in 1..=20 {
        let out = city.run(&["sling", "worker", &format!("Sample task {n}")]);
        assert!(out.contains("to worker"), "{out}");
    }
    assert_eq!(city.rig_beads().len(), 20, "the beads are in the rig's store");

    wait_until("the pool to close all 20 beads", Duration::from_secs(120), || {
        let beads = city.rig_beads();
        beads.len() == 20 && beads.iter().all(|b| b["status"] == "closed")
    });
    for bead in city.rig_beads() {
        let assignee = bead["assignee"].as_str().unwrap_or_default();
        assert!(assignee.starts_with("worker-"), "claimed by a pool member: {bead}");
        assert_eq!(bead["close_reason"], format!("done by {assignee}"), "{bead}");
        assert_eq!(bead["metadata"]["gc.routed_to"], "worker");
    }
    // The agents' own `bd` calls are in the city's event log, with the agent as actor.
    let closed = city.events("bead.closed");
    assert_eq!(closed.len(), 20);
    assert!(closed.iter().all(|e| e["actor"].as_str().unwrap_or("").starts_with("worker-")));
    assert!(closed.iter().all(|e| e["object"]["name"] == "demo" && e["payload"]["rig"] == "demo"));
    assert_eq!(city.events("bead.claimed").len(), 20, "each bead claimed exactly once");
    let out = city.gc(&["hook", "worker"]);
    assert_eq!(out.status.code(), Some(1), "no work left on the hook");
}

#[test]
fn mail_and_prime_work_in_the_sample_city() {
    let city = SampleCity::new("mailtown");
    city.run(&["apply"]);
    let sent = city.run(&["mail", "send", "worker", "-s", "Plan", "-m", "Parser first", "--json"]);
    let sent: Value = serde_json::from_str(&sent).unwrap();
    let id = sent["id"].as_str().unwrap();
    assert_eq!(sent["issue_type"], "message");
    let inbox = city.run(&["mail", "inbox", "worker"]);
    assert!(inbox.contains(id) && inbox.contains("Plan") && inbox.contains("tester"), "{inbox}");
    let read = city.run(&["mail", "read", id, "--actor", "worker"]);
    assert!(read.contains("Parser first"), "{read}");
    let inbox = city.run(&["mail", "inbox", "worker"]);
    assert!(inbox.contains("No unread messages"), "{inbox}");
    let reply = city.run(&["mail", "reply", id, "-m", "On it", "--actor", "worker"]);
    assert!(reply.contains("to tester: Re: Plan"), "{reply}");

    let prompt = city.run(&["prime", "worker"]);
    assert!(prompt.contains("You are worker"), "{prompt}");
    assert!(prompt.contains("`demo-`"), "the rig prefix is rendered: {prompt}");
    let missing = city.gc(&["prime", "nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("agents: mayor, reviewer, worker"));
}
