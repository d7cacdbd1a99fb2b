//! The work verbs end to end on the sample city (`gc init`), with real tmux on a private
//! socket: beads slung to the worker pool are claimed and closed by the sample agents
//! themselves, through the `bd` and `gc hook` their sessions find on PATH.

use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};
#[path = "common/sample.rs"]
mod sample;

/// The sample city (`gc init`) on its own tmux socket.
struct SampleCity(TmuxCity);

impl std::ops::Deref for SampleCity {
    type Target = TmuxCity;
    fn deref(&self) -> &TmuxCity {
        &self.0
    }
}

impl SampleCity {
    fn new(name: &str) -> SampleCity {
        SampleCity(sample::sample_city("gcw", name))
    }

    /// Runs gc as the person `tester`, asserting success; its stdout.
    fn out(&self, args: &[&str]) -> String {
        let out = self.gc().env("BEADS_ACTOR", "tester").args(args).output().unwrap();
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
        sample::rig_beads(self)
    }
}

#[test]
fn beads_slung_to_the_sample_pool_are_claimed_and_closed_by_its_agents() {
    let city = SampleCity::new("slingtown");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    for n in 1..=20 {
        let out = city.out(&["sling", "worker", &format!("Sample task {n}")]);
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
    // Every bead was taken by one member only; a member never lost a claimed bead to a
    // scale-down (it would have claimed it again after its restart).
    let mut claims: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in city.events("bead.claimed") {
        let id = e["payload"]["id"].as_str().unwrap_or_default().to_owned();
        claims.entry(id).or_default().push(e["actor"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(claims.len(), 20, "every bead claimed: {claims:?}");
    assert!(claims.values().all(|by| by.len() == 1), "each bead claimed once: {claims:?}");
    let out = city.gc().args(["hook", "worker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "no work left on the hook");
}

#[test]
fn mail_and_prime_work_in_the_sample_city() {
    let city = SampleCity::new("mailtown");
    city.run(&["apply"]);
    let sent = city.out(&["mail", "send", "worker", "-s", "Plan", "-m", "Parser first", "--json"]);
    let sent: Value = serde_json::from_str(&sent).unwrap();
    let id = sent["id"].as_str().unwrap();
    assert_eq!(sent["issue_type"], "message");
    let inbox = city.out(&["mail", "inbox", "worker"]);
    assert!(inbox.contains(id) && inbox.contains("Plan") && inbox.contains("tester"), "{inbox}");
    let listed: Vec<Value> =
        serde_yaml_ng::from_str(&city.out(&["mail", "inbox", "worker", "-o", "yaml"])).unwrap();
    assert_eq!(listed[0]["id"], id);
    let read = city.out(&["mail", "read", id, "--actor", "worker"]);
    assert!(read.contains("Parser first"), "{read}");
    let inbox = city.out(&["mail", "inbox", "worker"]);
    assert!(inbox.contains("No unread messages"), "{inbox}");
    let reply = city.out(&["mail", "reply", id, "-m", "On it", "--actor", "worker"]);
    assert!(reply.contains("to tester: Re: Plan"), "{reply}");

    let prompt = city.out(&["prime", "worker"]);
    assert!(prompt.contains("You are worker"), "{prompt}");
    assert!(prompt.contains("`demo-`"), "the rig prefix is rendered: {prompt}");
    let missing = city.gc().args(["prime", "nobody"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("agents: mayor, reviewer, worker"));
}
