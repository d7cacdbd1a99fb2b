//! Leases on claimed work, end to end on real tmux: a worker killed while holding a bead gets
//! it back when it returns within the grace, loses it to another pool member when it does
//! not, and a bead whose work kills every session that takes it is parked after its attempts,
//! with one escalation, until `gc bd reopen`.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use serde_json::Value;
use tmux_city::{TmuxCity, wait_until};

const LONG: Duration = Duration::from_secs(60);

/// A pool worker. It cannot start while `down-<member>` exists in the city directory. It takes
/// the beads on its hook (its own in-progress ones first) and closes them; a bead titled
/// `hang…` it works on while `hold` exists, and a bead titled `crash…` kills it (its whole
/// program, as a crash of the CLI would) unless `fixed` exists.
const WORKER: &str = r#"#!/usr/bin/env bash
me="${BEADS_ACTOR:-agent}"
[ -e "down-$me" ] && exit 3
printf 'ready> '
while :; do
  id=$(gc hook --json 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
  if [ -n "$id" ] && bd update "$id" --claim >/dev/null 2>&1; then
    title=$(bd show "$id" --json | sed -n 's/.*"title": *"\([^"]*\)".*/\1/p' | head -n 1)
    echo "$me working on $id ($title)"
    case "$title" in
      hang*) while [ -e hold ]; do sleep 0.1; done ;;
      crash*) [ -e fixed ] || kill -9 $$ ;;
    esac
    bd close "$id" --reason "done by $me" >/dev/null && echo "$me closed $id"
  fi
  sleep 0.2
done
"#;

/// A city `town` with a pool `worker` (up to `max` members) running [`WORKER`], with the
/// given lease and crash-loop settings.
fn city(tag: &str, max: u32, leases: &str, crash_loop: &str) -> TmuxCity {
    let city = TmuxCity::new(tag);
    city.write(
        "city.yaml",
        &format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
             defaultProvider: probe\n  session:\n    socket: {}\n    startupTimeout: 20s\n  \
             controller:\n    shutdownTimeout: 1s\n    crashLoop: {crash_loop}\n  \
             leases: {leases}\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: probe\nspec:\n  \
             command: scripts/worker.sh\n  readyPromptPrefix: \"ready> \"\n---\n\
             apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec:\n  \
             scaling: {{min: 0, max: {max}}}\n",
            city.socket
        ),
    );
    city.write_script("scripts/worker.sh", WORKER);
    city.run(&["apply"]);
    city.run(&["start"]);
    city
}

fn bead(city: &TmuxCity, id: &str) -> Value {
    let out = city.run(&["bd", "show", id, "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    if shown.is_array() { shown[0].clone() } else { shown }
}

fn sling(city: &TmuxCity, title: &str) -> String {
    let out = city.run(&["sling", "worker", title, "--json"]);
    let slung: Value = serde_json::from_slice(&out.stdout).expect("sling --json");
    slung["id"].as_str().unwrap().to_owned()
}

/// The events of `event_type` about bead `id`.
fn events_of(city: &TmuxCity, event_type: &str, id: &str) -> Vec<Value> {
    city.events(event_type).into_iter().filter(|e| e["payload"]["id"] == id).collect()
}

/// The pid of the program in `session`'s pane.
fn pane_pid(city: &TmuxCity, session: &str) -> String {
    let out = city.tmux(&["display-message", "-p", "-t", session, "#{pane_pid}"]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn kill_9(pid: &str) {
    assert!(!pid.is_empty());
    std::process::Command::new("kill").args(["-9", pid]).status().unwrap();
}

#[test]
fn a_killed_holder_keeps_its_bead_within_the_grace_and_loses_it_to_another_member_after() {
    let city = city(
        "lease-kill",
        2,
        "{grace: 2s, maxAttempts: 3}",
        "{maxRestarts: 2, quarantine: 1h, backoff: {initial: 200ms}}",
    );
    city.write("hold", "");
    let id = sling(&city, "hang: a long piece of work");
    wait_until("worker-1 to claim it", LONG, || bead(&city, &id)["assignee"] == "worker-1");

    // Killed, and back at once (a crash restart): it finds its bead on its hook and keeps it.
    let first = pane_pid(&city, "gc-town-worker-1");
    kill_9(&first);
    wait_until("worker-1 to be restarted", LONG, || {
        let pid = pane_pid(&city, "gc-town-worker-1");
        !pid.is_empty() && pid != first && !city.events("session.crashed").is_empty()
    });
    // Three graces, several sweeps: the holder is back, nothing is taken from it.
    std::thread::sleep(Duration::from_secs(6));
    let held = bead(&city, &id);
    assert_eq!(
        (held["status"].as_str(), held["assignee"].as_str()),
        (Some("in_progress"), Some("worker-1"))
    );
    assert!(
        events_of(&city, "bead.reclaimed", &id).is_empty(),
        "taken from a holder that came back"
    );

    // Killed again, and it cannot come back (it crashes at start until quarantined): after the
    // grace the bead is ready again, and the other member takes it and closes it.
    city.write("down-worker-1", "");
    kill_9(&pane_pid(&city, "gc-town-worker-1"));
    std::fs::remove_file(city.path().join("hold")).unwrap();
    wait_until("the bead to be closed", LONG, || bead(&city, &id)["status"] == "closed");
    let done = bead(&city, &id);
    assert_eq!(done["close_reason"], "done by worker-2", "{done}");
    assert_eq!(done["metadata"]["gc.attempts"], 1, "{done}");
    assert_eq!(done["metadata"]["gc.taken_from"], serde_json::json!(["worker-1"]), "{done}");
    let reclaimed = events_of(&city, "bead.reclaimed", &id);
    assert_eq!(reclaimed.len(), 1, "{reclaimed:?}");
    assert_eq!(reclaimed[0]["payload"]["holder"], "worker-1");
    let claims: Vec<Value> = events_of(&city, "bead.claimed", &id)
        .iter()
        .map(|e| e["payload"]["assignee"].clone())
        .collect();
    assert_eq!(claims.first(), Some(&Value::from("worker-1")), "{claims:?}");
    assert_eq!(claims.last(), Some(&Value::from("worker-2")), "{claims:?}");
    assert_eq!(events_of(&city, "bead.closed", &id).len(), 1, "closed exactly once");

    city.run(&["stop"]);
}

#[test]
fn work_that_kills_every_session_is_parked_after_three_attempts_with_one_escalation() {
    let city = city(
        "lease-park",
        1,
        "{grace: 1s, maxAttempts: 3, escalateTo: mayor}",
        "{maxRestarts: 1, quarantine: 2s, backoff: {initial: 100ms}}",
    );
    let id = sling(&city, "crash: work that kills its session");
    wait_until("the bead to be parked", LONG * 2, || bead(&city, &id)["status"] == "blocked");
    let parked = bead(&city, &id);
    assert_eq!(parked["metadata"]["gc.attempts"], 3, "{parked}");
    assert!(parked["assignee"].is_null() || parked["assignee"] == "", "{parked}");
    let why = parked["metadata"]["gc.parked"].as_str().unwrap_or_default();
    assert!(why.contains("3 times"), "{parked}");
    assert_eq!(events_of(&city, "bead.reclaimed", &id).len(), 2);
    assert_eq!(events_of(&city, "bead.parked", &id).len(), 1);

    // One escalation, to the City's escalateTo.
    let out = city.run(&["mail", "inbox", "mayor", "-o", "json"]);
    let inbox: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let about: Vec<&Value> =
        inbox.iter().filter(|m| m["title"].as_str().unwrap_or_default().contains(&id)).collect();
    assert_eq!(about.len(), 1, "{inbox:?}");

    // No session is started for it any more: once the quarantine is over, the pool wants none.
    let parked_seq = city.events("bead.parked").last().unwrap()["seq"].as_u64().unwrap();
    wait_until("the pool to want no member", LONG, || {
        city.status("agents", "worker")["pool"]["wanted"] == 0
    });
    std::thread::sleep(Duration::from_secs(3));
    let started_after = city
        .events("session.started")
        .iter()
        .filter(|e| e["seq"].as_u64().unwrap() > parked_seq)
        .count();
    assert_eq!(started_after, 0, "a session was started for a parked bead");

    // `gc bd reopen` brings it back, its attempts forgotten; fixed, it is worked to the end.
    city.write("fixed", "");
    let out = city.run(&["bd", "reopen", &id, "--json"]);
    let reopened: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reopened[0]["status"], "open", "{reopened}");
    assert!(reopened[0]["metadata"].get("gc.attempts").is_none(), "{reopened}");
    wait_until("the reopened bead to be closed", LONG, || bead(&city, &id)["status"] == "closed");
    assert_eq!(events_of(&city, "bead.parked", &id).len(), 1, "escalated once");
    city.run(&["stop"]);
}
