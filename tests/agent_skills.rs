//! Skills as data: an Agent's `skills` are linked into the config directory gc owns for the
//! real Claude Code (never into the rig), and Claude lists them to the model: the request the
//! loopback Messages API stand-in receives names the skill with its description. Skipped when
//! no `claude` is found. A Provider that does not say where its CLI reads skills refuses them.

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
mod common;
#[path = "common/messages_standin.rs"]
mod messages_standin;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use cli_city::CliCity;
use messages_standin::Standin;
use tmux_city::wait_until;

const SKILL: &str = "---\nname: code-review\ndescription: Multi-pass code review for gc's skill test\n---\n\n# Code review\n\nRead the diff twice.\n";

#[test]
fn claude_lists_an_agents_skill_to_the_model_from_the_home_gc_owns() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let standin = Standin::bead_worker();
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", &standin.base_url())
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    city.city.write("skills/code-review/SKILL.md", SKILL);
    city.city.write(
        "commands/release-notes.md",
        "---\ndescription: Draft the release notes for gc's command test\n---\n\nSummarise $ARGUMENTS.\n",
    );
    city.edit(
        "agents/worker.yaml",
        "spec:\n",
        "spec:\n  skills: [skills/code-review]\n  commands: [commands/release-notes.md]\n",
    );
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
    assert!(city.home_dir().join("commands/release-notes.md").is_file());
    let linked = city.home_dir().join("skills/code-review");
    assert!(linked.join("SKILL.md").is_file(), "linked at {}", linked.display());
    assert!(
        !city.city.path().join("rigs/demo-repo/.claude").exists(),
        "nothing is written into the rig"
    );
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
