//! `gc validate` end to end: every class of error is reported at the exact line and column,
//! in every output format, with the documented exit codes.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::CITY;

/// A city directory with a City and a Provider, plus `files` (path, contents).
fn city(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "city.yaml", CITY);
    for (path, text) in files {
        write(dir.path(), path, text);
    }
    dir
}

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn gc(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("gc").unwrap();
    cmd.current_dir(dir).env_remove("GC_CITY").env("NO_COLOR", "1");
    cmd
}

/// Runs `gc validate -o json` in `dir`; returns the exit code and `(file, line, column, code)`
/// of each finding, file names relative to the city.
fn findings(dir: &Path) -> (i32, Vec<(String, usize, usize, String)>) {
    let out = gc(dir).args(["validate", "-o", "json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let rows = json
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap_or("").trim_start_matches("./").to_owned(),
                d["line"].as_u64().unwrap_or(0) as usize,
                d["column"].as_u64().unwrap_or(0) as usize,
                d["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (out.status.code().unwrap(), rows)
}

fn row(file: &str, line: usize, column: usize, code: &str) -> (String, usize, usize, String) {
    (file.to_owned(), line, column, code.to_owned())
}

fn agent(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

#[test]
fn the_sample_city_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    gc(root)
        .args(["validate", "manifests/sample-city"])
        .assert()
        .success()
        .stdout(predicates::str::contains("valid"));
}

#[test]
fn a_valid_city_exits_zero_with_no_findings() {
    let dir = city(&[("agents/a.yaml", &agent("a", "  provider: shell\n"))]);
    assert_eq!(findings(dir.path()), (0, vec![]));
}

#[test]
fn syntax_errors_in_yaml_and_toml_are_located() {
    let dir = city(&[
        ("a.yaml", "apiVersion: gascity.dev/v1alpha1\nkind: [Agent\n"),
        ("b.toml", "apiVersion = \"gascity.dev/v1alpha1\"\nkind = = \"Rig\"\n"),
        ("c.yaml", "a: 1\nb: 2\na: 3\n"),
    ]);
    let (code, rows) = findings(dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        [
            row("a.yaml", 3, 1, "syntax"),
            row("b.toml", 2, 8, "syntax"),
            row("c.yaml", 3, 1, "syntax")
        ]
    );
}

#[test]
fn unknown_fields_are_underlined_at_the_key_with_a_suggestion() {
    let dir =
        city(&[("agents/a.yaml", &agent("a", "  provider: shell\n  scaling:\n    mxa: 3\n"))]);
    let (code, rows) = findings(dir.path());
    assert_eq!((code, rows), (1, vec![row("agents/a.yaml", 8, 5, "unknown-field")]));
    gc(dir.path())
        .args(["validate"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains("unknown field `mxa` in spec.scaling"))
        .stdout(predicates::str::contains("did you mean `max`?"))
        .stdout(predicates::str::contains("agents/a.yaml:8:5"));
}

#[test]
fn enum_values_kinds_and_api_versions_suggest_what_is_allowed() {
    let dir = city(&[
        ("a.yaml", &agent("a", "  restartPolicy:\n    onDrift: Immediately\n")),
        (
            "b.yaml",
            "apiVersion: gascity.dev/v1alpha1\nkind: Agnet\nmetadata: {name: b}\nspec: {}\n",
        ),
        ("c.yaml", "apiVersion: gascity.dev/v2\nkind: Agent\nmetadata: {name: c}\nspec: {}\n"),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("a.yaml", 7, 14, "invalid-value"),
            row("b.yaml", 2, 7, "unknown-kind"),
            row("c.yaml", 1, 13, "unknown-api-version"),
        ]
    );
    let out = gc(dir.path()).args(["validate"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("did you mean `Immediate`?"), "{text}");
    assert!(text.contains("did you mean `Agent`?"), "{text}");
    assert!(text.contains("supported apiVersions: `gascity.dev/v1alpha1`"), "{text}");
}

#[test]
fn types_names_durations_and_exactly_one_fields_are_checked() {
    let order = "apiVersion: gascity.dev/v1alpha1\nkind: Order\nmetadata:\n  name: o\nspec:\n  \
                 gate:\n    cooldown: {interval: 5m}\n    manual: {}\n  exec: echo hi\n";
    let dir = city(&[
        ("a.yaml", &agent("Bad_Name", "  args: not-a-list\n  idleTimeout: 5 minutes\n")),
        ("o.yaml", order),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("a.yaml", 4, 9, "invalid-value"),
            row("a.yaml", 6, 9, "invalid-type"),
            row("a.yaml", 7, 16, "invalid-value"),
            row("o.yaml", 6, 3, "exactly-one"),
        ]
    );
}

#[test]
fn missing_required_fields_point_at_the_enclosing_key() {
    let dir = city(&[(
        "r.toml",
        "apiVersion = \"gascity.dev/v1alpha1\"\nkind = \"Rig\"\n\n[metadata]\nname = \"r\"\n\n\
         [spec]\nprefix = \"r\"\n",
    )]);
    let (_, rows) = findings(dir.path());
    assert_eq!(rows, [row("r.toml", 7, 2, "missing-field")]);
}

#[test]
fn duplicate_resources_and_a_second_city_are_reported_where_they_repeat() {
    let dir = city(&[
        ("a.yaml", &agent("a", "  provider: shell\n")),
        ("b.yaml", &agent("a", "  provider: shell\n")),
        (
            "town2.yaml",
            "apiVersion: gascity.dev/v1alpha1\nkind: City\nmetadata: {name: two}\nspec: {}\n",
        ),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [row("b.yaml", 4, 9, "duplicate-resource"), row("town2.yaml", 2, 7, "city-count")]
    );
}

#[test]
fn a_city_without_a_city_resource_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &agent("a", "  provider: shell\n"));
    let (code, rows) = findings(dir.path());
    assert_eq!(code, 1);
    assert_eq!(rows, [row("", 0, 0, "city-count"), row("a.yaml", 6, 13, "unknown-reference")]);
}

#[test]
fn references_to_missing_resources_are_reported_with_suggestions() {
    let order = "apiVersion: gascity.dev/v1alpha1\nkind: Order\nmetadata:\n  name: o\nspec:\n  \
                 gate: {manual: {}}\n  formula: nope\n  target: ghost\n";
    let dir = city(&[
        ("a.yaml", &agent("a", "  provider: shel\n  rig: missing\n  dependsOn: [b]\n")),
        ("o.yaml", order),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("a.yaml", 6, 13, "unknown-reference"),
            row("a.yaml", 7, 8, "unknown-reference"),
            row("a.yaml", 8, 15, "unknown-reference"),
            row("o.yaml", 7, 12, "unknown-reference"),
            row("o.yaml", 8, 11, "unknown-reference"),
        ]
    );
    let out = gc(dir.path()).args(["validate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("did you mean `shell`?"));
}

#[test]
fn depends_on_cycles_are_reported_once_with_the_path() {
    let dir = city(&[
        ("a.yaml", &agent("a", "  dependsOn: [b]\n")),
        ("b.yaml", &agent("b", "  dependsOn: [c]\n")),
        ("c.yaml", &agent("c", "  dependsOn: [a]\n")),
        ("d.yaml", &agent("d", "  dependsOn:\n    - d\n")),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(rows, [row("a.yaml", 6, 15, "cycle"), row("d.yaml", 7, 7, "cycle")]);
    let out = gc(dir.path()).args(["validate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("dependsOn cycle: a → b → c → a"));
}

#[test]
fn formula_steps_are_checked_for_unknown_needs_cycles_and_duplicate_ids() {
    let formula = "\
apiVersion: gascity.dev/v1alpha1
kind: Formula
metadata:
  name: f
spec:
  steps:
    - id: one
      title: One
      needs: [three]
    - id: two
      title: Two
      needs: [one, nine]
    - id: three
      title: Three
      needs: [two]
      children:
        - id: one
          title: Again
";
    let dir = city(&[("f.yaml", formula)]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("f.yaml", 9, 15, "cycle"),
            row("f.yaml", 12, 20, "unknown-reference"),
            row("f.yaml", 17, 15, "duplicate-step-id"),
        ]
    );
}

#[test]
fn pool_bounds_rig_prefixes_and_cron_schedules_are_checked() {
    let rig = |name: &str, prefix: &str| {
        format!(
            "apiVersion: gascity.dev/v1alpha1\nkind: Rig\nmetadata:\n  name: {name}\nspec:\n  \
             path: /src/{name}\n{prefix}"
        )
    };
    let order = "apiVersion: gascity.dev/v1alpha1\nkind: Order\nmetadata:\n  name: o\nspec:\n  \
                 gate:\n    cron:\n      schedule: \"*/15 9-17 * JAN-MAR MON-FRY\"\n  exec: \"true\"\n";
    let dir = city(&[
        ("a.yaml", &agent("a", "  scaling:\n    min: 4\n    max: 2\n")),
        ("r1.yaml", &rig("my-project", "")),
        ("r2.yaml", &rig("other", "  prefix: mp\n")),
        ("o.yaml", order),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("a.yaml", 7, 10, "scaling-range"),
            row("o.yaml", 8, 17, "invalid-cron"),
            row("r2.yaml", 7, 11, "prefix-collision"),
        ]
    );
}

#[test]
fn prompt_templates_must_exist_and_render() {
    let dir = city(&[
        ("a.yaml", &agent("a", "  prompt:\n    template: prompts/missing.md\n")),
        ("b.yaml", &agent("b", "  prompt:\n    template: prompts/b.md\n")),
        ("c.yaml", &agent("c", "  prompt:\n    inline: \"{{ .Agent }}\"\n")),
        ("prompts/b.md", "Hello.\nYou are {{ agent.nmae }}.\n"),
    ]);
    let (_, rows) = findings(dir.path());
    assert_eq!(
        rows,
        [
            row("a.yaml", 7, 15, "prompt-template"),
            row("c.yaml", 7, 13, "prompt-template"),
            row("prompts/b.md", 2, 12, "prompt-template"),
        ]
    );
}

#[test]
fn github_output_is_workflow_annotations() {
    let dir = city(&[("a.yaml", &agent("a", "  provder: shell\n"))]);
    gc(dir.path())
        .args(["validate", "-o", "github"])
        .assert()
        .code(1)
        .stdout(predicates::str::contains(
            "::error file=a.yaml,line=6,col=3,endLine=6,endColumn=10,title=gc validate%3A unknown-field::unknown field `provder` in spec%0Ahelp: did you mean `provider`?",
        ));
}

#[test]
fn stdin_is_read_with_dash_in_either_format() {
    let dir = city(&[]);
    gc(dir.path())
        .args(["validate", "-o", "json", "-"])
        .write_stdin("apiVersion = \"gascity.dev/v1alpha1\"\nkind = \"Rig\"\nbogus = 1\n")
        .assert()
        .code(1)
        .stdout(predicates::str::contains("\"file\": \"<stdin>\""))
        .stdout(predicates::str::contains("\"line\": 3"));
}

#[test]
fn missing_paths_are_usage_errors_with_exit_two() {
    let dir = city(&[]);
    gc(dir.path())
        .args(["validate", "no/such/dir"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no/such/dir: no such file or directory"));
    gc(dir.path()).args(["validate", "--output", "xml"]).assert().code(2);
}

#[test]
fn the_city_directory_is_found_from_a_subdirectory() {
    let dir = city(&[("agents/a.yaml", &agent("a", "  provder: shell\n"))]);
    let (code, rows) = findings(&dir.path().join("agents"));
    assert_eq!(code, 1);
    assert_eq!(rows, [row("../agents/a.yaml", 6, 3, "unknown-field")]);
}

#[test]
fn status_blocks_in_files_are_warnings_not_errors() {
    let text = agent("a", "  provider: shell\nstatus:\n  ready: true\n");
    let dir = city(&[("a.yaml", &text)]);
    let (code, rows) = findings(dir.path());
    assert_eq!((code, rows), (0, vec![row("a.yaml", 7, 1, "status-ignored")]));
}

#[test]
fn schema_prints_each_kind_and_the_combined_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (arg, file) in [("agents", "agent.json"), ("pv", "provider.json"), ("Order", "order.json")]
    {
        let out = gc(root).args(["schema", arg]).output().unwrap();
        assert!(out.status.success());
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        let committed: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("schemas/v1alpha1").join(file)).unwrap(),
        )
        .unwrap();
        assert_eq!(printed, committed, "{arg}");
    }
    let out = gc(root).args(["schema"]).output().unwrap();
    let combined: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(combined["$schema"], "https://json-schema.org/draft/2020-12/schema");
    gc(root).args(["schema", "pods"]).assert().code(2).stderr(predicates::str::contains("pods"));
}

#[test]
fn a_named_file_is_checked_with_the_rest_of_its_city_but_only_its_findings_are_shown() {
    let dir = city(&[
        ("agents/a.yaml", &agent("a", "  provider: shell\n  dependsOn: [b]\n")),
        ("agents/b.yaml", &agent("b", "  provder: shell\n")),
        ("agents/c.yaml", &agent("c", "  provider: shell\n")),
    ]);
    // a.yaml refers to the City's provider and to b, both in other files: no findings, and
    // b.yaml's own error belongs to b.yaml.
    let out = gc(dir.path()).args(["validate", "-o", "json", "agents/c.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = gc(dir.path()).args(["validate", "-o", "json", "agents/b.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"file\": \"agents/b.yaml\""));
    // From stdin, references resolve against the city around the current directory.
    gc(dir.path())
        .args(["validate", "-"])
        .write_stdin(agent("d", "  provider: shel\n"))
        .assert()
        .code(1)
        .stdout(predicates::str::contains("did you mean `shell`?"));
}

#[test]
fn loose_files_outside_any_city_get_schema_checks_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &agent("a", "  provider: elsewhere\n"));
    gc(dir.path()).args(["validate", "a.yaml"]).assert().success();
    write(dir.path(), "b.yaml", &agent("b", "  provider: elsewhere\n  scaling: {min: 3}\n"));
    let (code, rows) = {
        let out = gc(dir.path()).args(["validate", "-o", "json", "b.yaml"]).output().unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), json.as_array().unwrap().len())
    };
    assert_eq!((code, rows), (1, 1), "min 3 > default max 1 is still an error");
}

#[test]
fn budgets_must_limit_something_over_whole_hours() {
    let dir = city(&[
        ("a.yaml", &agent("a", "  budget:\n    window: 30m\n")),
        ("b.yaml", &agent("b", "  budget: {tokens: 1000, window: 12h}\n")),
    ]);
    let (code, rows) = findings(dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        rows,
        [
            row("a.yaml", 6, 3, "inconsistent-settings"),
            row("a.yaml", 7, 13, "inconsistent-settings")
        ]
    );
}

/// A bead-store setting another backend reads would do nothing: it is a warning at its line.
#[test]
fn bead_store_settings_of_another_backend_are_warned_about() {
    let city = common::City::new(
        "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec: {}\n",
    );
    city.write(
        "city.yaml",
        &common::CITY.replace(
            "  defaultProvider: shell\n",
            "  defaultProvider: shell\n  beads:\n    backend: embedded\n    urlEnv: PG_URL\n",
        ),
    );
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "a warning does not fail validation");
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &findings[0];
    assert_eq!(finding["severity"], "warning", "{findings}");
    assert_eq!(finding["message"], "beads.urlEnv is read only by the `postgres` backend");
    assert_eq!((finding["file"].as_str(), finding["line"].as_u64()), (Some("city.yaml"), Some(9)));
}

/// Session pods need an image: without one, `backend: kubernetes` is an error at its line; with
/// one, the city is valid; pod settings under another backend would do nothing (a warning).
#[test]
fn the_kubernetes_session_backend_needs_an_image() {
    let validate = |session: &str| {
        let city = common::City::new(
            "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec: {}\n",
        );
        city.write(
            "city.yaml",
            &common::CITY.replace(
                "  defaultProvider: shell\n",
                &format!("  defaultProvider: shell\n{session}"),
            ),
        );
        let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
        let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), findings)
    };
    let (code, findings) =
        validate("  session:\n    backend: kubernetes\n    kubernetes:\n      secretName: keys\n");
    assert_eq!(code, Some(1), "{findings}");
    assert_eq!(
        findings[0]["message"],
        "session backend `kubernetes` needs `session.kubernetes.image`"
    );
    assert_eq!(
        (findings[0]["file"].as_str(), findings[0]["line"].as_u64()),
        (Some("city.yaml"), Some(8))
    );

    let (code, findings) = validate(
        "  session:\n    backend: kubernetes\n    kubernetes:\n      image: ghcr.io/x/agents:1\n      \
         workspaceClaim: town\n      resources: {requests: {cpu: 500m, memory: 1Gi}}\n",
    );
    assert_eq!((code, findings), (Some(0), serde_json::json!([])));

    let (code, findings) =
        validate("  session:\n    kubernetes:\n      resources: {limits: {cpu: lots}}\n");
    assert_eq!(code, Some(1), "a quantity is checked by the schema: {findings}");

    let (code, findings) = validate("  session:\n    kubernetes:\n      image: x\n");
    assert_eq!(code, Some(0), "{findings}");
    assert_eq!(
        findings[0]["message"],
        "session.kubernetes is read only by the `kubernetes` backend"
    );
}

/// An Agent's or Provider's pod settings do nothing unless the City runs sessions as pods.
#[test]
fn agent_and_provider_pod_settings_need_the_kubernetes_backend() {
    let agent = "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec:\n  \
                 kubernetes:\n    resources: {limits: {memory: 2Gi}}\n";
    let city = common::City::new(agent);
    let provider = "  command: bash\n  kubernetes:\n    image: ghcr.io/x/bash:1\n";
    city.write("city.yaml", &common::CITY.replace("  command: bash\n", provider));
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "warnings only");
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> =
        findings.as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        ["spec.kubernetes is read only when the City's session.backend is `kubernetes`"; 2],
        "{findings}"
    );

    let pods = "  defaultProvider: shell\n  session:\n    backend: kubernetes\n    kubernetes:\n      \
                image: ghcr.io/x/agents:1\n";
    let with_pods = common::CITY
        .replace("  command: bash\n", provider)
        .replace("  defaultProvider: shell\n", pods);
    city.write("city.yaml", &with_pods);
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), findings), (Some(0), serde_json::json!([])));
}
