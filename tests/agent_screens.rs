//! The real Codex and Gemini CLIs (and Claude Code's own dialogs) started under gc: with what
//! gc seeds they reach their prompt with no human; a dialog that still appears is answered by
//! moving the cursor to the declared option first; a screen nothing declares (a login) leaves
//! the session `Blocked` with its screen in the status and a `session.blocked` event — not
//! restarted, not quarantined. Each test is skipped when its CLI is not found (see
//! `common/agent_clis.rs`).

#[path = "common/agent_clis.rs"]
mod agent_clis;
#[path = "common/cli_city.rs"]
mod cli_city;
#[path = "common/tmux.rs"]
mod tmux_city;

use std::time::Duration;

use cli_city::CliCity;
use serde_json::Value;
use tmux_city::wait_until;

const START: Duration = Duration::from_secs(60);

fn phase(city: &CliCity) -> String {
    city.worker()["phase"].as_str().unwrap_or_default().to_owned()
}

fn wait_phase(city: &CliCity, want: &str) {
    wait_until(&format!("the worker {want}"), START, || phase(city) == want);
}

/// Dialogs the controller answered, as (name, choice).
fn answered(city: &CliCity) -> Vec<(String, String)> {
    city.city
        .events("session.dialog")
        .iter()
        .map(|e| {
            let p = &e["payload"];
            (p["dialog"].as_str().unwrap().to_owned(), p["choice"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// The session stays `Blocked` at a screen nothing declares, showing `needle`, without being
/// restarted or quarantined; `gc status` shows the screen.
fn assert_blocked_at(city: &CliCity, needle: &str) {
    wait_phase(city, "Blocked");
    let status = city.worker();
    let row = &status["sessions"][0];
    assert_eq!(row["phase"], "blocked", "{status}");
    assert!(row["screen"].as_str().unwrap_or_default().contains(needle), "{status}");
    let events = city.city.events("session.blocked");
    assert_eq!(events.len(), 1, "one session.blocked event");
    assert!(events[0]["payload"]["screen"].as_str().unwrap().contains(needle));
    assert!(city.city.events("session.quarantined").is_empty());
    assert!(city.city.events("session.crashed").is_empty(), "a blocked session is no crash");
    assert_eq!(status["restarts"], 0);
    let shown = String::from_utf8(city.run(&["status"]).stdout).unwrap();
    assert!(shown.contains("agent/worker is Blocked") && shown.contains(needle), "{shown}");
}

#[test]
fn codex_starts_unattended_with_a_key_and_blocks_at_its_login_without() {
    let Some(codex) = agent_clis::find("codex") else { return };
    let city = CliCity::new("codex", &codex).with_env("OPENAI_API_KEY", "sk-test-standin-0000");
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_phase(&city, "Running");
    assert!(answered(&city).is_empty(), "seeding left no dialog: {:?}", answered(&city));
    let auth: Value =
        serde_json::from_str(&std::fs::read_to_string(city.home_dir().join("auth.json")).unwrap())
            .unwrap();
    assert_eq!(auth["auth_mode"], "apikey");
    let hooks = std::fs::read_to_string(city.home_dir().join("hooks.json")).unwrap();
    assert!(hooks.contains("prime --hook --format claude"), "{hooks}");
    city.stop();

    let Some(codex) = agent_clis::find("codex") else { return };
    let city = CliCity::new("codex", &codex);
    city.run(&["apply"]);
    city.run(&["start", "--no-wait"]);
    assert_blocked_at(&city, "Sign in with ChatGPT");
    city.stop();
}

#[test]
fn codex_dialogs_are_answered_by_moving_to_the_declared_option() {
    let Some(codex) = agent_clis::find("codex") else { return };
    let city = CliCity::new("codex", &codex).with_env("OPENAI_API_KEY", "sk-test-standin-0000");
    // Without these the trust and hook-review dialogs appear.
    city.edit(
        "providers/codex.yaml",
        "args: [--no-daemon, --dangerously-bypass-hook-trust]",
        "args: [--no-daemon]",
    );
    city.edit(
        "providers/codex.yaml",
        "          projects:\n            \"{{ work_dir }}\":\n              trust_level: trusted\n",
        "          model_reasoning_effort: low\n",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_phase(&city, "Running");
    assert_eq!(
        answered(&city),
        [
            ("trust".to_owned(), "Trust and continue".to_owned()),
            ("hooks-review".to_owned(), "Trust all and continue".to_owned())
        ]
    );
    city.stop();
}

#[test]
fn gemini_starts_unattended_with_a_key_answers_trust_and_blocks_at_auth_without() {
    let Some(gemini) = agent_clis::find("gemini") else { return };
    let city = CliCity::new("gemini", &gemini).with_env("GEMINI_API_KEY", "standin-gemini-key");
    // Without the trust seed the trust dialog appears; gc answers it.
    city.edit(
        "providers/gemini.yaml",
        "      - file: .gemini/trustedFolders.json\n        merge:\n          \"{{ work_dir }}\": TRUST_FOLDER\n",
        "",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_phase(&city, "Running");
    assert_eq!(answered(&city), [("trust".to_owned(), "Trust folder".to_owned())]);
    city.stop();

    let Some(gemini) = agent_clis::find("gemini") else { return };
    let city = CliCity::new("gemini", &gemini);
    city.run(&["apply"]);
    city.run(&["start", "--no-wait"]);
    assert_blocked_at(&city, "Sign in with Google");
    city.stop();
}

#[test]
fn claude_trust_dialog_is_accepted_although_no_exit_is_preselected() {
    let Some(claude) = agent_clis::find("claude") else { return };
    let city = CliCity::new("claude", &claude)
        .with_env("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
        .with_env("ANTHROPIC_API_KEY", "sk-ant-api03-standin-0123456789abcdefghij");
    city.edit(
        "providers/claude.yaml",
        "          projects:\n            \"{{ work_dir }}\":\n              hasTrustDialogAccepted: true\n",
        "",
    );
    city.run(&["apply"]);
    city.run(&["start", "--timeout", "60s"]);
    wait_phase(&city, "Running");
    assert_eq!(answered(&city), [("trust".to_owned(), "Yes, I trust this folder".to_owned())]);
    assert!(city.city.events("session.crashed").is_empty(), "Enter on `No, exit` would exit");
    city.stop();
}
