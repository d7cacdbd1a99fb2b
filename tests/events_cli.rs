//! `gc events` end to end: what apply records, the filters, JSON lines, and `--follow` seeing
//! events appended while it runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use predicates::str::contains;
use serde_json::Value;

mod common;
use common::City;

fn agent(name: &str, level: &str) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n  env:\n    \
         LOG_LEVEL: {level}\n"
    )
}

/// The shared test city with this file's `worker`.
fn new_city() -> City {
    City::new(&agent("worker", "info"))
}

impl City {
    fn stdout(&self, args: &[&str]) -> String {
        let out = self.gc().args(args).output().unwrap();
        assert!(out.status.success(), "gc {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `gc events -o json ARGS…`, parsed.
    fn json_events(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["events", "-o", "json"];
        all.extend_from_slice(args);
        self.stdout(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }
}

/// Table rows (header dropped) split into columns.
fn rows(table: &str) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SEQ", "AGE", "TYPE", "OBJECT", "REASON", "MESSAGE"], "{table}");
    lines.map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

#[test]
fn apply_records_created_events_in_order_with_seq() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    let table = city.stdout(&["events"]);
    let rows = rows(&table);
    // City, Provider, Agent: the apply order.
    let shown: Vec<(&str, &str, &str, &str)> =
        rows.iter().map(|r| (r[0].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str())).collect();
    assert_eq!(
        shown,
        [
            ("1", "resource.created", "city/town", "Created"),
            ("2", "resource.created", "provider/shell", "Created"),
            ("3", "resource.created", "agent/worker", "Created"),
        ],
        "{table}"
    );
}

#[test]
fn an_empty_log_says_so() {
    let city = new_city();
    city.gc().arg("events").assert().success().stdout("").stderr(contains("No events found"));
}

#[test]
fn json_lines_are_the_stored_events_with_increasing_seq() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success();
    city.gc().args(["delete", "agent/worker"]).assert().success();
    let events = city.json_events(&[]);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.len(), 5);
    // Exactly the stored lines.
    let stored = std::fs::read_to_string(city.path().join(".gc/events.jsonl")).unwrap();
    let printed = city.stdout(&["events", "-o", "json"]);
    assert_eq!(printed, stored);
    let configured = &events[3];
    assert_eq!(configured["type"], "resource.configured");
    assert_eq!(configured["reason"], "Configured");
    assert_eq!(configured["object"], serde_json::json!({"kind": "Agent", "name": "worker"}));
    assert_eq!(
        configured["payload"],
        serde_json::json!({"fields": [{"path": "spec.env.LOG_LEVEL", "from": "info", "to": "debug"}]})
    );
    let deleted = &events[4];
    assert_eq!(
        (&deleted["type"], &deleted["reason"]),
        (&"resource.deleted".into(), &"Deleted".into())
    );
    assert!(chrono::DateTime::parse_from_rfc3339(deleted["ts"].as_str().unwrap()).is_ok());
}

#[test]
fn type_filters_take_exact_types_prefixes_and_first_parts() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success();
    let types = |args: &[&str]| -> Vec<String> {
        city.json_events(args).iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(types(&["--type", "resource.configured"]), ["resource.configured"]);
    assert_eq!(types(&["--type", "resource.*"]).len(), 4);
    assert_eq!(types(&["--type", "resource"]).len(), 4);
    assert!(types(&["--type", "session"]).is_empty());
    assert!(types(&["--type", "resource.create"]).is_empty());
    assert_eq!(types(&["--type", "session", "--type", "resource.configured"]).len(), 1);
    city.gc().args(["events", "--type", "res*"]).assert().code(2).stderr(contains("--type `res*`"));
}

#[test]
fn object_filter_accepts_kind_names_and_limit_keeps_the_last() {
    let city = new_city();
    city.write("agents/extra.yaml", &agent("extra", "info"));
    city.gc().arg("apply").assert().success();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success();
    let seqs = |args: &[&str]| -> Vec<u64> {
        city.json_events(args).iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    };
    let worker = seqs(&["--object", "agent/worker"]);
    assert_eq!(worker.len(), 2);
    assert_eq!(seqs(&["--object", "agents/worker"]), worker);
    assert_eq!(seqs(&["--object", "ag/worker"]), worker);
    assert_eq!(seqs(&["--object", "agents"]).len(), 3);
    assert_eq!(seqs(&["--object", "agent/worker", "--limit", "1"]), [worker[1]]);
    assert_eq!(seqs(&["--limit", "2"]).len(), 2);
    assert!(seqs(&["--object", "rig/worker"]).is_empty());
    city.gc()
        .args(["events", "--object", "widget/x"])
        .assert()
        .code(2)
        .stderr(contains("unknown kind `widget`"));
}

#[test]
fn since_takes_a_duration_or_a_time() {
    let city = new_city();
    // An event recorded long ago, in the stored format.
    city.write(
        ".gc/events.jsonl",
        "{\"seq\":1,\"ts\":\"2020-01-01T00:00:00.000Z\",\"type\":\"controller.started\",\"reason\":\"Started\",\"message\":\"old\",\"actor\":\"controller\"}\n",
    );
    city.gc().arg("apply").assert().success();
    let seqs = |args: &[&str]| -> Vec<u64> {
        city.json_events(args).iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    };
    assert_eq!(seqs(&[]), [1, 2, 3, 4]);
    assert_eq!(seqs(&["--since", "10m"]), [2, 3, 4]);
    assert_eq!(seqs(&["--since", "1h30m"]), [2, 3, 4]);
    assert_eq!(seqs(&["--since", "2019-12-31T23:00:00Z"]), [1, 2, 3, 4]);
    assert!(seqs(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    // An event without an object shows `-` in the table.
    let table = city.stdout(&["events", "--type", "controller"]);
    let row = &rows(&table)[0];
    assert_eq!(
        [&row[0], &row[2], &row[3], &row[4], &row[5]],
        ["1", "controller.started", "-", "Started", "old"]
    );
    city.gc()
        .args(["events", "--since", "yesterday"])
        .assert()
        .code(2)
        .stderr(contains("--since `yesterday`: neither a duration"));
}

/// Reads the child's stdout lines on a thread so the test can wait with a deadline.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line satisfying `want`, or a panic after `timeout` listing what was seen.
fn wait_for(rx: &mpsc::Receiver<String>, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no matching line within {timeout:?}; saw {seen:#?}"),
        }
    }
}

/// Kills the child when the test ends, passing or not.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn follow_prints_events_appended_after_it_started() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
        .args(["events", "--follow", "-o", "json", "--type", "resource"])
        .current_dir(city.path())
        .env_remove("GC_CITY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let _guard = KillOnDrop(child);
    let timeout = Duration::from_secs(20);
    // The events already recorded come first.
    wait_for(&rx, timeout, |l| l.contains("\"seq\":3"));
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success();
    let line = wait_for(&rx, timeout, |l| l.contains("resource.configured"));
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["seq"], 4);
}

#[test]
fn follow_waits_for_a_log_that_does_not_exist_yet() {
    let city = new_city();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
        .args(["events", "-f"])
        .current_dir(city.path())
        .env_remove("GC_CITY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let _guard = KillOnDrop(child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!city.path().join(".gc").exists());
    city.gc().arg("apply").assert().success();
    let timeout = Duration::from_secs(20);
    wait_for(&rx, timeout, |l| l.starts_with("SEQ"));
    wait_for(&rx, timeout, |l| l.contains("agent/worker"));
}
