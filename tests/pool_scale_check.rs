//! A pool sized by its `scaleCheck`: the controller's reconcile of one agent against the fake
//! runtime, with the real store, event log and command runner. The check reads a file the test
//! writes, so the test decides what it says.

use std::sync::Arc;

use assert_cmd::cargo::cargo_bin;
use gascity::controllers::reconcile::{Context, reconcile_agent};
use gascity::runtime::{FakeRuntime, Runtime};

const CITY: &str = "apiVersion: gascity.dev/v1alpha1
kind: City
metadata:
  name: town
spec:
  defaultProvider: cli
  controller:
    maxStartsPerSecond: 20
---
apiVersion: gascity.dev/v1alpha1
kind: Provider
metadata:
  name: cli
spec:
  command: sh  # the fake runtime runs nothing, but gc starts no session whose CLI is missing
---
apiVersion: gascity.dev/v1alpha1
kind: Agent
metadata:
  name: worker
spec:
  scaling:
    min: 1
    max: 4
    scaleCheck: cat \"$GC_CITY/want\"
";

fn live(runtime: &FakeRuntime) -> Vec<String> {
    runtime.list("").unwrap().into_iter().filter(|s| s.alive).map(|s| s.name).collect()
}

fn failures(dir: &std::path::Path) -> usize {
    let log = std::fs::read_to_string(dir.join(".gc/events.jsonl")).unwrap_or_default();
    log.lines().filter(|l| l.contains("\"type\":\"agent.scale_check_failed\"")).count()
}

#[test]
fn a_scale_check_sizes_the_pool_within_its_bounds_and_its_failure_means_min() {
    let dir = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(dir.join("city.yaml"), CITY).unwrap();
    let applied = std::process::Command::new(cargo_bin("gc"))
        .args(["apply"])
        .current_dir(&dir)
        .env_remove("GC_CITY")
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let runtime = Arc::new(FakeRuntime::new());
    let ctx = Context::new(dir.clone(), runtime.clone(), "test");
    let want = |text: &str| std::fs::write(dir.join("want"), text).unwrap();

    want("3\n");
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(live(&runtime), ["gc-town-worker-1", "gc-town-worker-2", "gc-town-worker-3"]);

    want("1\n");
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(live(&runtime), ["gc-town-worker-1"], "scaled down, highest members first");

    want("9\n");
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(live(&runtime).len(), 4, "clamped to max");

    // A check that fails counts as min, and is recorded once, not once per pass.
    want("lots\n");
    reconcile_agent(&ctx, "worker").unwrap();
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(live(&runtime), ["gc-town-worker-1"]);
    assert_eq!(failures(&dir), 1);
    let status: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(".gc/status/agents/worker.json")).unwrap(),
    )
    .unwrap();
    let why = status["pool"]["why"].as_str().unwrap();
    assert!(why.contains("scaleCheck failed") && why.contains("lots"), "{why}");

    // Working again, then failing again: a new failure is recorded.
    want("2\n");
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(
        live(&runtime).len(),
        2,
        "{}",
        std::fs::read_to_string(dir.join(".gc/status/agents/worker.json")).unwrap()
    );
    want("lots\n");
    reconcile_agent(&ctx, "worker").unwrap();
    assert_eq!(
        failures(&dir),
        2,
        "{}",
        std::fs::read_to_string(dir.join(".gc/events.jsonl")).unwrap()
    );
}
