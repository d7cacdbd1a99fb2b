//! No Gas City city, however odd its shape, makes `gc import` panic: arbitrary TOML trees
//! built from the keys the importer reads are written as a city (with a pack and an agent
//! directory), imported, and whatever it produces is staged and validated.

use std::path::Path;

use gascity::import::{Options, import, write};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the importer gives meaning to, so generated trees reach its paths.
const KEYS: &[&str] = &[
    "workspace",
    "name",
    "provider",
    "start_command",
    "max_active_sessions",
    "min_active_sessions",
    "suspended",
    "global_fragments",
    "includes",
    "default_rig_includes",
    "imports",
    "source",
    "session",
    "socket",
    "startup_timeout",
    "beads",
    "daemon",
    "patrol_interval",
    "max_restarts",
    "restart_window",
    "shutdown_timeout",
    "max_wakes_per_tick",
    "rigs",
    "path",
    "prefix",
    "overrides",
    "patches",
    "agent",
    "scope",
    "dir",
    "work_dir",
    "nudge",
    "idle_timeout",
    "env",
    "env_remove",
    "depends_on",
    "scale_check",
    "pool",
    "min",
    "max",
    "check",
    "prompt_template",
    "inject_fragments",
    "pre_start",
    "pre_start_append",
    "args",
    "prompt_mode",
    "ready_delay_ms",
    "process_names",
    "named_session",
    "template",
    "mode",
    "providers",
    "command",
    "resume_flag",
    "resume_style",
    "formulas",
    "pack",
    "fallback",
    "isolation",
    "é",
    "a/b",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "claude",
            "codex",
            "nope",
            "city",
            "rig",
            "always",
            "on_demand",
            "1h",
            "1.5h",
            "",
            "../x",
            "packs/p",
            "worktree-setup.sh {{.Rig}}",
            "{{.ConfigDir}}/run.sh a b",
            "sh -c 'x | y'",
            "Mayor_1",
            "demo",
            "/abs/path",
            "exec:./s.sh",
            "subprocess",
            "k8s",
        ])
        .prop_map(|s| Value::String(s.into())),
        any::<i64>().prop_map(Value::from),
        (0u64..5).prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
            }),
        ]
    })
}

fn table() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS), tree()), 0..8)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// TOML text for `table`; `None` when TOML cannot hold it (e.g. a mixed array).
fn to_toml(table: &Map<String, Value>) -> Option<String> {
    let value: toml::Value = serde_json::from_value(Value::Object(table.clone())).ok()?;
    toml::to_string(&value).ok()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn import_never_panics(city in table(), pack in table(), agent in table(), prompt in "\\PC{0,40}") {
        let (Some(city), Some(pack), Some(agent)) = (to_toml(&city), to_toml(&pack), to_toml(&agent)) else {
            return Ok(());
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("city");
        write(&root.join("city.toml"), &format!("[imports.p]\nsource = \"packs/p\"\n{city}"));
        write(&root.join("packs/p/pack.toml"), &pack);
        write(&root.join("packs/p/agents/a/agent.toml"), &agent);
        write(&root.join("packs/p/agents/a/prompt.template.md"), &prompt);
        let options = Options { rigs: vec![("demo".into(), dir.path().display().to_string())], includes: vec![] };
        if let Ok(mut imported) = import(&root, &options) {
            let staged = dir.path().join("staged");
            let _ = write::stage_valid(&mut imported, &staged);
            let _ = imported.report.render();
        }
    }
}
