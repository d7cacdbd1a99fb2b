//! Orders end to end with a real controller: event orders fire exactly once per event (also
//! across a controller killed with SIGKILL), cooldown orders keep their interval, an exec that
//! overruns its timeout is killed and recorded failed with its output kept, formula orders
//! cook a molecule and complete when its beads close, and `gc order run` / `gc order history`.
//! Each test runs its own city on its own tmux socket and kills its controller afterwards.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

#[path = "common/tmux.rs"]
mod tmux_city;
use tmux_city::{TmuxCity, wait_until};

/// A city with no agents (the `probe` provider is never started) on its own socket.
fn city(tag: &str) -> TmuxCity {
    TmuxCity::with_probe(tag, "tmux", "#!/bin/sh\nprintf 'ready> '\nexec cat\n")
}

fn order(city: &TmuxCity, name: &str, spec: &str) {
    city.write(
        &format!("orders/{name}.yaml"),
        &format!("apiVersion: gascity.dev/v1alpha1\nkind: Order\nmetadata:\n  name: {name}\nspec:\n{spec}"),
    );
}

fn out(city: &TmuxCity, args: &[&str]) -> String {
    String::from_utf8_lossy(&city.run(args).stdout).into_owned()
}

fn lines(city: &TmuxCity, file: &str) -> Vec<String> {
    std::fs::read_to_string(city.path().join(file))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `order.*` events of `event_type` about order `name`.
fn order_events(city: &TmuxCity, event_type: &str, name: &str) -> Vec<Value> {
    city.events(event_type).into_iter().filter(|e| e["object"]["name"] == name).collect()
}

fn create_and_close(city: &TmuxCity, title: &str) -> u64 {
    let bead: Value = serde_json::from_str(&out(city, &["bd", "create", title, "--json"])).unwrap();
    let id = bead["id"].as_str().unwrap().to_owned();
    city.run(&["bd", "close", &id]);
    city.events("bead.closed")
        .iter()
        .filter(|e| e["payload"]["id"] == id.as_str())
        .map(|e| e["seq"].as_u64().unwrap())
        .next_back()
        .expect("a bead.closed event")
}

#[test]
fn an_event_order_fires_once_per_event_also_across_a_controller_kill() {
    let city = city("gcoe");
    order(
        &city,
        "on-close",
        "  gate:\n    event:\n      on: bead.closed\n  exec: echo \"$GC_EVENT_SEQ\" >> fired.txt\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);

    let mut closed: Vec<String> =
        (1..=3).map(|n| create_and_close(&city, &format!("task {n}")).to_string()).collect();
    wait_until("three firings", Duration::from_secs(30), || {
        order_events(&city, "order.completed", "on-close").len() >= 3
    });
    assert_eq!(lines(&city, "fired.txt"), closed, "one run per bead.closed, in order");

    city.kill_controller();
    city.run(&["start", "--timeout", "30s"]);
    // A fourth event after the restart: it fires once; the first three do not fire again
    // (they would have fired before it: events are consumed in order).
    closed.push(create_and_close(&city, "task 4").to_string());
    wait_until("the fourth firing", Duration::from_secs(30), || {
        order_events(&city, "order.completed", "on-close").len() >= 4
    });
    assert_eq!(lines(&city, "fired.txt"), closed);
    assert_eq!(order_events(&city, "order.fired", "on-close").len(), 4);
    let fired = &order_events(&city, "order.fired", "on-close")[3];
    assert_eq!(fired["payload"]["eventSeq"].as_u64().unwrap().to_string(), closed[3]);

    let status = city.status("orders", "on-close");
    assert_eq!(status["runs"], 4, "{status}");
    assert_eq!(status["lastResult"]["outcome"], "completed", "{status}");
    assert_eq!(status["conditions"][0]["status"], "True", "{status}");
    let list = out(&city, &["order", "list"]);
    assert!(list.contains("on bead.closed") && list.contains("completed (run 4"), "{list}");
}

#[test]
fn a_cooldown_order_runs_again_after_each_interval() {
    let city = city("gcoc");
    order(
        &city,
        "tick",
        "  gate:\n    cooldown:\n      interval: 1s\n  exec: date +%s%N >> ticks.txt\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    wait_until("three ticks", Duration::from_secs(30), || lines(&city, "ticks.txt").len() >= 3);
    let ticks: Vec<u128> = lines(&city, "ticks.txt").iter().map(|l| l.parse().unwrap()).collect();
    for pair in ticks.windows(2) {
        assert!(pair[1] - pair[0] >= 950_000_000, "runs closer than the 1s cooldown: {ticks:?}");
    }
}

#[test]
fn an_exec_past_its_timeout_is_killed_and_recorded_failed_with_its_output() {
    let city = city("gcot");
    order(
        &city,
        "hang",
        "  gate:\n    cooldown:\n      interval: 1h\n  timeout: 1s\n  exec: echo begun; echo $$ > \
         hang.pid; sleep 60\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    wait_until("order.failed", Duration::from_secs(30), || {
        !order_events(&city, "order.failed", "hang").is_empty()
    });
    let failed = &order_events(&city, "order.failed", "hang")[0];
    assert_eq!(failed["reason"], "Timeout", "{failed}");
    assert!(failed["payload"]["output"].as_str().unwrap().contains("begun"), "{failed}");
    let log = failed["payload"]["log"].as_str().unwrap();
    assert!(std::fs::read_to_string(log).unwrap().contains("begun"));
    let pid = lines(&city, "hang.pid")[0].clone();
    wait_until("the hung exec to be gone", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
    });
    wait_until("status LastRunFailed", Duration::from_secs(10), || {
        city.status("orders", "hang")["conditions"][0]["reason"] == "LastRunFailed"
    });
    let history = out(&city, &["order", "history", "hang"]);
    assert!(history.contains("failed: did not finish within 1s"), "{history}");
}

#[test]
fn gc_order_run_fires_by_hand_refuses_while_open_and_history_lists_runs() {
    let city = city("gcor");
    order(
        &city,
        "hello",
        "  gate:\n    manual: {}\n  exec: echo \"hello from run $GC_ORDER_RUN\"\n",
    );
    order(
        &city,
        "slow",
        "  gate:\n    manual: {}\n  exec: touch slow.started; until [ -e slow.go ]; do sleep 0.05; done\n",
    );
    city.run(&["apply"]);

    // Without a controller: it runs here and prints the output.
    let first = out(&city, &["order", "run", "hello"]);
    assert!(first.contains("hello from run 1"), "{first}");
    let unknown = city.gc().args(["order", "run", "nope"]).output().unwrap();
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("applied orders: hello, slow"), "{err}");

    // A second run while the first is open is refused, saying so.
    let mut running = city
        .gc()
        .args(["order", "run", "slow"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the slow run to start", Duration::from_secs(30), || {
        city.path().join("slow.started").exists()
    });
    let refused = city.gc().args(["order", "run", "slow"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("still has open work"), "{err}");
    std::fs::write(city.path().join("slow.go"), "").unwrap();
    assert!(running.wait().unwrap().success());

    // With a controller running, a manual order still only fires by hand.
    city.run(&["start", "--timeout", "30s"]);
    let second = out(&city, &["order", "run", "hello"]);
    assert!(second.contains("hello from run 2"), "{second}");
    let history = out(&city, &["order", "history", "hello"]);
    let rows: Vec<&str> = history.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{history}");
    assert!(rows.iter().all(|r| r.contains("completed: exit status 0")), "{history}");
    assert!(rows[1].contains("hello/runs/2.log"), "{history}");
    let json: Vec<Value> =
        serde_json::from_str(&out(&city, &["order", "history", "slow", "-o", "json"])).unwrap();
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["result"], "completed");
}

#[test]
fn a_formula_order_cooks_a_molecule_that_completes_when_its_beads_close() {
    let city = city("gcof");
    city.write(
        "formulas/patrol.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Formula\nmetadata:\n  name: patrol\nspec:\n  \
         steps:\n    - id: scan\n      title: Scan\n",
    );
    order(&city, "patrol", "  gate:\n    manual: {}\n  formula: patrol\n");
    // Fires on every bead.closed except those of its own molecules: closing its own step must
    // not feed back into another run.
    order(&city, "echo-close", "  gate:\n    event:\n      on: bead.*\n  formula: patrol\n");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    let cooked = out(&city, &["order", "run", "patrol"]);
    assert!(cooked.contains("cooked molecule"), "{cooked}");
    let beads: Vec<Value> = serde_json::from_str(&out(&city, &["bd", "list", "--json"])).unwrap();
    let mine: Vec<&Value> =
        beads.iter().filter(|b| b["metadata"]["gc.order"] == "patrol").collect();
    assert!(!mine.is_empty(), "cooked beads carry gc.order: {beads:?}");
    assert!(mine.iter().all(|b| b["metadata"]["gc.order_run"] == "1"));
    // The patrol run's bead events fire echo-close (not its own); echo-close's own beads never
    // fire it again.
    wait_until("echo-close fired", Duration::from_secs(30), || {
        !order_events(&city, "order.fired", "echo-close").is_empty()
    });
    for bead in mine.iter().filter(|b| b["issue_type"] != "molecule") {
        city.run(&["bd", "close", bead["id"].as_str().unwrap()]);
    }
    wait_until("patrol completed", Duration::from_secs(30), || {
        !order_events(&city, "order.completed", "patrol").is_empty()
    });
    let fired_again = order_events(&city, "order.fired", "echo-close").len();
    let own: Vec<Value> = city
        .events("bead.created")
        .into_iter()
        .filter(|e| e["payload"]["order"] == "echo-close")
        .collect();
    assert!(!own.is_empty(), "echo-close cooked beads");
    // Every echo-close firing consumed an event that was not about its own beads.
    for fired in order_events(&city, "order.fired", "echo-close") {
        let seq = fired["payload"]["eventSeq"].as_u64().unwrap();
        let event = city
            .events(fired["payload"]["eventType"].as_str().unwrap())
            .into_iter()
            .find(|e| e["seq"] == seq)
            .unwrap();
        assert_ne!(event["payload"]["order"], "echo-close", "fed back on its own bead: {event}");
    }
    assert!(fired_again >= 1);
}

#[test]
fn a_condition_order_fires_when_its_check_passes() {
    let city = city("gcod");
    order(
        &city,
        "when-go",
        "  gate:\n    condition:\n      check: test -e go\n  exec: rm go; echo \"$GC_ORDER\" >> \
         fired.txt\n",
    );
    order(
        &city,
        "never",
        "  gate:\n    condition:\n      check: exit 1\n  exec: touch never.txt\n",
    );
    city.write("go", "");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "30s"]);
    wait_until("the condition order to complete", Duration::from_secs(30), || {
        !order_events(&city, "order.completed", "when-go").is_empty()
    });
    assert_eq!(lines(&city, "fired.txt"), ["when-go"]);
    wait_until("the failing check to be recorded", Duration::from_secs(30), || {
        city.status("orders", "never")["conditions"][0]["reason"] == "Waiting"
    });
    assert!(!city.path().join("never.txt").exists());
}
