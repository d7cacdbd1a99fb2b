//! Budgets end to end on real tmux, with a script agent whose Provider counts usage the way
//! Claude Code's does (it writes Claude-format transcript lines into the directory gc owns for
//! it): the 80 % warning (event and mail), `gc diff` showing the stop before it happens, the
//! stop itself (not a crash), no session started while the budget is used up, and the agent
//! resuming when the budget allows again.

#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use serde_json::Value;
use tmux_city::{TmuxCity, wait_until};

const LONG: Duration = Duration::from_secs(60);

/// Works the beads on its hook; each costs 1000 tokens, written to its transcript as Claude
/// Code would write a reply.
const AGENT: &str = r#"#!/usr/bin/env bash
printf 'ready> '
n=0
while :; do
  id=$(gc hook --json 2>/dev/null | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -n 1)
  if [ -n "$id" ] && bd update "$id" --claim >/dev/null 2>&1; then
    n=$((n+1))
    printf '{"type":"assistant","timestamp":"%s","message":{"id":"msg_%s_%s","model":"probe-1","usage":{"input_tokens":600,"output_tokens":400}}}\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$n" >> "$AGENT_HOME/transcript.jsonl"
    bd close "$id" >/dev/null && echo "closed $id"
  fi
  sleep 0.2
done
"#;

fn city_yaml(socket: &str, budget: u64) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata:\n  name: town\nspec:\n  \
         defaultProvider: probe\n  session:\n    socket: {socket}\n  controller:\n    \
         shutdownTimeout: 1s\n---\n\
         apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: probe\nspec:\n  \
         command: scripts/agent.sh\n  readyPromptPrefix: \"ready> \"\n  home:\n    env: AGENT_HOME\n  \
         usage:\n    format: claude\n    files: transcript.jsonl\n    prices:\n      \
         \"*\": {{input: 1, output: 2}}\n---\n\
         apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec:\n  \
         restartPolicy: {{quietPeriod: 1s}}\n  budget: {{tokens: {budget}}}\n"
    )
}

fn sling(city: &TmuxCity, title: &str) -> String {
    let out = city.run(&["sling", "worker", title, "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_owned()
}

fn status(city: &TmuxCity) -> Value {
    city.status("agents", "worker")
}

fn bead_status(city: &TmuxCity, id: &str) -> String {
    let out = city.run(&["bd", "show", id, "--json"]);
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0]["status"].as_str().unwrap().to_owned()
}

#[test]
fn a_used_up_budget_warns_then_stops_the_agent_until_it_allows_again() {
    let city = TmuxCity::new("budget");
    city.write("city.yaml", &city_yaml(&city.socket, 2500));
    city.write_script("scripts/agent.sh", AGENT);
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start"]);

    // Two beads: 2000 of 2500 tokens, 80 %: a warning event and a mail to the agent.
    let (a, b) = (sling(&city, "first"), sling(&city, "second"));
    wait_until("both beads closed", LONG, || {
        bead_status(&city, &a) == "closed" && bead_status(&city, &b) == "closed"
    });
    wait_until("the 80% warning", LONG, || !city.events("budget.warning").is_empty());
    let warning = &city.events("budget.warning")[0];
    assert_eq!(warning["object"]["name"], "worker");
    assert!(warning["message"].as_str().unwrap().contains("2000 of 2500 tokens"), "{warning}");
    let inbox: Vec<Value> =
        serde_json::from_slice(&city.run(&["mail", "inbox", "worker", "-o", "json"]).stdout)
            .unwrap();
    assert!(inbox.iter().any(|m| m["title"] == "80% of your budget is used"), "{inbox:?}");
    assert_eq!(status(&city)["phase"], "Running");
    let costs: Value = serde_json::from_slice(&city.run(&["costs", "-o", "json"]).stdout).unwrap();
    assert_eq!(costs["total"]["tokens"], 2000);
    assert_eq!(costs["total"]["cost"].as_f64(), Some((1200.0 + 1600.0) / 1e6));

    // Lowering the budget under what is used: gc diff says the session will stop, and why,
    // before anything happens.
    city.write("city.yaml", &city_yaml(&city.socket, 1500));
    let out = city.gc().args(["diff"]).output().unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("stop gc-town-worker (BudgetExceeded: its budget (2000 of 1500 tokens"),
        "{diff}"
    );
    assert_eq!(status(&city)["phase"], "Running", "a diff changes nothing");

    // Applied: the session is stopped (its turn is over), not counted as a crash.
    city.run(&["apply"]);
    wait_until("the agent to be OverBudget with no session", LONG, || {
        let s = status(&city);
        s["phase"] == "OverBudget" && s["sessions"][0]["phase"] == "overbudget"
    });
    let s = status(&city);
    let exceeded =
        s["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "BudgetExceeded");
    assert_eq!(exceeded.unwrap()["status"], "True", "{s}");
    assert!(city.events("session.crashed").is_empty(), "a budget stop is no crash");
    let stopped = city.events("session.stopped");
    assert!(stopped.iter().any(|e| e["reason"] == "BudgetExceeded"), "{stopped:?}");
    wait_until("the budget.exceeded event", LONG, || !city.events("budget.exceeded").is_empty());
    assert_eq!(city.events("budget.exceeded").len(), 1);

    // New work does not start a session while the budget is used up.
    let c = sling(&city, "third");
    let started = city.events("session.started").len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(city.events("session.started").len(), started);
    assert_eq!(bead_status(&city, &c), "open");

    // Raised: it resumes and works the bead.
    city.write("city.yaml", &city_yaml(&city.socket, 10_000));
    city.run(&["apply"]);
    wait_until("the third bead closed", LONG, || bead_status(&city, &c) == "closed");
    wait_until("the budget.reset event", LONG, || !city.events("budget.reset").is_empty());
    city.run(&["stop"]);
}
