//! Skills, commands and MCP servers as data: an Agent's are put into the directory gc owns for
//! its real CLI (never into the rig), each in the form that CLI reads, and the CLI offers them
//! to the model: the requests the loopback stand-in receives name the skill, the command and
//! the MCP server's tool, and the MCP server (a real stdio process) was asked for its tools.
//! Claude Code, Codex and Gemini CLI each; a test is skipped when its CLI is not found. A
//! Provider that does not say where its CLI reads them refuses them.

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
mod common;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cli_city::CliCity;
use messages_standin::{Reply, Standin};
use tmux_city::wait_until;

const SKILL: &str = "---\nname: code-review\ndescription: Multi-pass code review for gc's skill test\n---\n\n# Code review\n\nRead the diff twice.\n";

/// Gives the worker a skill, a slash command and a stdio MCP server (the ping server of
/// `tests/fixtures/mcp`, logging the methods it is asked for); the path of that log.
fn equip_worker(city: &CliCity) -> PathBuf {
    city.city.write("skills/code-review/SKILL.md", SKILL);
    city.city.write(
        "commands/release-notes.md",
        "---\ndescription: Draft the release notes for gc's command test\n---\n\nSummarise $ARGUMENTS.\n",
    );
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/ping_server.py");
    let log = city.city.path().join("mcp-calls.log");
    city.edit(
        "agents/worker.yaml",
        "spec:\n",
        &format!(
            "spec:\n  skills: [skills/code-review]\n  commands: [commands/release-notes.md]\n  \
             mcpServers:\n    gcdemo:\n      command: {}\n      args: [{}, {}]\n      \
             env: {{GC_TEST_MCP_LOG: {}}}\n",
            python(),
            server.display(),
            city.city.path().display(),
            log.display()
        ),
    );
    log
}

/// The real interpreter (not a version manager's shim, which needs the user's HOME).
fn python() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Whether the MCP server was asked for its tools.
fn tools_listed(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|calls| calls.lines().any(|l| l == "tools/list"))
}

#[test]
fn claude_lists_an_agents_skill_to_the_model_from_the_home_gc_owns() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    let log = equip_worker(&city);
    city.run(&["apply"]);
    let id = city.sling("Add a CHANGELOG entry", &[]);
    city.run(&["start", "--timeout", "90s"]);
    wait_until("the worker to take the bead", Duration::from_secs(120), || {
        city.bead(&id)["status"] == "closed"
    });
    assert!(
        standin.bodies_contain("code-review: Multi-pass code review for gc's skill test"),
        "the skill is not listed in any request to the model"
    );
    assert!(
        standin.bodies_contain("release-notes: Draft the release notes for gc's command test"),
        "the command is not listed in any request to the model"
    );
    // Claude defers MCP tools: their names are listed, their schemas fetched on demand.
    assert!(standin.bodies_contain("mcp__gcdemo__ping_gc"), "the MCP tool is not offered");
    assert!(tools_listed(&log), "the MCP server was never asked for its tools");
    assert!(city.home_dir().join("commands/release-notes.md").is_file());
    let linked = city.home_dir().join("skills/code-review");
    assert!(linked.join("SKILL.md").is_file(), "linked at {}", linked.display());
    assert!(city.home_dir().join("gc-mcp.json").is_file());
    assert!(
        !city.city.path().join("rigs/demo-repo/.claude").exists()
            && !city.city.path().join("rigs/demo-repo/.mcp.json").exists(),
        "nothing is written into the rig"
    );
    city.stop();
}

#[test]
fn codex_offers_an_agents_skill_command_and_mcp_tools_from_its_codex_home() {
    let Some(codex) = agent_clis::find("codex") else { return };
    let standin = Standin::start(Box::new(|_| Reply::text("unused")));
    let city = CliCity::new("codex", &codex).with_env("OPENAI_API_KEY", "sk-test-standin-0000");
    city.point_codex_at(&standin.base_url());
    let log = equip_worker(&city);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    // Codex has no slash commands of its own: gc hands it the command as a skill.
    wait_until("Codex's first turn listing the skills", Duration::from_secs(90), || {
        standin.bodies_contain("code-review: Multi-pass code review for gc's skill test")
            && standin
                .bodies_contain("release-notes: Draft the release notes for gc's command test")
    });
    wait_until("the MCP server asked for its tools", Duration::from_secs(30), || {
        tools_listed(&log)
    });
    assert!(standin.bodies_contain("mcp__gcdemo"), "the MCP server's tools are not offered");
    let config = std::fs::read_to_string(city.home_dir().join("config.toml")).unwrap();
    assert!(config.contains("[mcp_servers.gcdemo]"), "{config}");
    assert!(!city.city.path().join("rigs/demo-repo/.codex").exists(), "nothing in the rig");
    city.stop();
}

#[test]
fn gemini_offers_an_agents_skill_and_mcp_tool_and_gets_its_command_as_toml() {
    let Some(gemini) = agent_clis::find("gemini") else { return };
    let standin = Standin::start(Box::new(|_| Reply::text("unused")));
    let city = CliCity::new("gemini", &gemini)
        .with_env("GOOGLE_GEMINI_BASE_URL", &standin.base_url())
        .with_env("GEMINI_API_KEY", "standin-gemini-key");
    let log = equip_worker(&city);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    wait_until("Gemini's first turn listing the skill", Duration::from_secs(90), || {
        standin.bodies_contain("Multi-pass code review for gc's skill test")
    });
    assert!(tools_listed(&log), "the MCP server was never asked for its tools");
    assert!(standin.bodies_contain("ping_gc"), "the MCP tool is not declared to the model");
    let command = city.home_dir().join(".gemini/commands/release-notes.toml");
    let command = std::fs::read_to_string(&command).unwrap();
    assert!(command.contains("Summarise {{args}}."), "{command}");
    assert!(!city.city.path().join("rigs/demo-repo/.gemini").exists(), "nothing in the rig");
    city.stop();
}

#[test]
fn skills_need_a_skill_md_and_a_provider_that_says_where_they_go() {
    let worker = "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec:\n  skills: [skills/review]\n  commands: [commands/go.md]\n";
    let city = common::City::new(worker);
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> =
        findings.as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    for expected in [
        "no skills/review/SKILL.md",
        "provider `shell` does not say where its CLI reads skills",
        "no file commands/go.md",
        "provider `shell` does not say where its CLI reads commands",
    ] {
        assert!(messages.contains(&expected), "{expected}: {findings}");
    }
    assert!(
        findings.as_array().unwrap().iter().all(|f| f["file"] == "agents/worker.yaml"),
        "{findings}"
    );
}

#[test]
fn mcp_servers_are_checked_against_what_the_agents_cli_can_speak() {
    let worker = "apiVersion: gascity.dev/v1alpha1\nkind: Agent\nmetadata:\n  name: worker\nspec:\n  provider: codex\n  skills: [skills/recall]\n  mcpServers:\n    mail:\n      url: http://127.0.0.1:8765/mcp\n      transport: sse\n      headers: {X-Token: \"tok-${TOKEN}\"}\n    both:\n      command: mail-mcp\n      url: http://127.0.0.1:1/mcp\n    \"bad name\":\n      url: http://127.0.0.1:2/mcp\n      args: [--x]\n";
    let city = common::City::new(worker);
    let codex = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/providers/codex.yaml"),
    )
    .unwrap();
    city.write("providers/codex.yaml", &codex);
    city.write("skills/recall/SKILL.md", "# /recall — Query memory\n");
    let out = city.gc().args(["validate", "-o", "json"]).output().unwrap();
    assert!(!out.status.success(), "invalid MCP servers must fail validation");
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<(&str, &str, u64)> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    for (severity, expected, line) in [
        ("warning", "skills/recall/SKILL.md has no front matter `name` and `description`", 7),
        (
            "error",
            "MCP server `mail`: provider `codex` (Codex) speaks only streamable HTTP, not sse",
            11,
        ),
        (
            "error",
            "MCP server `mail`: header X-Token: Codex reads a variable only as the whole value or `Bearer ${NAME}`",
            12,
        ),
        (
            "error",
            "MCP server `both`: set exactly one of command (a program) and url (a remote server)",
            13,
        ),
        ("error", "MCP server `bad name`: the name is not 1 to 64 letters, digits, `_` or `-`", 16),
        ("error", "MCP server `bad name`: args is for servers gc starts (command), not a url", 18),
    ] {
        assert!(messages.contains(&(severity, expected, line)), "{expected}: {messages:#?}");
    }
}

/// Gas City packs hand agents skills and MCP servers through overlays; `gc import` turns them
/// into the Agent's fields, and the real Claude Code then lists the skill (whose SKILL.md has
/// no front matter, as the flywheel packs ship them) and the MCP server's tool to the model.
#[test]
fn an_imported_packs_overlay_skill_and_mcp_server_reach_the_real_claude() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let source = tempfile::tempdir().unwrap();
    let src = source.path();
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "city.toml",
        "[workspace]\nname = \"town\"\nprovider = \"claude\"\n\n[imports.notes]\nsource = \"packs/notes\"\n\n\
         [[agent]]\nname = \"worker\"\nprompt_template = \"prompts/worker.md\"\n",
    );
    write("prompts/worker.md", "You keep the town's notes.\n");
    write("packs/notes/pack.toml", "[pack]\nname = \"notes-kit\"\nschema = 2\n");
    write(
        "packs/notes/overlay/.claude/skills/search-notes/SKILL.md",
        "# /search-notes — Find earlier notes for gc's import test\n\nRun `notes search`.\n",
    );
    // The server's log and its argument (how a leftover process is found) are in the source
    // directory, which exists before the city does.
    let log = src.join("mcp-calls.log");
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/ping_server.py");
    let settings = serde_json::json!({
        "mcpServers": {"notes": {
            "command": python(),
            "args": [server, src],
            "env": {"GC_TEST_MCP_LOG": log},
        }},
        "hooks": {"UserPromptSubmit": [{"type": "command", "command": "notes inbox"}]},
    });
    write("packs/notes/overlay/.claude/settings.json", &settings.to_string());
    let standin = Standin::start(Box::new(|_| Reply::text("Nothing to do.")));
    let city = CliCity::imported(&claude, src)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    let report = std::fs::read_to_string(city.city.path().join(".gc-import/report.txt")).unwrap();
    assert!(report.contains("spec.skills search-notes"), "{report}");
    assert!(report.contains("spec.mcpServers notes"), "{report}");
    assert!(report.contains("gc installs its own hooks"), "{report}");
    city.run(&["validate"]);
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "90s"]);
    wait_until("Claude's first turn listing the skill", Duration::from_secs(90), || {
        standin
            .bodies_contain("search-notes: /search-notes — Find earlier notes for gc's import test")
    });
    wait_until("the MCP server asked for its tools", Duration::from_secs(30), || {
        tools_listed(&log)
    });
    // Claude connects MCP servers beside its first turn; the next turn offers their tools.
    city.run(&["session", "nudge", "gc-town-worker", "Any new notes?"]);
    wait_until("a turn offering the MCP tool", Duration::from_secs(60), || {
        standin.bodies_contain("mcp__notes__ping_gc")
    });
    assert!(!city.city.path().join(".claude").exists(), "no overlay is copied into the city");
    city.stop();
    let src = src.to_string_lossy().into_owned();
    wait_until("the MCP server gone with its session", Duration::from_secs(15), || {
        agent_clis::processes_mentioning(&src).is_empty()
    });
}
