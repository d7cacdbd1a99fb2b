//! `gc apply`, `gc diff`, `gc get`, `gc describe`, `gc delete` end to end against a real store
//! in a temporary city: exit codes, what lands on disk, concurrency and crash safety.

use std::path::PathBuf;
use std::process::Output;

use predicates::str::contains;
use serde_json::Value;

mod common;
use common::City;

fn agent(name: &str, level: &str) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\n  labels:\n    \
         team: core\nspec:\n  env:\n    LOG_LEVEL: {level}\n"
    )
}

/// The shared test city with this file's `worker`.
fn new_city() -> City {
    City::new(&agent("worker", "info"))
}

impl City {
    fn run(&self, args: &[&str]) -> Output {
        self.gc().args(args).output().unwrap()
    }

    fn stored(&self, kind: &str, name: &str) -> Option<Value> {
        let path = self.path().join(".gc/applied").join(kind).join(format!("{name}.json"));
        std::fs::read(path).ok().map(|b| serde_json::from_slice(&b).expect("stored objects parse"))
    }

    /// Every file under `.gc/applied`, with contents, for before/after comparisons.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let root = self.path().join(".gc/applied");
        if let Ok(kinds) = std::fs::read_dir(&root) {
            for kind in kinds.flatten() {
                if kind.path().is_dir() {
                    for f in std::fs::read_dir(kind.path()).unwrap().flatten() {
                        out.push((f.path(), std::fs::read(f.path()).unwrap()));
                    }
                }
            }
        }
        out.sort();
        out
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn apply_creates_then_reports_unchanged_then_configures_and_prunes() {
    let city = new_city();
    let out = city.run(&["apply"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout(&out),
        "city/town created\nprovider/shell created\nagent/worker created\n\
         3 created, 0 configured, 0 unchanged, 0 pruned\n"
    );
    let first = city.stored("agents", "worker").unwrap();
    assert_eq!(first["metadata"]["generation"], 1);
    assert_eq!(first["source"], "agents/worker.yaml");
    assert!(first["metadata"]["uid"].as_str().unwrap().len() >= 32);

    city.gc().arg("apply").assert().success().stdout(contains("agent/worker unchanged"));

    // A label-only change: configured, new resourceVersion, same generation.
    city.write("agents/worker.yaml", &agent("worker", "info").replace("team: core", "team: edge"));
    city.gc().arg("apply").assert().success().stdout(contains("agent/worker configured"));
    let relabelled = city.stored("agents", "worker").unwrap();
    assert_eq!(relabelled["metadata"]["generation"], 1);
    assert_ne!(relabelled["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    assert_eq!(relabelled["metadata"]["uid"], first["metadata"]["uid"]);

    // A spec change bumps the generation.
    city.write("agents/worker.yaml", &agent("worker", "debug").replace("team: core", "team: edge"));
    city.gc().arg("apply").assert().success().stdout(contains("agent/worker configured"));
    assert_eq!(city.stored("agents", "worker").unwrap()["metadata"]["generation"], 2);

    // A removed file is pruned by a whole-city apply.
    std::fs::remove_file(city.path().join("agents/worker.yaml")).unwrap();
    city.gc()
        .arg("apply")
        .assert()
        .success()
        .stdout(contains("agent/worker pruned"))
        .stdout(contains("0 created, 0 configured, 2 unchanged, 1 pruned"));
    assert!(city.stored("agents", "worker").is_none());
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let city = new_city();
    city.gc()
        .args(["apply", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("agent/worker created (dry run)"));
    assert!(city.snapshot().is_empty());
}

#[test]
fn an_invalid_file_changes_nothing() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    let before = city.snapshot();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.write("agents/broken.yaml", &agent("broken", "x").replace("env:", "evn:"));
    city.gc()
        .arg("apply")
        .assert()
        .code(1)
        .stderr(contains("unknown field `evn`"))
        .stderr(contains("nothing changed"));
    assert_eq!(city.snapshot(), before, "an invalid file must not half-apply");
    city.gc().args(["apply", "-f", "agents/worker.yaml"]).assert().code(0);
    assert_ne!(city.snapshot(), before, "the valid file alone applies");
}

#[test]
fn apply_with_files_prunes_only_when_asked_and_only_from_those_files() {
    let city = new_city();
    let two = format!("{}---\n{}", agent("a", "info"), agent("b", "info"));
    city.write("agents/pair.yaml", &two);
    city.gc().arg("apply").assert().success();
    city.write("agents/pair.yaml", &agent("a", "info"));
    city.gc()
        .args(["apply", "-f", "agents/pair.yaml"])
        .assert()
        .success()
        .stdout(contains("0 pruned"));
    assert!(city.stored("agents", "b").is_some());
    city.gc()
        .args(["apply", "-f", "agents/pair.yaml", "--prune"])
        .assert()
        .success()
        .stdout(contains("agent/b pruned"));
    assert!(city.stored("agents", "b").is_none());
    assert!(city.stored("agents", "worker").is_some(), "other files' resources stay");
}

#[test]
fn diff_exit_codes_follow_kubectl_and_ignore_formatting() {
    let city = new_city();
    let out = city.run(&["diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("agent/worker: created"));
    city.gc().arg("apply").assert().success();
    // No resource differs: nothing but the runtime plan, which --no-runtime leaves out.
    city.gc().arg("diff").assert().code(0).stdout(contains("Runtime plan"));
    city.gc().args(["diff", "--no-runtime"]).assert().code(0).stdout("");

    // Same content, different formatting and key order: no difference.
    city.write(
        "agents/worker.yaml",
        "kind: Agent\napiVersion: gascity.dev/v1alpha1\nspec: {env: {LOG_LEVEL: \"info\"}}\n\
         metadata: {labels: {team: core}, name: worker}\n",
    );
    city.gc().arg("diff").assert().code(0);

    city.write("agents/worker.yaml", &agent("worker", "debug"));
    let out = city.run(&["diff"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("-  LOG_LEVEL: info\n+  LOG_LEVEL: debug\n"), "{text}");
    assert!(text.contains("agent/worker spec.env.LOG_LEVEL: \"info\" → \"debug\"\n"), "{text}");

    city.write("agents/worker.yaml", "kind: Agent\n");
    city.gc().arg("diff").assert().code(2);
}

#[test]
fn status_is_kept_across_applies() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    let status_path = city.path().join(".gc/status/agents/worker.json");
    std::fs::create_dir_all(status_path.parent().unwrap()).unwrap();
    std::fs::write(
        &status_path,
        r#"{"phase": "Running", "readySessions": 1, "desiredSessions": 1}"#,
    )
    .unwrap();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success().stdout(contains("configured"));
    let status: Value = serde_json::from_slice(&std::fs::read(&status_path).unwrap()).unwrap();
    assert_eq!(status["phase"], "Running");
    city.gc().args(["get", "agents"]).assert().success().stdout(contains("1/1"));
}

#[test]
fn ten_concurrent_applies_of_different_files_all_land() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    for i in 0..10 {
        city.write(&format!("agents/a{i}.yaml"), &agent(&format!("a{i}"), "info"));
    }
    let children: Vec<_> = (0..10)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
                .current_dir(city.path())
                .args(["apply", "-f", &format!("agents/a{i}.yaml")])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut versions = std::collections::BTreeSet::new();
    for i in 0..10 {
        let object = city.stored("agents", &format!("a{i}")).expect("every apply landed");
        versions.insert(object["metadata"]["resourceVersion"].as_str().unwrap().to_owned());
    }
    assert_eq!(versions.len(), 10, "every write got its own resourceVersion");
    city.gc().arg("diff").assert().code(0);
}

#[test]
fn a_crash_at_any_point_of_a_write_leaves_the_old_or_the_new_object() {
    // Each object write first bumps the resourceVersion counter (one rename), then renames the
    // object into place (`#2`), then the digest index (`#3`). An index left stale by a crash
    // must be noticed and ignored: diff then reads the objects themselves.
    for (point, expect_new) in [
        ("store.mid-temp-write", false),
        ("store.before-rename", false),
        ("store.after-rename", false),
        ("store.mid-temp-write#2", false),
        ("store.before-rename#2", false),
        ("store.after-rename#2", true),
        ("store.mid-temp-write#3", true),
        ("store.before-rename#3", true),
    ] {
        let city = new_city();
        city.gc().arg("apply").assert().success();
        city.write("agents/worker.yaml", &agent("worker", "debug"));
        let out = city.gc().arg("apply").env("GC_FAIL_POINT", point).output().unwrap();
        assert!(!out.status.success(), "{point}: the injected crash happened");
        let object = city.stored("agents", "worker").expect("the object is still readable");
        let level = object["spec"]["env"]["LOG_LEVEL"].as_str().unwrap();
        assert_eq!(level, if expect_new { "debug" } else { "info" }, "{point}");
        // Readers see exactly what the object files hold: a snapshot from before the crash is
        // stale and must not be used.
        let diff = city.run(&["diff"]).status.code();
        assert_eq!(diff, Some(if expect_new { 0 } else { 1 }), "{point}: diff after the crash");
        // The store stays usable: the next apply converges, diff is then clean, and no
        // temporary file of the interrupted write is left behind.
        city.gc().arg("apply").assert().success();
        city.gc().arg("diff").assert().code(0);
        let leftovers: Vec<_> = walkdir::WalkDir::new(city.path().join(".gc/applied"))
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(leftovers.is_empty(), "{point}: left behind {leftovers:?}");
        assert_eq!(city.stored("agents", "worker").unwrap()["spec"]["env"]["LOG_LEVEL"], "debug");
    }
}

#[test]
fn a_digest_index_left_stale_by_a_crash_is_not_trusted() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    // The object lands as "debug" but the crash stops the index from learning it...
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    let out =
        city.gc().arg("apply").env("GC_FAIL_POINT", "store.before-rename#3").output().unwrap();
    assert!(!out.status.success(), "the injected crash happened");
    // ...so the stale index still says "info". The file going back to "info" is a change from
    // what is stored, and diff and apply must both see it.
    city.write("agents/worker.yaml", &agent("worker", "info"));
    let diff = city.run(&["diff"]);
    assert_eq!(diff.status.code(), Some(1), "{}", String::from_utf8_lossy(&diff.stdout));
    assert!(String::from_utf8_lossy(&diff.stdout).contains("\"debug\" → \"info\""));
    city.gc()
        .arg("apply")
        .assert()
        .success()
        .stdout(predicates::str::contains("agent/worker configured"));
    city.gc().arg("diff").assert().code(0);
    // A later single-file apply and a delete keep the rebuilt index in step with the store.
    city.write("agents/worker.yaml", &agent("worker", "warn"));
    city.gc().args(["apply", "-f", "agents/worker.yaml"]).assert().success();
    city.gc().arg("diff").assert().code(0);
    city.gc().args(["delete", "agent/worker"]).assert().success();
    city.gc()
        .arg("diff")
        .assert()
        .code(1)
        .stdout(predicates::str::contains("agent/worker: created"));
}

#[test]
fn one_damaged_stored_file_is_shown_degraded_and_apply_or_delete_gets_out_of_it() {
    let city = new_city();
    city.write("agents/mayor.yaml", &agent("mayor", "info"));
    city.gc().arg("apply").assert().success();
    let mayor = city.path().join(".gc/applied/agents/mayor.json");
    std::fs::write(&mayor, "{garbage").unwrap();

    // Everything else still lists; the damaged one is Degraded with the file and the way out.
    let get = city.run(&["get", "agents"]);
    assert!(get.status.success(), "{}", String::from_utf8_lossy(&get.stderr));
    let table = stdout(&get);
    assert!(table.lines().any(|l| l.starts_with("mayor") && l.contains("Degraded")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("worker") && !l.contains("Degraded")), "{table}");
    let stderr = String::from_utf8_lossy(&get.stderr);
    assert!(stderr.contains("mayor.json") && stderr.contains("gc delete agent/mayor"), "{stderr}");
    let json: Value =
        serde_json::from_slice(&city.run(&["get", "agent", "mayor", "-o", "json"]).stdout).unwrap();
    assert_eq!(json["status"]["conditions"][0]["type"], "Degraded");
    let status = city.run(&["status"]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(stdout(&status).contains("agent/mayor is Degraded"), "{}", stdout(&status));
    city.gc().args(["describe", "agent/mayor"]).assert().success().stdout(contains("Degraded"));

    // The digest index still vouches for mayor, but its file changed behind gc's back.
    city.gc().arg("diff").assert().code(1).stdout(contains("agent/mayor: repaired"));
    city.gc().arg("apply").assert().success().stdout(contains("agent/mayor repaired"));
    assert_eq!(city.stored("agents", "mayor").unwrap()["spec"]["env"]["LOG_LEVEL"], "info");
    city.gc().arg("diff").assert().code(0);

    // A file edited into another object is damaged too; deleting it is the other way out.
    let worker =
        std::fs::read_to_string(city.path().join(".gc/applied/agents/worker.json")).unwrap();
    std::fs::write(&mayor, worker).unwrap();
    city.gc().args(["get", "agent", "mayor"]).assert().success().stderr(contains("holds `worker`"));
    city.gc()
        .args(["delete", "agent/mayor"])
        .assert()
        .success()
        .stdout(contains("agent/mayor deleted"));
    assert!(!mayor.exists());
    // A name that is no resource name never becomes a path.
    city.gc()
        .args(["delete", "agent/../../city"])
        .assert()
        .failure()
        .stderr(contains("not a valid agent name"));
}

#[test]
fn apply_pokes_a_running_controller() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    let city = new_city();
    std::fs::create_dir_all(city.path().join(".gc")).unwrap();
    let listener = UnixListener::bind(city.path().join(".gc/controller.sock")).unwrap();
    let received = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    });
    city.gc().arg("apply").assert().success();
    assert_eq!(received.join().unwrap(), "poke\n");
}

#[test]
fn get_lists_filters_and_formats() {
    let city = new_city();
    city.write("agents/other.yaml", &agent("other", "info").replace("team: core", "team: edge"));
    city.gc().arg("apply").assert().success();
    let table = stdout(&city.run(&["get", "agents"]));
    assert!(
        table.starts_with("NAME     PROVIDER   RIG   READY   RESTARTS   STATUS   AGE\n"),
        "{table}"
    );
    assert!(table.contains("worker   shell"), "{table}");
    city.gc().args(["get", "ag", "-l", "team=edge", "-o", "name"]).assert().stdout("agent/other\n");
    let one: Value =
        serde_json::from_slice(&city.run(&["get", "agent", "worker", "-o", "json"]).stdout)
            .unwrap();
    assert_eq!(one["kind"], "Agent");
    assert_eq!(one["spec"]["env"]["LOG_LEVEL"], "info");
    let list: Value =
        serde_json::from_slice(&city.run(&["get", "agents", "-o", "json"]).stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    city.gc().args(["get", "agents", "-o", "yaml"]).assert().stdout(contains("kind: List"));
    city.gc()
        .args(["get", "agent", "ghost"])
        .assert()
        .code(1)
        .stderr(contains("agent/ghost not found"));
    city.gc().args(["get", "pods"]).assert().code(2).stderr(contains("unknown kind `pods`"));
}

#[test]
fn describe_shows_spec_status_and_recent_events() {
    let city = new_city();
    city.gc().arg("apply").assert().success();
    city.write("agents/worker.yaml", &agent("worker", "debug"));
    city.gc().arg("apply").assert().success();
    city.gc()
        .args(["describe", "agent/worker"])
        .assert()
        .success()
        .stdout(contains("Name:              worker"))
        .stdout(contains("Generation:        2"))
        .stdout(contains("LOG_LEVEL: debug"))
        .stdout(contains("resource.created"))
        .stdout(contains("configured: spec.env.LOG_LEVEL: \"info\" → \"debug\""));
    city.gc().args(["describe", "agent", "nobody"]).assert().code(1);
}

#[test]
fn delete_by_name_and_by_file() {
    let city = new_city();
    city.write("agents/extra.yaml", &agent("extra", "info"));
    city.gc().arg("apply").assert().success();
    city.gc().args(["delete", "agent/worker"]).assert().success().stdout("agent/worker deleted\n");
    assert!(city.stored("agents", "worker").is_none());
    city.gc().args(["delete", "-f", "agents/extra.yaml"]).assert().success();
    assert!(city.stored("agents", "extra").is_none());
    city.gc().args(["delete", "agent", "worker"]).assert().code(1).stderr(contains("not found"));
    city.gc().args(["delete", "agent", "worker", "--ignore-not-found"]).assert().success();
    city.gc().args(["delete"]).assert().code(2);
}

#[test]
fn named_files_are_checked_against_the_city_as_applied() {
    let city = new_city();
    // Nothing applied yet: a lone agent has no City to belong to.
    city.gc()
        .args(["apply", "-f", "agents/worker.yaml"])
        .assert()
        .code(1)
        .stderr(contains("no City is applied yet"));
    city.gc().arg("apply").assert().success();

    // A provider that exists only as a file not yet applied does not count.
    city.write(
        "providers/codex.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: codex\nspec:\n  command: codex\n",
    );
    city.write(
        "agents/coder.yaml",
        &agent("coder", "info").replace("spec:\n", "spec:\n  provider: codex\n"),
    );
    city.gc()
        .args(["apply", "-f", "agents/coder.yaml"])
        .assert()
        .code(1)
        .stderr(contains("Provider `codex` not found"))
        .stderr(contains("already applied"));
    city.gc()
        .args(["apply", "-f", "providers/codex.yaml", "-f", "agents/coder.yaml"])
        .assert()
        .success();

    // A dependsOn cycle closed through an applied agent is caught.
    city.write(
        "agents/coder.yaml",
        &agent("coder", "info")
            .replace("spec:\n", "spec:\n  provider: codex\n  dependsOn: [worker]\n"),
    );
    city.gc().args(["apply", "-f", "agents/coder.yaml"]).assert().success();
    city.write(
        "agents/worker.yaml",
        &agent("worker", "info").replace("spec:\n", "spec:\n  dependsOn: [coder]\n"),
    );
    city.gc()
        .args(["apply", "-f", "agents/worker.yaml"])
        .assert()
        .code(1)
        .stderr(contains("dependsOn cycle: coder → worker → coder"));

    // A rig whose prefix an applied rig already uses is refused.
    let rig = |name: &str| {
        format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: Rig\nmetadata:\n  name: {name}\nspec:\n  path: /src/{name}\n"
        )
    };
    city.write("rigs/my-app.yaml", &rig("my-app"));
    city.gc().args(["apply", "-f", "rigs/my-app.yaml"]).assert().success();
    city.write("rigs/mega-app.yaml", &rig("mega-app"));
    city.gc()
        .args(["apply", "-f", "rigs/mega-app.yaml"])
        .assert()
        .code(1)
        .stderr(contains("already used by rig `my-app`"));
}

/// The first hour of a hand-written city: after `gc apply` its bead store exists (no
/// controller has run yet), and a provider whose CLI is not installed is said, with how to
/// install it.
#[test]
fn apply_makes_the_city_store_and_says_which_cli_is_missing() {
    let city = new_city();
    let before = city.gc().args(["bd", "create", "Too early"]).output().unwrap();
    assert!(!before.status.success(), "no store before the first apply");
    city.write(
        "providers/claude.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Provider\nmetadata:\n  name: claude\nspec:\n  \
         command: no-such-agent-cli\n  install: npm install -g no-such-agent-cli\n",
    );
    city.write(
        "agents/coder.yaml",
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: coder\nspec:\n  \
         provider: claude\n",
    );
    let out = city.run(&["apply"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("city bead store created"), "{stderr}");
    assert!(
        stderr.contains("provider `claude`: `no-such-agent-cli` is not installed")
            && stderr.contains("npm install -g no-such-agent-cli"),
        "{stderr}"
    );
    city.gc().args(["bd", "create", "First bead"]).assert().success();
    let status = city.gc().arg("status").output().unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("npm install -g no-such-agent-cli"), "{shown}");
    for target in ["agent/coder", "provider/claude"] {
        let described = city.gc().args(["describe", target]).output().unwrap();
        let shown = String::from_utf8_lossy(&described.stdout);
        assert!(
            shown.contains("CLI:               NOT INSTALLED: provider `claude`")
                && shown.contains("npm install -g no-such-agent-cli"),
            "{target}: {shown}"
        );
    }
}
