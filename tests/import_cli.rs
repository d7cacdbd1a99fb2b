//! `gc import` over every example city and pack Gas City ships (the fixtures beside the
//! repository): each import validates, plans cleanly with `gc diff`, applies, and keeps the
//! source's agents, prompts, formulas and orders; bad input changes nothing.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

mod common;

fn gc(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("gc").unwrap();
    cmd.current_dir(dir).env_remove("GC_CITY").env("NO_COLOR", "1");
    cmd
}

fn examples() -> Option<PathBuf> {
    let dir = common::gascity_fixtures()?.join("examples");
    dir.is_dir().then_some(dir)
}

/// Writes `text` at `rel` below `root`, creating directories.
fn write_file(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The example cities (with city.toml) and packs (with pack.toml) to import.
const SOURCES: &[&str] = &[
    "bd",
    "dolt",
    "gastown",
    "hyperscale",
    "lifecycle",
    "swarm",
    "gastown/packs/gastown",
    "gastown/packs/maintenance",
    "hyperscale/packs/hyperscale",
    "lifecycle/packs/lifecycle",
    "swarm/packs/swarm",
];

fn toml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    serde_json::to_value(value).unwrap()
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap()
}

/// Every pack directory below `root` (the root included when it is one).
fn pack_dirs(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "pack.toml")
        .map(|e| e.path().parent().unwrap().to_path_buf())
        .collect()
}

/// Imports `source` into `out` (relative to `work`) with `extra` arguments, and checks the
/// result validates, plans without errors, applies, and then has nothing left to change.
fn import_and_check(work: &Path, source: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let import =
        gc(work).arg("import").arg(source).args(["--out", out]).args(extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&import.stdout);
    assert!(
        import.status.success(),
        "import {} failed:\n{stdout}\n{}",
        source.display(),
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(stdout.contains("mapped,"), "the report ends with its counts:\n{stdout}");
    let city = work.join(out);
    let validate = gc(&city).arg("validate").output().unwrap();
    assert!(
        validate.status.success(),
        "{} does not validate:\n{}",
        source.display(),
        String::from_utf8_lossy(&validate.stdout)
    );
    let diff = gc(&city).arg("diff").output().unwrap();
    assert!(
        diff.stderr.is_empty(),
        "gc diff complained:\n{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("created"), "nothing to create?");
    gc(&city).arg("apply").assert().success();
    let again = gc(&city).arg("diff").output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stdout));
    city
}

#[test]
fn every_example_imports_validates_and_keeps_its_agents_prompts_formulas_and_orders() {
    let Some(examples) = examples() else {
        println!("skipped: Gas City fixtures not found");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rig = work.path().join("demo-repo");
    std::fs::create_dir_all(&rig).unwrap();
    for (n, rel) in SOURCES.iter().enumerate() {
        let source = examples.join(rel);
        // Once as it is, once with a rig that includes every pack of the example, so the
        // rig-scoped agents are stamped too.
        import_and_check(work.path(), &source, &format!("plain-{n}"), &[]);
        let mut extra = vec!["--rig".to_owned(), format!("demo={}", rig.display())];
        let example_root = examples.join(rel.split('/').next().unwrap());
        for pack in pack_dirs(&example_root) {
            extra.push("--include".into());
            extra.push(pack.display().to_string());
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let city = import_and_check(work.path(), &source, &format!("rigged-{n}"), &extra);
        compare(&source, &example_root, &city);
    }
}

/// Checks the imported `city` against the Gas City `source` it came from.
fn compare(source: &Path, example_root: &Path, city: &Path) {
    let report = std::fs::read_to_string(city.join(".gc-import/report.txt")).unwrap();
    // The City is named after the workspace (or the pack).
    let root_file = ["city.toml", "pack.toml"].iter().map(|f| source.join(f)).find(|p| p.is_file());
    let root = toml_file(root_file.as_ref().unwrap());
    let name = root
        .pointer("/workspace/name")
        .or_else(|| root.pointer("/pack/name"))
        .and_then(Value::as_str)
        .unwrap();
    let city_yaml = yaml_file(&city.join("city.yaml"));
    assert_eq!(city_yaml["metadata"]["name"], gascity::import::names::label(name));
    // Every key of the root file is in the report, at its line.
    for key in root.as_object().unwrap().keys() {
        let shown = root_file.as_ref().unwrap().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            report
                .lines()
                .any(|l| l.contains(&format!("{shown}:")) && l.contains(&format!("  {key}"))),
            "{}: `{key}` missing from the report:\n{report}",
            source.display()
        );
    }
    // Agents: each agent directory of the example's packs that this import reads.
    let mut agents = 0;
    for pack in pack_dirs(example_root) {
        let Ok(entries) = std::fs::read_dir(pack.join("agents")) else { continue };
        for entry in entries.map(Result::unwrap) {
            let base = entry.file_name().to_string_lossy().into_owned();
            let agent = toml_file(&entry.path().join("agent.toml"));
            let scope = agent.get("scope").and_then(Value::as_str).unwrap_or("rig");
            let resource = if scope == "city" { base.clone() } else { format!("demo-{base}") };
            let file = city.join(format!("agents/{resource}.yaml"));
            if !file.is_file() {
                // Only agents of packs the import reads (and not shadowed) are expected; the
                // report must say why any other is absent.
                let shown = format!("{base}/agent.toml");
                let imported_pack = report.contains(&shown);
                assert!(
                    !imported_pack
                        || report.lines().any(|l| l.contains(&shown) && !l.contains("→")),
                    "{}: agent {base} neither imported nor reported as not mapped:\n{report}",
                    source.display()
                );
                continue;
            }
            agents += 1;
            let spec = &yaml_file(&file)["spec"];
            for (gas, ours) in [("nudge", "nudge"), ("idle_timeout", "idleTimeout")] {
                if let Some(v) = agent.get(gas) {
                    assert_eq!(&spec[ours], v, "{resource}: {gas}");
                }
            }
            if let Some(max) =
                agent.get("max_active_sessions").and_then(Value::as_u64).filter(|m| *m > 1)
            {
                assert_eq!(spec["scaling"]["max"].as_u64(), Some(max), "{resource}: pool size");
                let min = agent.get("min_active_sessions").and_then(Value::as_u64).unwrap_or(0);
                assert_eq!(spec["scaling"]["min"].as_u64(), Some(min), "{resource}: pool minimum");
            }
            if scope != "city" {
                assert_eq!(spec["rig"], "demo", "{resource}: stamped for the rig");
            }
            let prompt_source = entry.path().join("prompt.template.md");
            if prompt_source.is_file() {
                let template = spec["prompt"]["template"].as_str().expect("prompt kept");
                let prompt = std::fs::read_to_string(city.join(template)).unwrap();
                // Every line of plain text in the Gas City template survives translation.
                for line in std::fs::read_to_string(&prompt_source).unwrap().lines() {
                    if !line.contains("{{") && !line.trim().is_empty() {
                        assert!(prompt.contains(line), "{resource}: prompt lost {line:?}");
                    }
                }
            }
        }
    }
    // Formulas and orders: imported with their steps, or reported as not imported.
    for pack in pack_dirs(example_root).into_iter().chain([source.to_path_buf()]) {
        for (dir, kind) in [("formulas", "formulas"), ("orders", "orders")] {
            let Ok(entries) = std::fs::read_dir(pack.join(dir)) else { continue };
            for entry in entries.map(Result::unwrap) {
                let file_name = entry.file_name().to_string_lossy().into_owned();
                let gas = toml_file(&entry.path());
                let name = match kind {
                    "formulas" => gas["formula"].as_str().unwrap().to_owned(),
                    _ => file_name.trim_end_matches(".toml").to_owned(),
                };
                let ours = city.join(format!("{kind}/{name}.yaml"));
                if ours.is_file() {
                    if kind == "formulas" {
                        let steps =
                            yaml_file(&ours)["spec"]["steps"].as_array().map_or(0, Vec::len);
                        let source_steps = gas["steps"].as_array().map_or(0, Vec::len);
                        assert_eq!(steps, source_steps, "{name}: steps");
                    } else {
                        let order = &yaml_file(&ours)["spec"];
                        if let Some(f) = gas.pointer("/order/formula") {
                            assert_eq!(&order["formula"], f, "{name}: formula");
                        }
                    }
                } else if report.contains(&format!("/{file_name}")) {
                    let reason = format!("{dir}/{file_name}  (file)");
                    assert!(
                        report.contains(&reason),
                        "{name}: not imported and not explained:\n{report}"
                    );
                }
            }
        }
    }
    let _ = agents;
}

#[test]
fn rig_agents_are_stamped_per_rig_with_prompts_translated_for_the_rig() {
    let Some(examples) = examples() else {
        println!("skipped: Gas City fixtures not found");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    for r in ["alpha", "beta"] {
        std::fs::create_dir_all(work.path().join(r)).unwrap();
    }
    let city = import_and_check(
        work.path(),
        &examples.join("gastown"),
        "town",
        &["--rig", "alpha=alpha", "--rig", "beta=beta"],
    );
    for rig in ["alpha", "beta"] {
        let rig_yaml = yaml_file(&city.join(format!("rigs/{rig}.yaml")));
        let path = rig_yaml["spec"]["path"].as_str().unwrap();
        assert!(Path::new(path).is_absolute() && path.ends_with(rig), "{path}");
        let polecat = yaml_file(&city.join(format!("agents/{rig}-polecat.yaml")));
        assert_eq!(polecat["spec"]["rig"], rig);
        // Gas City's polecats set up a worktree each; gc does that itself.
        assert_eq!(polecat["spec"]["isolation"], "worktree");
        assert!(city.join(format!("agents/{rig}-witness.yaml")).is_file());
    }
    // City-scoped agents are not stamped per rig.
    assert!(city.join("agents/mayor.yaml").is_file());
    assert!(!city.join("agents/alpha-mayor.yaml").exists());
    // The witness prompt names its rig through gc's template variables.
    let witness = std::fs::read_to_string(city.join("prompts/rigs/witness.md")).unwrap();
    assert!(witness.contains("rig.name"), "{witness}");
    assert!(!witness.contains("{{ .RigName"), "Go placeholders left: {witness}");
}

#[test]
fn unknown_keys_are_warnings_and_bad_input_changes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("agents/helper")).unwrap();
    std::fs::write(
        src.join("city.toml"),
        "[workspace]\nname = \"Mini_Town\"\nprovider = \"codex\"\nisolaton = \"none\"\n\n[[agent]]\nname = \"mayor\"\nnudge = \"hello\"\nidle_timout = \"1h\"\nprompt_template = \"prompts/mayor.md\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(src.join("prompts")).unwrap();
    std::fs::write(src.join("prompts/mayor.md"), "You are {{ .AgentName }} in {{ .CityName }}.\n")
        .unwrap();
    let out = gc(work.path()).args(["import", "src", "--out", "town"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("city.toml:4  workspace.isolaton  unknown key"), "{stdout}");
    assert!(
        stdout.contains("agent[0].idle_timout  unknown key; did you mean `idle_timeout`?"),
        "{stdout}"
    );
    let city = yaml_file(&work.path().join("town/city.yaml"));
    assert_eq!(city["metadata"]["name"], "mini-town");
    assert_eq!(city["spec"]["defaultProvider"], "codex");
    assert!(work.path().join("town/providers/codex.yaml").is_file(), "the preset became a file");
    let prompt = std::fs::read_to_string(work.path().join("town/prompts/mayor.md")).unwrap();
    assert_eq!(prompt, "You are {{ agent.name }} in {{ city.name }}.\n");

    // A non-empty --out is refused and left alone; so is a path that is not a city.
    let before = std::fs::read_to_string(work.path().join("town/city.yaml")).unwrap();
    let again = gc(work.path()).args(["import", "src", "--out", "town"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    assert_eq!(std::fs::read_to_string(work.path().join("town/city.yaml")).unwrap(), before);
    let missing = gc(work.path()).args(["import", "nowhere", "--out", "x"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no city.toml or pack.toml"));
    assert!(!work.path().join("x").exists());

    // A syntax error names its file and line, and nothing is written.
    std::fs::write(src.join("city.toml"), "[workspace]\nname = \n").unwrap();
    let broken = gc(work.path()).args(["import", "src", "--out", "y"]).output().unwrap();
    assert_eq!(broken.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&broken.stderr).contains("city.toml:2"),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    assert!(!work.path().join("y").exists());

    // --dry-run lists the files and writes none.
    std::fs::write(src.join("city.toml"), "[workspace]\nname = \"dry\"\n").unwrap();
    let dry = gc(work.path()).args(["import", "src", "--out", "z", "--dry-run"]).output().unwrap();
    assert!(dry.status.success());
    assert!(String::from_utf8_lossy(&dry.stdout).contains("city.yaml"));
    assert!(!work.path().join("z").exists());
    let leftovers: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("gc-import"))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn rigs_patches_env_and_dependencies_carry_over() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let write = |rel: &str, text: &str| write_file(&src, rel, text);
    write(
        "city.toml",
        "[workspace]\nname = \"deps\"\nprovider = \"claude\"\n\n[[rigs]]\nname = \"api\"\npath = \"repos/api\"\nprefix = \"api\"\nincludes = [\"packs/team\"]\n\n[[agent]]\nname = \"mayor\"\nenv = { LOG = \"debug\" }\n",
    );
    write(
        "packs/team/pack.toml",
        "[pack]\nname = \"team\"\nschema = 2\n\n[[patches.agent]]\nname = \"worker\"\nenv = { EXTRA = \"1\" }\n",
    );
    write(
        "packs/team/agents/worker/agent.toml",
        "scope = \"rig\"\ndepends_on = [\"mayor\", \"reviewer\"]\nenv = { A = \"b\" }\nmin_active_sessions = 1\nmax_active_sessions = 4\n",
    );
    write("packs/team/agents/reviewer/agent.toml", "scope = \"rig\"\n");
    std::fs::create_dir_all(src.join("repos/api")).unwrap();
    let city = import_and_check(work.path(), &src, "town", &[]);
    let worker = yaml_file(&city.join("agents/api-worker.yaml"));
    assert_eq!(worker["spec"]["rig"], "api");
    assert_eq!(worker["spec"]["dependsOn"], serde_json::json!(["mayor", "api-reviewer"]));
    assert_eq!(worker["spec"]["env"], serde_json::json!({"A": "b", "EXTRA": "1"}));
    assert_eq!(worker["spec"]["scaling"]["min"], 1);
    assert_eq!(worker["spec"]["scaling"]["max"], 4);
    let mayor = yaml_file(&city.join("agents/mayor.yaml"));
    assert_eq!(mayor["spec"]["env"], serde_json::json!({"LOG": "debug"}));
    let rig = yaml_file(&city.join("rigs/api.yaml"));
    assert_eq!(rig["spec"]["prefix"], "api");
    let path = rig["spec"]["path"].as_str().unwrap();
    assert_eq!(
        Path::new(path),
        src.join("repos/api"),
        "made absolute: the new city lives elsewhere"
    );
}

/// Pack overlays (and pack v2 `skills/` and `mcp/`) become the Agents' skills, commands and MCP
/// servers, each to the agents in its scope, files copied into the city.
#[test]
fn pack_overlays_become_the_agents_skills_commands_and_mcp_servers() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let write = |rel: &str, text: &str| write_file(&src, rel, text);
    write(
        "city.toml",
        "[workspace]\nname = \"town\"\nprovider = \"claude\"\n\n[imports.mail]\nsource = \"packs/mail\"\n\n\
         [imports.memory]\nsource = \"packs/memory\"\n\n[[rigs]]\nname = \"api\"\npath = \"repos/api\"\n\
         includes = [\"packs/team\"]\n\n[[agent]]\nname = \"mayor\"\n\n[[agent]]\nname = \"scout\"\nprovider = \"codex\"\n",
    );
    // Two city packs, each with an MCP server (Gas City would keep only the last one).
    write("packs/mail/pack.toml", "[pack]\nname = \"mail\"\nschema = 2\n");
    write(
        "packs/mail/overlay/.claude/settings.json",
        r#"{"mcpServers": {"agent-mail": {"url": "http://127.0.0.1:8765/mcp", "headers": {"Authorization": "Bearer ${MAIL_TOKEN}"}}},
            "hooks": {"UserPromptSubmit": [{"type": "command", "command": "am inbox"}]}}"#,
    );
    write(
        "packs/mail/overlay/.claude/skills/coordinate/SKILL.md",
        "# /coordinate — Talk to the other agents\n",
    );
    write(
        "packs/mail/overlay/.claude/commands/ops/deploy.md",
        "---\ndescription: Deploy\n---\nDeploy $ARGUMENTS\n",
    );
    write("packs/mail/overlay/CLAUDE.md", "Be nice.\n");
    write(
        "packs/mail/overlay/per-provider/codex/.codex/skills/codex-only/SKILL.md",
        "---\nname: codex-only\ndescription: For Codex\n---\n",
    );
    write("packs/memory/pack.toml", "[pack]\nname = \"memory\"\nschema = 2\n");
    write(
        "packs/memory/mcp/memory.toml",
        "name = \"memory\"\ncommand = \"cm\"\nargs = [\"serve\", \"--stdio\"]\n",
    );
    write(
        "packs/memory/skills/recall/SKILL.md",
        "---\nname: recall\ndescription: >-\n  Recall rules\n  from memory\n---\nRun cm.\n",
    );
    write("packs/memory/skills/recall/references/rules.yaml", "rules: []\n");
    // A rig's pack: only its agents get its overlay; an agent's own overlay wins a name.
    write("packs/team/pack.toml", "[pack]\nname = \"team\"\nschema = 2\n");
    write("packs/team/agents/worker/agent.toml", "scope = \"rig\"\n");
    write(
        "packs/team/overlay/.claude/skills/review/SKILL.md",
        "---\nname: review\ndescription: Team review\n---\n",
    );
    write(
        "packs/team/agents/worker/overlay/.claude/skills/review/SKILL.md",
        "---\nname: review\ndescription: The worker's own review\n---\n",
    );
    std::fs::create_dir_all(src.join("repos/api")).unwrap();
    let city = import_and_check(work.path(), &src, "town", &[]);

    let mayor = yaml_file(&city.join("agents/mayor.yaml"));
    assert_eq!(
        mayor["spec"]["skills"],
        serde_json::json!(["imported/mail/skills/coordinate", "imported/memory/skills/recall"])
    );
    assert_eq!(
        mayor["spec"]["commands"],
        serde_json::json!(["imported/mail/commands/ops-deploy.md"])
    );
    assert_eq!(
        mayor["spec"]["mcpServers"],
        serde_json::json!({
            "agent-mail": {"url": "http://127.0.0.1:8765/mcp",
                           "headers": {"Authorization": "Bearer ${MAIL_TOKEN}"}},
            "memory": {"command": "cm", "args": ["serve", "--stdio"]},
        })
    );
    let scout = yaml_file(&city.join("agents/scout.yaml"));
    let scout_skills = scout["spec"]["skills"].as_array().unwrap();
    assert!(
        scout_skills.contains(&"imported/mail/per-provider/codex/skills/codex-only".into()),
        "{scout}"
    );
    assert!(
        !mayor["spec"]["skills"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("codex-only"))
    );
    let worker = yaml_file(&city.join("agents/api-worker.yaml"));
    let worker_skills: Vec<&str> =
        worker["spec"]["skills"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(
        worker_skills.contains(&"imported/team/agents/api-worker/skills/review"),
        "{worker_skills:?}"
    );
    assert!(!worker_skills.contains(&"imported/team/skills/review"), "{worker_skills:?}");
    assert!(
        !mayor["spec"]["skills"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains("review"))
    );

    // A SKILL.md without front matter gets it in the copy; other files are copied as they are.
    let coordinate =
        std::fs::read_to_string(city.join("imported/mail/skills/coordinate/SKILL.md")).unwrap();
    assert!(
        coordinate.starts_with(
            "---\nname: coordinate\ndescription: /coordinate — Talk to the other agents\n---\n"
        ),
        "{coordinate}"
    );
    assert!(city.join("imported/memory/skills/recall/references/rules.yaml").is_file());
    // The servers' variables pass into the sessions of the agents' Provider.
    let claude = yaml_file(&city.join("providers/claude.yaml"));
    assert!(
        claude["spec"]["passEnv"].as_array().unwrap().contains(&"MAIL_TOKEN".into()),
        "{claude}"
    );
    assert!(claude["spec"]["home"]["skillsDir"].is_string(), "{claude}");

    let report = std::fs::read_to_string(city.join(".gc-import/report.txt")).unwrap();
    for expected in [
        "overlay/CLAUDE.md  (file)  gc copies no overlay into work directories",
        "overlay/.claude/settings.json  hooks  gc installs its own hooks",
        "mcpServers.agent-mail  → spec.mcpServers agent-mail of Agent/mayor, Agent/scout, Agent/api-worker (approximated: no `type`",
    ] {
        assert!(report.contains(expected), "{expected}\n{report}");
    }
}
