//! The Provider catalog (`manifests/providers/`) read against real screens of the pinned CLIs
//! (`tests/fixtures/screens/`, captured from Claude Code 2.1.332, Codex 0.171.0 and Gemini
//! 0.61.0 in tmux): every declared dialog is recognised and answered by moving the cursor to
//! the wanted option first — never a blind Enter on a preselected "No, exit" — ready screens
//! read as ready, and the screens nothing declares (logins) read as unknown, so the session
//! ends up Blocked rather than answered wrongly.

use std::path::Path;

use gascity::agentcli::screen::{DialogStep, Key, ScreenRules, ScreenState, read};
use gascity::api::provider::ProviderSpec;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn provider(name: &str) -> ProviderSpec {
    let text =
        std::fs::read_to_string(root().join(format!("manifests/providers/{name}.yaml"))).unwrap();
    let doc: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    serde_json::from_value(doc["spec"].clone()).unwrap()
}

fn rules(spec: &ProviderSpec) -> ScreenRules {
    ScreenRules {
        ready_prefix: spec.ready_prompt_prefix.as_ref().map(|p| p.all()).unwrap_or_default(),
        busy_markers: spec.busy_markers.clone(),
        dialogs: spec.dialogs.clone(),
    }
}

fn screen(name: &str) -> String {
    std::fs::read_to_string(root().join(format!("tests/fixtures/screens/{name}.txt"))).unwrap()
}

fn dialog(state: ScreenState) -> (String, DialogStep) {
    match state {
        ScreenState::Dialog { name, step, .. } => (name, step),
        other => panic!("expected a dialog, read {other:?}"),
    }
}

#[test]
fn claude_dialogs_move_off_the_preselected_no_before_confirming() {
    let rules = rules(&provider("claude"));
    assert_eq!(
        dialog(read(&screen("claude-trust"), &rules)),
        ("trust".into(), DialogStep::Move(Key::Down, 1))
    );
    assert_eq!(
        dialog(read(&screen("claude-apikey"), &rules)),
        ("api-key".into(), DialogStep::Move(Key::Up, 1))
    );
    assert_eq!(
        dialog(read(&screen("claude-bypass"), &rules)),
        ("bypass-permissions".into(), DialogStep::Move(Key::Down, 1))
    );
    // After the move the cursor is on the option: then, and only then, Enter.
    let moved = screen("claude-trust")
        .replace("❯ No, exit", "  No, exit")
        .replace("  Yes, I trust this folder", "❯ Yes, I trust this folder");
    assert_eq!(dialog(read(&moved, &rules)).1, DialogStep::Confirm);
    assert_eq!(read(&screen("claude-ready"), &rules), ScreenState::Ready);
}

#[test]
fn codex_dialogs_are_answered_and_its_login_is_left_to_a_person() {
    let rules = rules(&provider("codex"));
    assert_eq!(dialog(read(&screen("codex-trust"), &rules)), ("trust".into(), DialogStep::Confirm));
    assert_eq!(
        dialog(read(&screen("codex-hooks-review"), &rules)),
        ("hooks-review".into(), DialogStep::Move(Key::Down, 1))
    );
    assert_eq!(read(&screen("codex-ready"), &rules), ScreenState::Ready);
    assert_eq!(read(&screen("codex-login"), &rules), ScreenState::Unknown);
}

#[test]
fn gemini_trust_is_answered_and_its_auth_choice_is_left_to_a_person() {
    let rules = rules(&provider("gemini"));
    assert_eq!(
        dialog(read(&screen("gemini-trust"), &rules)),
        ("trust".into(), DialogStep::Confirm)
    );
    assert_eq!(read(&screen("gemini-ready"), &rules), ScreenState::Ready);
    assert_eq!(read(&screen("gemini-auth"), &rules), ScreenState::Unknown);
    assert_eq!(read(&screen("gemini-auth-key"), &rules), ScreenState::Unknown);
}

#[test]
fn the_hook_inputs_the_clis_send_carry_the_conversation_id() {
    use gascity::agentcli::hooks::HookInput;
    for cli in ["claude", "codex", "gemini"] {
        let path = root().join(format!("tests/fixtures/screens/{cli}-sessionstart-stdin.json"));
        let input = HookInput::parse(&std::fs::read_to_string(path).unwrap());
        assert!(input.session_id.is_some(), "{cli}: {input:?}");
        assert_eq!(input.source.as_deref(), Some("startup"), "{cli}");
    }
}

#[test]
fn every_catalog_provider_validates_in_a_city() {
    for name in ["claude", "codex", "gemini"] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
            .args(["init", dir.path().to_str().unwrap(), "--provider", name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("gc"))
            .args(["validate"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stdout));
        let provider = std::fs::read_to_string(dir.path().join(format!("providers/{name}.yaml")));
        assert!(provider.is_ok(), "{name}: its Provider file is written");
        let city = std::fs::read_to_string(dir.path().join("city.yaml")).unwrap();
        assert!(city.contains(&format!("defaultProvider: {name}")), "{city}");
        assert!(!dir.path().join("scripts/sample-agent.sh").exists());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Any screen — menus, frames, cursors, no-break spaces, digits, stray bytes — is read
    /// without a panic, and gc only ever confirms a dialog whose cursor is on the wanted option.
    #[test]
    fn screens_never_panic_and_confirm_only_on_the_option(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("❯ ".to_owned()),
                proptest::strategy::Just("› ".to_owned()),
                proptest::strategy::Just("● ".to_owned()),
                proptest::strategy::Just("│ ".to_owned()),
                proptest::strategy::Just("\n".to_owned()),
                proptest::strategy::Just("❯\u{a0}".to_owned()),
                proptest::strategy::Just("Yes, I trust this folder".to_owned()),
                proptest::strategy::Just("Quick safety check".to_owned()),
                proptest::strategy::Just("esc to interrupt".to_owned()),
                proptest::strategy::Just("2. ".to_owned()),
                "[ -~é€ß\u{a0}]{0,12}",
            ],
            0..40,
        )
    ) {
        let screen: String = parts.concat();
        let rules = rules(&provider("claude"));
        if let ScreenState::Dialog { step: DialogStep::Confirm, .. } = read(&screen, &rules) {
            let on_option = screen.lines().any(|line| {
                // A terminal shows a no-break space as a space: indentation either way.
                let line = line.trim_start_matches(|c: char| c.is_whitespace() || c == '│');
                // Every glyph a CLI draws as its menu cursor, `>` included (a random case
                // found the oracle knew fewer than the reader).
                line.strip_prefix(['❯', '›', '●', '>', '▶', '►', '→'])
                    .is_some_and(|rest| rest.trim_start().trim_start_matches(|c: char| c.is_ascii_digit() || c == '.').trim_start().starts_with("Yes, I trust this folder"))
            });
            proptest::prop_assert!(on_option, "confirmed with the cursor elsewhere:\n{}", screen);
        }
        let _ = gascity::agentcli::screen::excerpt(&screen, 5);
        let _ = gascity::agentcli::hooks::HookInput::parse(&screen);
        let _ = gascity::work::query::parse(&screen);
    }
}
